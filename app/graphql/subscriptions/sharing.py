"""One answer per event for every subscriber who would get the same one.

The hub offers a live entry to every subscriber with one memo for that entry
(`EventQueue.shared`). A subscription's event executes its selection only if no
subscriber of the same *group* has done so for that entry: the group is the
document's text and operation, the variables, what the caller may see (role, how it
proved it, anonymous reading, its initiatives) and what of the event the answer shows
(its scope and ordinal, `ShareableEvent.share_part`). Whoever else is in the group
gets the same `ExecutionResult`, whose data is `SharedData`: encoded to JSON once
(app/http/router.py `encode_json`), so every subscriber of a group is sent the same
bytes but for its operation's id.

It fails closed: a document without its source, variables of a kind not listed in
`_frozen`, a refused operation, a caller without a principal, an answer with errors,
an event from the log (catching up): each executes its own, as before.

Over graphql-transport-ws a `changes` subscription goes further (`DirectQueue`): once
live, its events are not passed through its own async generator and strawberry's
per-operation machinery at all. The hub offers an entry once to the group (`Group`),
which stands among the hub's live subscribers for all its live members; its one
worker executes the selection once, encodes the `next` message once per operation
id, and writes it to each member's connection: as one WebSocket frame, the same bytes
for every member of that id, straight to the socket where the transport allows it
(`Transport.raw_socket`: uvicorn's protocol, no compression, the socket taking
writes), else through the ASGI send. Entries that waited together are written to a
member together, in one write. The rule of order is one: a member's event goes
straight out only when nothing of that member's is waiting or being sent; otherwise
it waits in the member's own buffer (`capacity` events, then SUBSCRIPTION_OVERFLOW),
which its generator sends as before. An answer that cannot be shared (errors, a
failure) goes that way too: each member executes its own, and each sees its own
errors.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from contextvars import ContextVar
from enum import Enum
from typing import Any, NamedTuple, Protocol

from graphql import ExecutionResult

from app.events.hub import Entry, EventHub, EventQueue, Numbered, Overflow, Subscriber
from app.events.scopes import Scope

Memo = dict[Hashable, Any]


class ShareableEvent(Protocol):
    """A subscription's event that may share its answer: its entry's memo (None: do
    not share) and what of the event, beyond the caller, its answer depends on."""

    _shared: Memo | None

    def share_part(self) -> Hashable: ...


class SharedData(dict[str, Any]):
    """An event's `data`, shared by a group of subscribers: encoded once."""

    __slots__ = ("_encoded",)

    def encoded(self, encode: Callable[[object], str]) -> str:
        try:
            return self._encoded
        except AttributeError:
            self._encoded: str = encode(dict(self))
            return self._encoded


_SCALARS = (str, int, float, bool, type(None))


def _frozen(value: Any) -> Hashable:
    """A variable's value as a key; TypeError for a kind not listed (not shared)."""
    if isinstance(value, _SCALARS):
        # True == 1 and 1.0 == 1 as keys: keep the type beside the value.
        return (type(value).__name__, value)
    if isinstance(value, Enum):
        return ("enum", type(value).__qualname__, _frozen(value.value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_frozen(v) for v in value))
    raise TypeError(f"not a key: {type(value).__name__}")


def group_of(operation: Any, variables: dict[str, Any] | None, context: Any) -> Hashable | None:
    """The group of a subscription (its operation, variables and caller), or None when
    it must not share with anyone."""
    location = getattr(operation, "loc", None)
    source = getattr(location, "source", None)
    principal = getattr(context, "principal", None)
    if (
        location is None
        or source is None
        or principal is None
        or getattr(context, "refusal", None) is not None
    ):
        return None
    try:
        frozen_variables = _frozen(dict(variables or {}))
    except TypeError:
        return None
    scope = principal.initiative_ids
    caller = (
        principal.role,
        principal.via,
        principal.anonymous_read,
        None if scope is None else tuple(sorted(scope)),
    )
    return (source.body, location.start, frozen_variables, caller)


def answer_once(memo: Memo, key: Hashable, execute: Callable[[], Any]) -> Any:
    """The group's answer to this event: executed by the first subscriber of `key`,
    the same object for the others. An answer with errors is not shared."""
    if key in memo:
        kept = memo[key]
        if not isinstance(kept, asyncio.Future):
            return kept
        return _awaited(memo, key, kept, execute)
    result = execute()
    if isinstance(result, ExecutionResult):
        return _kept(memo, key, result)
    pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    memo[key] = pending
    return _executed(memo, key, pending, result)


def _kept(memo: Memo, key: Hashable, result: ExecutionResult) -> ExecutionResult:
    if result.errors or not isinstance(result.data, dict):
        memo.pop(key, None)
        return result
    shared = ExecutionResult(SharedData(result.data), None, result.extensions)
    memo[key] = shared
    return shared


async def _executed(memo: Memo, key: Hashable, pending: asyncio.Future[Any], result: Any) -> Any:
    try:
        answer = _kept(memo, key, await result)
    except BaseException:
        memo.pop(key, None)
        pending.set_result(None)
        raise
    pending.set_result(memo.get(key))
    return answer


async def _awaited(
    memo: Memo, key: Hashable, pending: asyncio.Future[Any], execute: Callable[[], Any]
) -> Any:
    shared = await asyncio.shield(pending)
    if shared is not None:
        return shared
    # The first one's answer had errors (or it failed): this one executes its own.
    result = execute()
    return await result if not isinstance(result, ExecutionResult) else result


# --- Writing a group's answer straight to its members' sockets --------------------


class RawSocket(Protocol):
    """A connection that frames may be written to below ASGI (app/http/sockets.py)."""

    def ready(self) -> bool:
        """Whether a frame written now goes out as the server would send it."""
        ...

    def gone(self) -> bool:
        """Whether the connection is closing or closed."""
        ...

    def write(self, frame: bytes) -> None: ...


class Transport(Protocol):
    """A graphql-transport-ws connection, as the direct path writes to it
    (app/http/router.py TransportHandler)."""

    send_timeout: float

    def is_open(self, operation: Any) -> bool:
        """Whether `operation` still runs (not completed by either side)."""
        ...

    def send_text(self, text: str) -> Coroutine[Any, Any, None]: ...

    def raw_socket(self) -> RawSocket | None:
        """The connection, when frames may be written to it below ASGI."""
        ...

    def framed(self, text: str) -> bytes:
        """`text` as the WebSocket frame the server sends for it."""
        ...

    def encode(self, data: object) -> str: ...

    def too_slow(self) -> None:
        """Close the connection: it has not taken a message within `send_timeout`."""
        ...

    def resume(self, operation: Any, at: Resume) -> None:
        """Run `operation` again, its subscription starting `at` (a parked subscription
        that needs its generator: `DirectQueue.revive`)."""
        ...


class Outlet:
    """One graphql-transport-ws operation's way to its client: set for the operation's
    task by the transport (`OUTLET`); `executor` by the subscription's executor.
    `parks`: whether its subscription may go on without its task once live (`Parked`),
    and `parked` its record once it does; `resume`: where a parked subscription's new
    run starts (`Resume`)."""

    __slots__ = ("executor", "operation", "parked", "parks", "resume", "socket", "transport")

    def __init__(
        self,
        operation: Any,
        transport: Transport,
        resume: Resume | None = None,
        parks: bool = False,
    ) -> None:
        self.operation = operation
        self.transport = transport
        self.socket = transport.raw_socket()
        self.executor: Any = None
        self.resume = resume
        self.parks = parks
        self.parked: DirectQueue | None = None


class Parked(asyncio.CancelledError):
    """Raised in a live member's generator when it parks (`DirectQueue.next`): the
    operation's task ends as a cancellation ends it, through every layer of the
    generator's chain (strawberry's, graphql-core's, the extensions' hooks), and the
    transport keeps the record (`Outlet.parked`) in the operation's place
    (app/http/router.py `TransportHandler.run_operation`)."""


class HeldPlace:
    """A revived subscription's place in its hub (`EventHub.subscription`), held for
    its new run from the moment its record lets go of it: the run takes it over
    (`take`), or it is given back once the run has ended without (`give_back`), so a
    subscription admitted once is never refused BUSY for running again."""

    __slots__ = ("hub",)

    def __init__(self, hub: EventHub) -> None:
        self.hub: EventHub | None = hub

    def take(self, hub: EventHub) -> bool:
        """Whether this is `hub`'s place, now taken over by the caller."""
        if self.hub is not hub:
            return False
        self.hub = None
        return True

    def give_back(self) -> None:
        if self.hub is not None:
            self.hub.give_back()
            self.hub = None


class Resume(NamedTuple):
    """Where a parked subscription run again (`DirectQueue.revive`) starts: after the
    last event it was sent (its sequence in the log, its ordinal in the subscriber's
    scope); `error`: what it ends with at once, if anything; `principal`: who its
    credential proved while it ran, whom the new run's must prove again (or it ends
    UNAUTHENTICATED, as a changed credential ends a running one); `place`: its place in
    the hub, kept for the new run."""

    sequence: int
    ordinal: int
    error: Exception | None = None
    principal: Any = None
    place: HeldPlace | None = None


def resume_point() -> Resume | None:
    """Where this operation's subscription starts when it is a parked subscription run
    again; None for a new one."""
    outlet = OUTLET.get()
    return outlet.resume if outlet is not None else None


OUTLET: ContextVar[Outlet | None] = ContextVar("subscription_outlet", default=None)


class _Batch:
    """One entry and the members it was offered to, in the order offered."""

    __slots__ = ("entry", "frames", "members", "ordinal", "raw")

    def __init__(self, entry: Entry, ordinal: int, members: list[DirectQueue]) -> None:
        self.entry = entry
        self.ordinal = ordinal
        self.members = members
        # The `next` message, per operation id (most clients use the same few), as
        # text and as the WebSocket frame that carries it.
        self.frames: dict[str, str] = {}
        self.raw: dict[str, bytes] = {}

    def frame(self, transport: Transport, operation_id: str, data: str) -> str:
        try:
            return self.frames[operation_id]
        except KeyError:
            text = (
                f'{{"id":{transport.encode(operation_id)},"type":"next",'
                f'"payload":{{"data":{data}}}}}'
            )
            self.frames[operation_id] = text
            return text

    def raw_frame(self, transport: Transport, operation_id: str, data: str) -> bytes:
        try:
            return self.raw[operation_id]
        except KeyError:
            text = self.frame(transport, operation_id, data)
            frame = self.raw[operation_id] = transport.framed(text)
            return frame


class Group(Numbered):
    """The direct members of one group in one hub, offered each entry as one: the hub
    offers an entry to the group, not to each member (they share its filter, scope and
    position, so they would all take it alike). One worker answers each entry once, in
    order, and hands the encoded answer to every member that was live when it was
    offered; entries that wait together go out together, one write per member."""

    def __init__(
        self,
        key: Hashable,
        hub: EventHub,
        accept: Callable[[Entry], bool],
        capacity: int,
        scope: Scope,
        event: Callable[[Entry, int], Any],
    ) -> None:
        super().__init__(accept, capacity, scope)
        self.key = key
        self.hub = hub
        self.registry = hub.groups
        self.members = 0
        # How an entry becomes the subscription's event, and the subscription executor
        # that answers it when no live member has its own (a parked member keeps none):
        # the first member's. Every member of the group would get the same answer from
        # its own (that is what a group is), so the first one's serves for all, for as
        # long as the group lives, also once that member has ended.
        self.event = event
        self.executor: Any = None
        # The members offered each entry (insertion-ordered, for a quick copy), and
        # those of them with events in their own buffer.
        self.live: dict[DirectQueue, None] = {}
        self.buffered: set[DirectQueue] = set()
        self.pending: deque[_Batch] = deque()
        self._worker: asyncio.Task[None] | None = None

    # -- among the hub's live subscribers

    def join(self, member: DirectQueue, live: set[Subscriber]) -> None:
        # A member joins at the hub's position, the group's too while it has live
        # members (it is offered every entry): from there on they take every entry alike.
        if not self.live:
            self.position = member.position
            self.ordinal = member.ordinal
        if self.executor is None:
            self.executor = member.outlet.executor
        self.live[member] = None
        live.add(self)

    def part(self, member: DirectQueue, live: set[Subscriber]) -> None:
        self.live.pop(member, None)
        self.buffered.discard(member)
        if not self.live:
            live.discard(self)

    def subscriptions(self) -> int:
        return len(self.live)

    def offer(self, entry: Entry, shared: dict[Any, Any] | None = None) -> bool:
        if not self.takes(entry):
            return True
        # A member's backlog is the group's entries not yet answered and its own buffer;
        # past `capacity` it ends (SUBSCRIPTION_OVERFLOW) rather than miss any.
        waiting = len(self.pending)
        over = (
            list(self.live)
            if waiting >= self.capacity
            else [m for m in self.buffered if waiting + len(m._entries) >= self.capacity]
        )
        for member in over:
            self.part(member, set())
            member.overflow()
        if not self.live:
            return False
        self.pending.append(_Batch(entry, self.ordinal, list(self.live)))
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="subscriptions-group")
        return True

    def closed(self) -> None:
        """A member's subscription has ended."""
        self.members -= 1
        if self.members <= 0 and self.registry.get(self.key) is self:
            del self.registry[self.key]

    # -- answering and writing

    async def _run(self) -> None:
        try:
            while self.pending:
                batches = list(self.pending)
                answers = [(batch, await self._answer(batch)) for batch in batches]
                for _ in batches:
                    self.pending.popleft()
                members = batches[0].members
                if all(batch.members == members for batch in batches[1:]):
                    # The usual case: one write per member for all of them.
                    shared = all(data is not None for _, data in answers)
                    joined: dict[str, bytes] | None = {} if shared else None
                    for member in members:
                        member.deliver(answers, joined)
                else:  # members joined or left meanwhile: entry by entry
                    for answer in answers:
                        one: dict[str, bytes] | None = {} if answer[1] is not None else None
                        for member in answer[0].members:
                            member.deliver([answer], one)
        finally:
            self._worker = None
            if self.pending:  # cancelled: what is left goes through each member's own
                for batch in self.pending:
                    for member in batch.members:
                        member.deliver([(batch, None)], None)
                self.pending.clear()

    async def _answer(self, batch: _Batch) -> str | None:
        """The entry's answer, encoded; None when it may not be shared."""
        member = next((m for m in batch.members if m.error is None), None)
        if member is None:
            return None
        subscription = member.outlet.executor or self.executor
        try:
            executor = subscription.build_per_event_executor(self.event(batch.entry, batch.ordinal))
            result = executor.execute_operation(False)
            if executor.is_awaitable(result):
                result = await result
        except Exception:  # each executes its own, and reports its own error
            return None
        if (
            not isinstance(result, ExecutionResult)
            or result.errors
            or result.extensions
            or not isinstance(result.data, dict)
        ):
            return None
        return member.outlet.transport.encode(result.data)


class DirectQueue(EventQueue):
    """A live `changes` subscriber whose events are written by its group (`Group`),
    falling back to its own buffer and generator whenever order asks for it.

    Once live with nothing of its own waiting, a member whose events can be written
    straight to its socket *parks* (`next`): its generator and the operation's task end
    (`Parked`), and what is left of the subscription is this record, among its group's
    live members and holding its place in the hub, until the client completes the
    operation or the connection ends (`finish`). All that it keeps is here and in its
    `Outlet`. Whenever it would need its generator — its socket not taking writes, an
    answer the group cannot share — it *revives* (`revive`): it leaves the hub, and its
    operation runs again from the last event it was sent, reading what it missed from
    the log like any subscription resumed from a cursor, then live again: every event
    once and in order, as the log has them. Ended while parked (more than its buffer
    behind: SUBSCRIPTION_OVERFLOW; its credential no longer valid), it runs again only
    to end with that, as its generator would have."""

    __slots__ = ("_in_hand", "_sending", "_timer", "group", "outlet", "parked", "principal")

    def __init__(
        self,
        accept: Callable[[Entry], bool],
        capacity: int,
        scope: Scope,
        outlet: Outlet,
        group: Group,
    ) -> None:
        super().__init__(accept, capacity, scope)
        self.outlet = outlet
        self.group = group
        group.members += 1
        # An event taken by the generator and not yet sent (it asks for the next
        # once the previous one is out); a direct write waiting for the socket.
        self._in_hand = False
        self._sending = False
        self._timer: asyncio.TimerHandle | None = None
        self.parked = False
        # Who its credential must go on proving, when it has one (`watched`): re-checked
        # by a task while it runs, by its connection once parked.
        self.principal: Any = None

    # Live, it is offered entries through its group.

    def go_live(self, live: set[Subscriber]) -> None:
        self.group.join(self, live)

    def leave(self, live: set[Subscriber]) -> None:
        self.group.part(self, live)

    def close(self) -> None:
        if not self.parked:  # else when it ends (`finish`)
            self.group.closed()

    def overflow(self) -> None:
        self._entries = ()
        self.end(Overflow())  # parked, it ends with it when it runs again

    def watched(self, principal: Any) -> None:
        self.principal = principal

    def end(self, error: Exception) -> None:
        if self.parked:  # its generator raises it when it runs again
            self.revive(error)
            return
        super().end(error)

    async def next(self) -> tuple[Entry, int]:
        self._in_hand = False
        while not self._entries or self._sending:
            self.check()
            if not (self._entries or self._sending) and self._may_park():
                self.parked = True
                # What the group shares serves it: its executor and its event's parts.
                self.outlet.executor = None
                self.accept = self.group.accept
                self.scope = self.group.scope
                self.outlet.parked = self
                raise Parked
            self._ready.clear()
            await self._ready.wait()
        self.check()
        self._in_hand = True
        entry, ordinal, self.shared = self.take()
        if not self._entries:
            self.group.buffered.discard(self)
        return entry, ordinal

    def _may_park(self) -> bool:
        outlet = self.outlet
        return (
            outlet.parks
            and outlet.socket is not None
            and self in self.group.live
            and self.group.executor is not None
        )

    def finish(self, *, keep_place: bool = False) -> None:
        """The end of a parked subscription: the client completed it, the connection
        ended, or it runs again (`revive`, which keeps its place in the hub for the new
        run). Whatever the group still hands it is dropped."""
        if not self.parked:
            return
        self.parked = False
        self.outlet.parked = None
        self.error = _FINISHED
        self.group.hub.release(self, keep_place=keep_place)
        self.group.closed()

    def revive(self, error: Exception | None = None) -> None:
        """Run the parked subscription again from the last event it was sent; with
        `error`, to end with it (as its generator would have raised it)."""
        if not self.parked:
            return
        outlet = self.outlet
        socket = outlet.socket
        again = outlet.transport.is_open(outlet.operation) and not (socket is None or socket.gone())
        self.finish(keep_place=again)
        if again:
            place = HeldPlace(self.group.hub)
            at = Resume(self.delivered_at, self.delivered, error, self.principal, place)
            outlet.transport.resume(outlet.operation, at)

    def deliver(
        self, answers: list[tuple[_Batch, str | None]], joined: dict[str, bytes] | None
    ) -> None:
        """Send the group's answers to these entries, in order (None: this member's
        own). `joined`: the frames of all of them, by operation id, when every one has
        the group's answer (filled by the first member of an id that writes them)."""
        transport = self.outlet.transport
        if self.error is not None or not transport.is_open(self.outlet.operation):
            return
        socket = self.outlet.socket
        if (
            joined is not None
            and socket is not None
            and not (self._entries or self._in_hand or self._sending)
            and socket.ready()
        ):
            # What uvicorn would write, the same bytes for every member of an operation
            # id (app/http/sockets.py).
            operation_id = self.outlet.operation.id
            frames = joined.get(operation_id)
            if frames is None:
                frames = joined[operation_id] = b"".join(
                    batch.raw_frame(transport, operation_id, data)
                    for batch, data in answers
                    if data is not None
                )
            socket.write(frames)
            last = answers[-1][0]
            self.delivered, self.delivered_at = last.ordinal, last.entry.sequence
            return
        if self.parked:
            self.revive()
            return
        for batch, data in answers:
            self._deliver(batch, data)

    def _deliver(self, batch: _Batch, data: str | None) -> None:
        if self.error is not None:
            return
        if data is None or self._entries or self._in_hand or self._sending:
            if len(self._entries) >= self.capacity:
                self.group.buffered.discard(self)
                self.overflow()
                return
            self.buffer().append((batch.entry, batch.ordinal, None))
            self.group.buffered.add(self)
            if not self._sending:
                self._ready.set()
            return
        self.delivered, self.delivered_at = batch.ordinal, batch.entry.sequence
        transport = self.outlet.transport
        frame = batch.frame(transport, self.outlet.operation.id, data)
        self._step(transport.send_text(frame))

    def _step(self, send: Coroutine[Any, Any, None]) -> None:
        # The ASGI send returns without waiting unless the socket's buffer is full:
        # it is run here, not in a task; when it must wait, it is resumed when what
        # it waits for is done, and this member's next events wait in its buffer.
        try:
            waiting = send.send(None)
        except StopIteration:
            self._sent()
            return
        except Exception as exc:  # the connection is gone
            self._sent()
            self.end(exc)
            return
        loop = asyncio.get_running_loop()
        if not self._sending:
            self._sending = True
            self._timer = loop.call_later(
                self.outlet.transport.send_timeout, self.outlet.transport.too_slow
            )
        if isinstance(waiting, asyncio.Future):
            waiting._asyncio_future_blocking = False
            waiting.add_done_callback(lambda _: self._step(send))
        else:  # a bare yield: go on at the next turn
            loop.call_soon(self._step, send)

    def _sent(self) -> None:
        if self._sending:
            self._sending = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._entries:
                self._ready.set()


# The end of a parked subscription: what its group still hands it is dropped.
_FINISHED = Exception("the subscription has ended")


def direct_queue(
    hub: EventHub,
    accept: Callable[[Entry], bool],
    capacity: int,
    scope: Scope,
    event: Callable[[Entry, int], Any],
) -> EventQueue:
    """The subscriber of a `changes` subscription: direct when it runs over
    graphql-transport-ws and its group may share (`group_of`), else its own queue."""
    outlet = OUTLET.get()
    executor = outlet.executor if outlet is not None else None
    group_key = executor._group() if executor is not None else None
    if outlet is None or group_key is None:
        return EventQueue(accept, capacity, scope)
    registry = hub.groups
    group = registry.get(group_key)
    if group is None:
        group = registry[group_key] = Group(group_key, hub, accept, capacity, scope, event)
    return DirectQueue(accept, capacity, scope, outlet, group)

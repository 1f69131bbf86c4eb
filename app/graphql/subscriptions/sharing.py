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
per-operation machinery at all. The hub offers an entry to the group (`Group`), whose
one worker executes the selection once, encodes the `next` message once per
operation id, and writes it to each member's socket through the ASGI send (so the
server's WebSocket framing, compression included, is the one every message gets).
The rule of order is one: a member's event goes straight out only when nothing of
that member's is waiting or being sent; otherwise it waits in the member's own
buffer (`capacity` events, then SUBSCRIPTION_OVERFLOW), which its generator sends
as before. An answer that cannot be shared (errors, a failure) goes that way too:
each member executes its own, and each sees its own errors.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from contextvars import ContextVar
from enum import Enum
from typing import Any, Protocol

from graphql import ExecutionResult

from app.events.hub import Entry, EventQueue, Overflow
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


class Transport(Protocol):
    """A graphql-transport-ws connection, as the direct path writes to it
    (app/http/router.py TransportHandler)."""

    send_timeout: float

    def is_open(self, operation: Any) -> bool:
        """Whether `operation` still runs (not completed by either side)."""
        ...

    def send_text(self, text: str) -> Coroutine[Any, Any, None]: ...

    def encode(self, data: object) -> str: ...

    def too_slow(self) -> None:
        """Close the connection: it has not taken a message within `send_timeout`."""
        ...


class Outlet:
    """One graphql-transport-ws operation's way to its client: set for the operation's
    task by the transport (`OUTLET`); `executor` by the subscription's executor."""

    __slots__ = ("executor", "operation", "transport")

    def __init__(self, operation: Any, transport: Transport) -> None:
        self.operation = operation
        self.transport = transport
        self.executor: Any = None


OUTLET: ContextVar[Outlet | None] = ContextVar("subscription_outlet", default=None)


class _Batch:
    """One entry and the members it was offered to, in the order offered."""

    __slots__ = ("entry", "frames", "members", "ordinal")

    def __init__(self, entry: Entry, ordinal: int) -> None:
        self.entry = entry
        self.ordinal = ordinal
        self.members: list[DirectQueue] = []
        # The `next` message, per operation id (most clients use the same few).
        self.frames: dict[str, str] = {}

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


class Group:
    """The direct members of one group in one hub: one worker answers each entry once,
    in order, and hands the encoded answer to every member it was offered to."""

    def __init__(self, key: Hashable, registry: dict[Hashable, Any]) -> None:
        self.key = key
        self.registry = registry
        self.members = 0
        self.pending: deque[_Batch] = deque()
        self._worker: asyncio.Task[None] | None = None

    def take(self, entry: Entry, ordinal: int, member: DirectQueue) -> None:
        # The hub offers one entry to all its subscribers without an await between:
        # the members of the last batch of that entry are this entry's.
        batch = self.pending[-1] if self.pending else None
        if batch is None or batch.entry is not entry:
            batch = _Batch(entry, ordinal)
            self.pending.append(batch)
        batch.members.append(member)
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="subscriptions-group")

    def leave(self) -> None:
        self.members -= 1
        if self.members <= 0 and self.registry.get(self.key) is self:
            del self.registry[self.key]

    async def _run(self) -> None:
        try:
            while self.pending:
                batch = self.pending[0]
                data = await self._answer(batch)
                self.pending.popleft()
                for member in batch.members:
                    member.deliver(batch, data)
        finally:
            self._worker = None
            if self.pending:  # cancelled: what is left goes through each member's own
                for batch in self.pending:
                    for member in batch.members:
                        member.deliver(batch, None)
                self.pending.clear()

    async def _answer(self, batch: _Batch) -> str | None:
        """The entry's answer, encoded; None when it may not be shared."""
        member = next((m for m in batch.members if m.error is None), None)
        if member is None:
            return None
        try:
            executor = member.outlet.executor.build_per_event_executor(
                member.event(batch.entry, batch.ordinal)
            )
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
    falling back to its own buffer and generator whenever order asks for it."""

    def __init__(
        self,
        accept: Callable[[Entry], bool],
        capacity: int,
        scope: Scope,
        outlet: Outlet,
        group: Group,
        event: Callable[[Entry, int], Any],
    ) -> None:
        super().__init__(accept, capacity, scope)
        self.outlet = outlet
        self.group = group
        self.event = event
        group.members += 1
        # An event taken by the generator and not yet sent (it asks for the next
        # once the previous one is out); a direct write waiting for the socket.
        self._in_hand = False
        self._sending = False
        self._timer: asyncio.TimerHandle | None = None

    def backlog(self) -> int:
        return len(self._entries) + len(self.group.pending)

    def keep(self, entry: Entry, ordinal: int, shared: dict[Any, Any] | None) -> None:
        self.group.take(entry, ordinal, self)

    def close(self) -> None:
        self.group.leave()

    async def next(self) -> tuple[Entry, int]:
        self._in_hand = False
        while not self._entries or self._sending:
            self.check()
            self._ready.clear()
            await self._ready.wait()
        self.check()
        self._in_hand = True
        entry, ordinal, self.shared = self._entries.popleft()
        return entry, ordinal

    def deliver(self, batch: _Batch, data: str | None) -> None:
        """Send the group's answer to `batch`'s entry (None: this member's own)."""
        transport = self.outlet.transport
        if self.error is not None or not transport.is_open(self.outlet.operation):
            return
        if data is None or self._entries or self._in_hand or self._sending:
            if len(self._entries) >= self.capacity:
                self._entries.clear()
                self.end(Overflow())
                return
            self._entries.append((batch.entry, batch.ordinal, None))
            if not self._sending:
                self._ready.set()
            return
        self.delivered = batch.ordinal
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


def direct_queue(
    registry: dict[Hashable, Any],
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
    group = registry.get(group_key)
    if group is None:
        group = registry[group_key] = Group(group_key, registry)
    return DirectQueue(accept, capacity, scope, outlet, group, event)

"""One hub per process: reads each new trail entry once and hands it to subscribers.

The hub keeps `high_water`, the last sequence it has handed out. Woken by a broker's
news, a local commit or its poll, it reads the entries past `high_water` in order
and offers each to every live subscriber, updating `high_water` as it goes (offering
one entry and moving past it happen without an await in between, so a subscriber
that joins at `high_water` misses nothing and sees nothing twice).

A subscription starts by catching up from the log itself (`follow`): it reads the
entries past its cursor up to the hub's `high_water`, then joins the hub when it has
reached it. Catching up reads at the pace the client takes them; once live, a
subscriber has a bounded buffer, and a full buffer ends the subscription with
`Overflow` instead of dropping anything: the client resumes from its last cursor.
Each entry it receives comes with its ordinal in the subscriber's scope (`scopes.py`):
its sequence, or a partner's own count, kept the same way from the log and live.

Every live subscriber offered one entry is handed the same memo with it (`shared`,
a dict): what they make of the entry, they can make once and share
(app/graphql/subscriptions/sharing.py). An entry read while catching up has none.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from app.audit import repository, signals
from app.audit.repository import EntryFilter
from app.config import Settings
from app.db.session import SessionFactory
from app.errors import DomainError, ErrorCode
from app.events.brokers import Broker, broker_for
from app.events.scopes import WHOLE_LOG, Scope
from app.kit.flag import Signal

_log = logging.getLogger(__name__)

# Entries read per statement, by the hub and by a subscription catching up.
PAGE = 500
# How long a new subscription waits for a hub that has not reached the database yet.
READY_WAIT_SECONDS = 5.0
# Pump failures back off from the first to the last, doubling.
RETRY_FIRST_SECONDS = 0.2
RETRY_LAST_SECONDS = 5.0

Entry = Any  # a Core row of `changes` (app/audit/repository.py)
# An entry waiting in a subscriber's buffer: with its ordinal and its live memo.
Waiting = tuple[Entry, int, dict[Any, Any] | None]


@dataclass(frozen=True)
class EventFilter:
    """Which entries a subscriber receives; None: any. The same rule, in SQL for
    catching up (`where`) and in memory for live entries (`matches`)."""

    entity_types: frozenset[str] | None = None
    operations: frozenset[str] | None = None
    initiative_ids: frozenset[int] | None = None

    def matches(self, entry: Entry) -> bool:
        return (
            (self.entity_types is None or entry.entity_type in self.entity_types)
            and (self.operations is None or entry.operation in self.operations)
            and (self.initiative_ids is None or entry.initiative_id in self.initiative_ids)
        )

    @property
    def where(self) -> EntryFilter:
        def listed(values: frozenset[Any] | None) -> tuple[Any, ...] | None:
            return tuple(sorted(values)) if values is not None else None

        return EntryFilter(
            entity_types=listed(self.entity_types),
            operations=listed(self.operations),
            initiative_ids=listed(self.initiative_ids),
        )


class Overflow(Exception):
    """A live subscriber's buffer was full: it missed entries, so it must end."""


class Subscriber:
    """A subscription's place in the hub. `offer` is called by the hub, in order.
    Slotted, as every subclass kept per subscriber: thousands of them are kept for as
    long as their subscriptions run."""

    __slots__ = ("_ready", "accept", "error", "position")

    def __init__(self, accept: Callable[[Entry], bool]) -> None:
        self.accept = accept
        # Entries up to here were delivered (or passed over) already.
        self.position = 0
        # Set by `end`: the subscription stops with it at its next step.
        self.error: Exception | None = None
        self._ready = Signal()

    # Whether the subscription runs on without its generator (a parked member of a
    # group, app/graphql/subscriptions/sharing.py `DirectQueue`): its place in the hub
    # is kept when the generator's task ends, until the subscription itself ends.
    parked = False

    def watched(self, principal: Any) -> None:
        """A task re-checks meanwhile that the subscription's credential still proves
        `principal` (app/graphql/subscriptions/live.py)."""

    def offer(self, entry: Entry, shared: dict[Any, Any] | None = None) -> bool:
        """Take `entry` (with the memo its live subscribers share); False when this
        subscriber can take no more (it is dropped)."""
        raise NotImplementedError

    # How a subscriber is among the hub's live ones: by default itself; one that shares
    # its entries with others may be offered them through a stand-in for all of them
    # (app/graphql/subscriptions/sharing.py `Group`).

    def go_live(self, live: set[Subscriber]) -> None:
        live.add(self)

    def leave(self, live: set[Subscriber]) -> None:
        live.discard(self)

    def subscriptions(self) -> int:
        """How many subscriptions this place among the live ones stands for."""
        return 1

    def end(self, error: Exception) -> None:
        """Stop the subscription with `error` (e.g. its credential was revoked)."""
        self.error = error
        self._ready.set()

    def check(self) -> None:
        if self.error is not None:
            raise self.error


class Numbered(Subscriber):
    """A subscriber that takes matching entries with their ordinal in `scope`, at most
    `capacity` waiting."""

    __slots__ = ("capacity", "ordinal", "scope")

    def __init__(self, accept: Callable[[Entry], bool], capacity: int, scope: Scope) -> None:
        super().__init__(accept)
        self.capacity = capacity
        self.scope = scope
        # The ordinal at `position` (set with it when the subscriber joins).
        self.ordinal = 0

    def takes(self, entry: Entry) -> bool:
        """Whether `entry` is one to deliver: past `position`, which moves on to it
        (and the ordinal with it) whether it is or not, and accepted."""
        if entry.sequence <= self.position:
            return False
        self.position = entry.sequence
        self.ordinal = self.scope.advance(self.ordinal, entry)
        return self.accept(entry)


class EventQueue(Numbered):
    """Every matching entry, in order, with its ordinal in `scope`, through a buffer
    of `capacity` entries."""

    __slots__ = ("_entries", "delivered", "delivered_at", "shared")

    def __init__(
        self, accept: Callable[[Entry], bool], capacity: int, scope: Scope = WHOLE_LOG
    ) -> None:
        super().__init__(accept, capacity, scope)
        # Entries taken and not yet sent: no deque (~700 bytes empty) while none wait,
        # which is most of a live subscriber's life.
        self._entries: deque[Waiting] | tuple[()] = ()
        # The memo of the entry `next` returned last, shared with the other live
        # subscribers it was offered to; None for an entry read from the log.
        self.shared: dict[Any, Any] | None = None
        # The ordinal of the last event sent to the client (where it resumes from), and
        # its sequence in the log.
        self.delivered = 0
        self.delivered_at = 0

    def offer(self, entry: Entry, shared: dict[Any, Any] | None = None) -> bool:
        if not self.takes(entry):
            return True
        if self.backlog() >= self.capacity:
            # Never delivered: the client reads them again when it resumes.
            self._entries = ()
            self.end(Overflow())
            return False
        self.keep(entry, self.ordinal, shared)
        return True

    def backlog(self) -> int:
        """Events taken and not yet sent."""
        return len(self._entries)

    def keep(self, entry: Entry, ordinal: int, shared: dict[Any, Any] | None) -> None:
        self.buffer().append((entry, ordinal, shared))
        self._ready.set()

    def buffer(self) -> deque[Waiting]:
        """The entries waiting, made when the first one comes."""
        entries = self._entries
        if isinstance(entries, deque):
            return entries
        made: deque[Waiting] = deque()
        self._entries = made
        return made

    def take(self) -> Waiting:
        """The first entry waiting (there is one); the deque is let go with the last."""
        entries = self._entries
        assert isinstance(entries, deque)
        first = entries.popleft()
        if not entries:
            self._entries = ()
        return first

    def close(self) -> None:
        """The subscription has ended."""

    async def next(self) -> tuple[Entry, int]:
        while not self._entries:
            self.check()
            self._ready.clear()
            await self._ready.wait()
        self.check()
        entry, ordinal, self.shared = self.take()
        return entry, ordinal


class ChangeFlag(Subscriber):
    """Only whether anything matching happened since `clear` (for live reports)."""

    __slots__ = ()

    def offer(self, entry: Entry, shared: dict[Any, Any] | None = None) -> bool:
        if entry.sequence > self.position and self.accept(entry):
            self._ready.set()
        return True

    async def wait(self) -> None:
        await self._ready.wait()
        self.check()

    def clear(self) -> None:
        self._ready.clear()


async def last_sequence(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return await repository.last_sequence(session)


class EventHub:
    def __init__(
        self, sessions: SessionFactory, settings: Settings, broker: Broker | None = None
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.broker = broker or broker_for(settings)
        self.high_water: int | None = None
        self._live: set[Subscriber] = set()
        # What the subscribers of one group keep across entries, by the group's key
        # (app/graphql/subscriptions/sharing.py).
        self.groups: dict[Any, Any] = {}
        self._open = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._publishing: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._wake.set()  # find the log's end at once
        self._tasks = [
            asyncio.create_task(self._pump_loop(), name="events-pump"),
            asyncio.create_task(self.broker.run(self._news), name="events-broker"),
            asyncio.create_task(self._poll_loop(), name="events-poll"),
        ]
        signals.listen(self._committed_here)

    async def close(self) -> None:
        signals.unlisten(self._committed_here)
        for task in (*self._tasks, *self._publishing):
            task.cancel()
        for task in (*self._tasks, *self._publishing):
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.broker.close()

    @property
    def open_subscriptions(self) -> int:
        return self._open

    @property
    def live_subscribers(self) -> int:
        """How many subscribers are offered each new entry (caught up and joined)."""
        return sum(subscriber.subscriptions() for subscriber in self._live)

    # -- news -----------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def _news(self, sequence: int | None) -> None:
        if sequence is None or self.high_water is None or sequence > self.high_water:
            self._wake.set()

    def _committed_here(self, sequence: int) -> None:
        # Called inside SQLAlchemy's after-commit event, possibly on another loop.
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._announce, sequence)

    def _announce(self, sequence: int) -> None:
        self._wake.set()
        task = asyncio.create_task(self.broker.publish(sequence))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.events_poll_seconds)
            self._wake.set()

    # -- reading the log ------------------------------------------------------------

    async def _pump_loop(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._pump()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again, lose nothing
                _log.warning("events: reading the log failed (%s); retrying", exc)
                await asyncio.sleep(min(RETRY_LAST_SECONDS, RETRY_FIRST_SECONDS * 2**failures))
                failures += 1
                self._wake.set()

    async def _pump(self) -> None:
        if self.high_water is None:
            # Live subscribers start from now: the log's end when the hub first sees it.
            self.high_water = await last_sequence(self.sessions)
            self._ready.set()
        while True:
            async with self.sessions() as session:
                rows = await repository.entries(
                    session, EntryFilter(), after=self.high_water, limit=PAGE
                )
            # A page is handed out whole, then deliveries run: the entries that came
            # together wait together, and a group writes them to each member at once
            # (app/graphql/subscriptions/sharing.py). A page (PAGE) is within a live
            # subscriber's buffer by default (SUBSCRIPTION_BUFFER).
            for row in rows:
                self._hand_out(row)
            if self.live_subscribers > 100:
                await asyncio.sleep(0)  # let deliveries run between pages
            if len(rows) < PAGE:
                return

    def _hand_out(self, entry: Entry) -> None:
        shared: dict[Any, Any] = {}
        for subscriber in list(self._live):
            if not subscriber.offer(entry, shared):
                self._live.discard(subscriber)
        self.high_water = entry.sequence

    # -- subscribing ----------------------------------------------------------------

    @asynccontextmanager
    async def subscription(
        self, subscriber: Subscriber, *, held: bool = False
    ) -> AsyncIterator[None]:
        """Hold a place for `subscriber` (BUSY past `max_subscriptions`), or take over
        one `held` for it (a subscription run again holds the place it had); it is
        offered entries once it has joined (`join`)."""
        if not held:
            if self._open >= self.settings.max_subscriptions:
                raise DomainError(
                    f"this server has {self._open} subscriptions open, its limit; retry shortly",
                    code=ErrorCode.BUSY,
                )
            self._open += 1
        try:
            await self._wait_ready()
            yield
        finally:
            if not subscriber.parked:  # else kept until it ends (`release`)
                self.release(subscriber)

    def release(self, subscriber: Subscriber, *, keep_place: bool = False) -> None:
        """The end of a subscription that held its place (`subscription`); with
        `keep_place`, the place is held on for its next run (`give_back` if it never
        takes it)."""
        if not keep_place:
            self._open -= 1
        subscriber.leave(self._live)

    def give_back(self) -> None:
        """A place held for a run that ended without taking it."""
        self._open -= 1

    async def _wait_ready(self) -> None:
        if self._ready.is_set():
            return
        if not self._tasks:
            raise DomainError("live updates are not running in this process", code=ErrorCode.BUSY)
        self._wake.set()
        try:
            async with asyncio.timeout(READY_WAIT_SECONDS):
                await self._ready.wait()
        except TimeoutError:
            raise DomainError(
                "live updates are not available right now (the database is not reachable); "
                "retry shortly",
                code=ErrorCode.BUSY,
            ) from None

    def join(self, subscriber: Subscriber, position: int) -> bool:
        """Make `subscriber` live if it has read the log up to the hub's position."""
        assert self.high_water is not None
        if position < self.high_water:
            return False
        subscriber.position = position
        subscriber.go_live(self._live)
        return True

    async def follow(
        self, subscriber: EventQueue, events: EventFilter, after: int, ordinal: int
    ) -> AsyncIterator[tuple[Entry, int]]:
        """Every entry `events` lets through past `after`, in order, each with its
        ordinal in the subscriber's scope (`ordinal`: the one at `after`): first from
        the log, then live. Raises Overflow when the buffer fills."""
        assert self.high_water is not None
        scope = subscriber.scope
        position = after
        # From the log: what the filter lets through; where ordinals count a part of
        # the log, every entry of that part, as each one counts.
        where = events.where if scope.whole else scope.where
        while True:
            upto = self.high_water
            if position >= upto:
                subscriber.ordinal = ordinal
                if self.join(subscriber, position):
                    break
            async with self.sessions() as session:
                rows = await repository.entries(
                    session, where, after=position, limit=PAGE, until=upto
                )
            for row in rows:
                ordinal = scope.advance(ordinal, row)
                if events.matches(row):
                    subscriber.check()
                    subscriber.shared = None
                    yield row, ordinal
            position = rows[-1].sequence if len(rows) == PAGE else upto
            subscriber.check()
        while True:
            yield await subscriber.next()

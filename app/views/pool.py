"""The views of one app: how many are open, who may open one, and partners' live views
kept for their next request.

Each view holds a database connection, so at most `max_views` are open at once. Of
those, `views_reserved_for_partners` only partners may take: callers who are not
partners (`asOf` readers) together hold at most the rest, so they can never keep a
partner waiting. Each caller runs at most `max_views_per_caller` operations on views at
once; one more is refused BUSY at once, never after a wait.

A partner's live view (no `asOf`) is kept, by its initiatives, for later requests of the
same scope. It records the trail's head (last sequence and hash) it holds. A request
that finds the head where the view has it reuses the view as it is; one that finds the
head moved brings the view up to date from the trail entries since its head
(app/views/views.py `refresh_view`) when no operation is using it, and builds a new one
when another operation is (that one keeps reading the state it began with; the old view
closes once its operations end) or when the trail cannot say what changed. Either way
the partner reads exactly what a view built now would hold. A view nobody uses closes after
`view_idle_seconds`; when every slot is taken, the least recently used idle one is
closed to make room. A view is never closed while an operation uses it.

Operations on one kept view share its connection, taking turns statement by statement
(app/db/shared.py): a partner's second query waits for the first one's running
statement, never for the whole query, and the per-caller bound keeps the queue short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db.session import SessionFactory
from app.errors import DomainError, ErrorCode
from app.kit.shares import CallerShares
from app.views.views import Deferral, Head, View, open_view, refresh_view

TrailEnd = Callable[[AsyncSession], Awaitable[Head]]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Kept:
    """A partner's live view, kept for reuse."""

    view: View
    scope: frozenset[int]
    # The trail's head the view holds at least (read before a build; a refresh's own).
    head: Head
    users: int = 0
    last_used: float = 0.0
    closing: bool = False
    idle_timer: asyncio.TimerHandle | None = field(default=None, repr=False)


@dataclass(eq=False)
class Lease:
    """One operation's use of a view; `release` it when the operation ends."""

    pool: ViewPool
    view: View
    caller: str
    partner: bool
    kept: _Kept | None
    released: bool = False

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            if self.kept is not None:
                await self.pool._put_back(self.kept)
            else:
                try:
                    await self.view.close()
                finally:
                    self.pool._free(partner=self.partner)
        finally:
            self.pool._callers.give_back(self.caller)


class ViewPool:
    """The views of one app on one event loop."""

    def __init__(self, settings: Settings, trail_end: TrailEnd) -> None:
        self.settings = settings
        # Where the trail ends now (the audit repository's `chain_head`): a kept view
        # built up to there is current. Handed in, as the trail knows of views (its
        # verification rebuilds tables as a view does), not the other way round.
        self._trail_end = trail_end
        # Views open: kept ones (in use or idle) and per-operation ones.
        self._open = 0
        # Of those, the per-operation views of callers who are not partners.
        self._readers = 0
        self._kept: dict[frozenset[int], _Kept] = {}
        # Kept views replaced by newer ones, closing once their operations end.
        self._retired: set[_Kept] = set()
        self._callers = CallerShares(
            settings.max_views_per_caller,
            setting="MAX_VIEWS_PER_CALLER",
            what="asOf or partner operations",
            retry_after=settings.retry_after_seconds,
        )
        self._building: dict[frozenset[int], asyncio.Lock] = {}
        self._freed = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()
        # What the pool did (tests, logs).
        self.builds = 0
        self.reuses = 0
        self.refreshes = 0

    @property
    def open(self) -> int:
        return self._open

    async def lease(
        self,
        engine: AsyncEngine,
        sessions: SessionFactory,
        *,
        caller: str,
        partner: bool,
        moment: datetime | None,
        initiatives: frozenset[int] | None,
        defer: Deferral | None = None,
    ) -> Lease:
        """A view for one operation: as of `moment` (None: now), limited to
        `initiatives` (None: all), `defer` as `open_view` takes it. DomainError BUSY
        when `caller` is over its share, or when no view can be had within
        `view_wait_seconds`. `sessions` read the trail's head (the app's own)."""
        self._callers.take(caller)
        try:
            if moment is None and initiatives is not None:
                kept = await self._current(engine, sessions, initiatives)
                return Lease(self, kept.view, caller, partner, kept)
            await self._take(partner=partner)
            try:
                view = await open_view(engine, moment=moment, initiatives=initiatives, defer=defer)
            except BaseException:
                self._free(partner=partner)
                raise
            self.builds += 1
            return Lease(self, view, caller, partner, None)
        except BaseException:
            self._callers.give_back(caller)
            raise

    @asynccontextmanager
    async def leased(
        self,
        engine: AsyncEngine,
        sessions: SessionFactory,
        *,
        caller: str,
        partner: bool,
        moment: datetime | None,
        initiatives: frozenset[int] | None,
    ) -> AsyncIterator[View]:
        lease = await self.lease(
            engine,
            sessions,
            caller=caller,
            partner=partner,
            moment=moment,
            initiatives=initiatives,
        )
        try:
            yield lease.view
        finally:
            await lease.release()

    async def close(self) -> None:
        """Close the views nobody uses (the app is stopping)."""
        for kept in [k for k in self._kept.values() if k.users == 0]:
            await self._retire(kept)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # --- slots ---------------------------------------------------------------------

    def _within_share(self, partner: bool) -> bool:
        readers = self.settings.max_views - self.settings.views_reserved_for_partners
        return partner or self._readers < readers

    async def _take(self, *, partner: bool) -> None:
        """Count one more open view, once there is room for it; BUSY after
        `view_wait_seconds` without."""
        try:
            async with asyncio.timeout(self.settings.view_wait_seconds):
                while True:
                    if self._within_share(partner):
                        if self._open < self.settings.max_views:
                            break
                        idle = [k for k in self._kept.values() if k.users == 0]
                        if idle:
                            # Room made by closing the least recently used idle view.
                            await self._retire(min(idle, key=lambda k: k.last_used))
                            continue
                    freed = self._freed
                    await freed.wait()
        except TimeoutError:
            raise DomainError(
                "the service is at its limit for this kind of request (asOf and partner "
                "reads); retry shortly",
                code=ErrorCode.BUSY,
            ) from None
        self._open += 1
        if not partner:
            self._readers += 1

    def _free(self, *, partner: bool) -> None:
        self._open -= 1
        if not partner:
            self._readers -= 1
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()

    # --- kept views ----------------------------------------------------------------

    async def _current(
        self, engine: AsyncEngine, sessions: SessionFactory, scope: frozenset[int]
    ) -> _Kept:
        """The kept view of `scope`, current as of now (built if need be), in use."""
        # One refresh or build per scope at a time: requests arriving together share it.
        building = self._building.setdefault(scope, asyncio.Lock())
        idle = self._kept.get(scope)
        if idle is not None and idle.users == 0 and not building.locked():
            # Idle: brought up to date on its own connection, which reads the trail's
            # head itself (no other connection needed when nothing changed).
            async with building:
                idle = self._kept.get(scope)
                if idle is not None and idle.users == 0:
                    refreshed = await self._refreshed(idle)
                    if refreshed is not None:
                        return refreshed
        # In use by another operation, or none kept: reused only as it stands.
        async with sessions() as session:
            head = await self._trail_end(session)
        kept = self._reusable(scope, head)
        if kept is not None:
            return kept
        async with building:
            kept = self._reusable(scope, head)
            if kept is not None:
                return kept
            old = self._kept.get(scope)
            if old is not None and old.users == 0:
                refreshed = await self._refreshed(old)
                if refreshed is not None:
                    return refreshed
            old = self._kept.pop(scope, None)
            if old is not None:
                await self._retire(old)
            await self._take(partner=True)
            try:
                view = await open_view(engine, initiatives=scope)
            except BaseException:
                self._free(partner=True)
                raise
            self.builds += 1
            # The head was read before the build: the view holds at least that (a write
            # meanwhile makes the next request build anew, never read a stale view).
            kept = _Kept(view, scope, head, users=1)
            self._kept[scope] = kept
            return kept

    async def _refreshed(self, kept: _Kept) -> _Kept | None:
        """`kept`, idle, brought up to the trail's end and in use; None when it cannot
        be (it is retired then)."""
        kept.users += 1  # in use: neither its idle timer nor a caller needing room closes it
        if kept.idle_timer is not None:
            kept.idle_timer.cancel()
            kept.idle_timer = None
        head: Head = None
        try:
            head = await refresh_view(kept.view, kept.head)
        except Exception:
            # Its connection is gone (the database restarted, say): build anew.
            log.warning("a kept view could not be refreshed", exc_info=True)
        finally:
            if head is None:  # not refreshed (or cancelled): never read again
                kept.users -= 1
                await self._retire(kept)
        if head is None:
            return None
        if head == kept.head:
            self.reuses += 1
        else:
            kept.head = head
            self.refreshes += 1
        return kept

    def _reusable(self, scope: frozenset[int], head: Head) -> _Kept | None:
        kept = self._kept.get(scope)
        if kept is None or kept.head != head or kept.view.lost:
            return None
        kept.users += 1
        if kept.idle_timer is not None:
            kept.idle_timer.cancel()
            kept.idle_timer = None
        self.reuses += 1
        return kept

    async def _put_back(self, kept: _Kept) -> None:
        kept.users -= 1
        kept.last_used = asyncio.get_running_loop().time()
        if kept.users > 0:
            return
        idle = self.settings.view_idle_seconds
        if (
            kept in self._retired
            or idle == 0
            or self._kept.get(kept.scope) is not kept
            or kept.view.lost
        ):
            await self._retire(kept)
            return
        kept.idle_timer = asyncio.get_running_loop().call_later(idle, self._expire, kept)

    def _expire(self, kept: _Kept) -> None:
        kept.idle_timer = None
        if kept.users == 0 and self._kept.get(kept.scope) is kept:
            task = asyncio.get_running_loop().create_task(self._retire(kept))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _retire(self, kept: _Kept) -> None:
        """No longer reused; closed now if idle, else when its last operation ends."""
        if self._kept.get(kept.scope) is kept:
            del self._kept[kept.scope]
        if kept.idle_timer is not None:
            kept.idle_timer.cancel()
            kept.idle_timer = None
        if kept.users > 0:
            self._retired.add(kept)
            return
        self._retired.discard(kept)
        if kept.closing:
            return
        kept.closing = True
        try:
            await kept.view.close()
        except Exception:
            # Its connection is gone already (the database restarted, say): nothing to
            # give back but the slot.
            log.warning("a kept view did not close cleanly", exc_info=True)
        finally:
            self._free(partner=True)

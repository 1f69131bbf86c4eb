"""Building one answer never holds the event loop for long, and a small answer never
waits behind a large one.

graphql-core completes a list whose items need no awaiting in one go, and every list
whose page arrived in the same loader batch is completed in the same turn of the loop:
20 x 30 pages of 330 transactions (198,600 objects, within MAX_QUERY_COST) held the loop
for seconds, during which no other request, `/healthz` included, was answered. Here a
long list is completed in slices, a large batch of rows is streamed and turned into
pages a slice at a time, and each page becomes objects in its own piece: once the loop
has been held for ANSWER_SLICE_SECONDS in this turn, the next piece waits for a later
turn (`Context.wait_turn` asks on behalf of an operation).

Waiting pieces go in a fair order, not first come first served: callers take turns, a
caller's operations take turns among themselves, and an operation's pieces go oldest
first. One line for everyone made a victim's five-row page wait behind the 1,200 pieces
two large answers had queued before it (p99 12 s on PostgreSQL, bench/victim.py).

Each turn wakes a number of pieces: all of them while turns have time to spare (pieces
that fit in one turn then run in the same turn, so the loaders their resolvers call are
batched together), otherwise twice as many as ran in the last turn. A woken piece that
finds the turn's time spent, by other pieces or by any other work of the loop, waits
again at the head of its operation's line; the first piece woken in a turn always runs,
so answers make progress however busy the loop is.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import Any

from app.kit.loops import ByLoop, on_running_loop

# Items completed between two looks at the clock.
SLICE_ITEMS = 32
# Pieces woken in a busy turn, at least.
MIN_WOKEN = 8


# caller -> operation -> its pieces waiting, oldest first
Lines = dict[str, dict[int, deque[asyncio.Future[bool]]]]


class Pacer:
    """The pieces of answers waiting for a turn of one event loop, by caller and
    operation, and when the current turn began."""

    def __init__(self) -> None:
        self.turn_began = time.perf_counter()
        self._turn_scheduled = False
        # The caller and the operation first in their dicts give the next piece, then go
        # to the back of the line.
        self._waiting: Lines = {}
        # Pieces woken that found the turn spent, in the order they were woken: they go
        # back to the head of their operation's line at the next turn.
        self._returned: Lines = {}
        # Of the pieces the last turn woke: how many ran, and whether all of them did.
        self._ran = 0
        self._spare = True

    @property
    def waiting(self) -> int:
        """Pieces waiting now (live ones and cancelled ones not yet passed over)."""
        return sum(
            len(queue)
            for lines in (self._waiting, self._returned)
            for operations in lines.values()
            for queue in operations.values()
        )

    async def pause(self, seconds: float, caller: str, operation: int) -> None:
        """Go on while this turn of the loop has run less than `seconds`; otherwise wait
        for a turn in which this piece is woken and time is left (or it is woken first)."""
        if time.perf_counter() - self.turn_began < seconds:
            return
        lines = self._waiting
        while True:
            loop = asyncio.get_running_loop()
            piece: asyncio.Future[bool] = loop.create_future()
            lines.setdefault(caller, {}).setdefault(operation, deque()).append(piece)
            self._schedule_turn(loop)
            first = await piece
            if first or time.perf_counter() - self.turn_began < seconds:
                self._ran += 1
                return
            self._spare = False
            lines = self._returned  # it keeps its place in its operation's line

    def _schedule_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._turn_scheduled:
            self._turn_scheduled = True
            loop.call_soon(self._turn)

    def _start(self) -> None:
        self.turn_began = time.perf_counter()

    def _turn(self) -> None:
        """Wake the next pieces in the fair order. They run in the loop's next
        iteration, which is where this turn's clock starts."""
        loop = asyncio.get_running_loop()
        self._turn_scheduled = False
        if self._returned:
            # Pieces woken but not run come first, in the order they were woken.
            merged, self._returned = self._returned, {}
            for caller, operations in self._waiting.items():
                line = merged.setdefault(caller, {})
                for operation, queue in operations.items():
                    line.setdefault(operation, deque()).extend(queue)
            self._waiting = merged
        count = self.waiting if self._spare else max(MIN_WOKEN, 2 * self._ran)
        self._ran, self._spare = 0, True
        loop.call_soon(self._start)  # before the woken pieces: scheduled before them
        first = True
        while count > 0 and self._waiting:
            caller, operations = next(iter(self._waiting.items()))
            operation, queue = next(iter(operations.items()))
            piece = queue.popleft()
            del operations[operation]
            if queue:
                operations[operation] = queue
            del self._waiting[caller]
            if operations:
                self._waiting[caller] = operations
            if piece.done():  # its task was cancelled
                continue
            piece.set_result(first)
            first = False
            count -= 1
        if self._waiting:
            self._schedule_turn(loop)


# One pacer per event loop; it holds no reference to its loop, so a closed loop (a
# script's, a test's) and its pacer go away together.
_PACERS: ByLoop[Pacer] = weakref.WeakKeyDictionary()


def pacer() -> Pacer:
    return on_running_loop(_PACERS, Pacer)


def long_list(items: Any) -> bool:
    """Whether a list result is long enough to complete in slices."""
    return isinstance(items, list | tuple) and len(items) > SLICE_ITEMS

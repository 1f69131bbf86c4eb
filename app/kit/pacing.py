"""Building one answer never holds the event loop for long, and a small answer never
waits behind a large one.

graphql-core completes a list whose items need no awaiting in one go, and every list
whose page arrived in the same loader batch is completed in the same turn of the loop:
20 x 30 pages of 330 transactions (198,600 objects, within MAX_QUERY_COST) held the loop
for seconds, during which no other request, `/healthz` included, was answered. Here a
long list is completed in slices, and a batch of rows is read and turned into objects a
slice at a time, each in its turn: once the loop has been held for ANSWER_SLICE_SECONDS,
the next piece of work waits (`Context.wait_turn` asks on behalf of an operation).

Waiting pieces go in a fair order, not first come first served: each turn, one piece of
every caller with work waiting, then the next of each, a caller's own taken from its
operations in turn. One line for everyone made a victim's five-row page wait behind the
1,200 pieces two large answers had queued before it (p99 12 s on PostgreSQL,
bench/victim.py). Pieces that fit in one turn still run in the same turn, so the
loaders their resolvers call are batched as before.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import Any

# Items completed between two looks at the clock.
SLICE_ITEMS = 32


class Pacer:
    """The pieces of answers waiting for a turn of one event loop, by caller and
    operation, and when the current turn began."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.turn_began = time.perf_counter()
        self._turn_scheduled = False
        # caller -> operation -> its waiting pieces, oldest first (dicts keep the order
        # in which callers and operations began to wait).
        self._waiting: dict[str, dict[int, deque[asyncio.Future[None]]]] = {}

    @property
    def waiting(self) -> int:
        """Pieces waiting now (live ones and cancelled ones not yet passed over)."""
        return sum(len(queue) for ops in self._waiting.values() for queue in ops.values())

    async def pause(self, seconds: float, caller: str, operation: int) -> None:
        """Go on while this turn of the loop has run less than `seconds`; otherwise wait
        for the next turn, and again while the turn's time is spent before this piece's
        place in the line comes."""
        while time.perf_counter() - self.turn_began >= seconds:
            piece: asyncio.Future[None] = self._loop.create_future()
            self._waiting.setdefault(caller, {}).setdefault(operation, deque()).append(piece)
            if not self._turn_scheduled:
                self._turn_scheduled = True
                self._loop.call_soon(self._turn)
            await piece

    def _turn(self) -> None:
        """At the start of a turn, wake every waiting piece in a fair order: one of each
        caller in turn, and a caller's own from each of its operations in turn. Each
        piece then runs while the turn has time left; the rest wait again, in the same
        order, so a caller's first piece never queues behind another's thousands."""
        self._turn_scheduled = False
        self.turn_began = time.perf_counter()
        waiting, self._waiting = self._waiting, {}
        callers = deque(deque(operations.values()) for operations in waiting.values())
        while callers:
            operations = callers.popleft()
            queue = operations.popleft()
            _release_one(queue)
            if queue:
                operations.append(queue)
            if operations:
                callers.append(operations)


def _release_one(queue: deque[asyncio.Future[None]]) -> bool:
    """Let the oldest live piece go (cancelled ones are dropped); whether one went."""
    while queue:
        piece = queue.popleft()
        if not piece.done():
            piece.set_result(None)
            return True
    return False


_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


def pacer() -> Pacer:
    loop = asyncio.get_running_loop()
    found = _pacers.get(loop)
    if found is None:
        found = _pacers[loop] = Pacer(loop)
    return found


def long_list(items: Any) -> bool:
    """Whether a list result is long enough to complete in slices."""
    return isinstance(items, list | tuple) and len(items) > SLICE_ITEMS

"""Building one answer never holds the event loop for long.

graphql-core completes a list whose items need no awaiting in one go, and every list
whose page arrived in the same loader batch is completed in the same turn of the loop:
20 x 30 pages of 330 transactions (198,600 objects, within MAX_QUERY_COST) held the loop
for seconds, during which no other request, `/healthz` included, was answered. Here a
long list is completed in slices; between slices, once the loop has been held for
ANSWER_SLICE_SECONDS, the answer waits one turn so that everything else ready runs.

One clock per event loop, shared by every answer: when several answers are built in
the same turn, the first to see the time spent lets the loop turn and the others,
seeing the same, wait too rather than each take a whole slice.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

# Items completed between two looks at the clock.
SLICE_ITEMS = 32


class _Clock:
    """When the current turn of the loop began (as far as answers can tell)."""

    def __init__(self) -> None:
        self.turn_began = time.perf_counter()
        self.turning = False

    def _turned(self) -> None:
        self.turning = False
        self.turn_began = time.perf_counter()

    async def pause(self, seconds: float) -> None:
        """Let the loop turn while this turn has held it for `seconds` already. An
        answer woken in a turn that another answer has used up waits again: each
        turn gives answers about `seconds` in all, not each of them a slice."""
        while self.turning or time.perf_counter() - self.turn_began >= seconds:
            if not self.turning:
                # Runs at the start of the next turn, before the answers waiting.
                self.turning = True
                asyncio.get_running_loop().call_soon(self._turned)
            await asyncio.sleep(0)


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clock] = weakref.WeakKeyDictionary()


def clock() -> _Clock:
    loop = asyncio.get_running_loop()
    found = _clocks.get(loop)
    if found is None:
        found = _clocks[loop] = _Clock()
    return found


def long_list(items: Any) -> bool:
    """Whether a list result is long enough to complete in slices."""
    return isinstance(items, list | tuple) and len(items) > SLICE_ITEMS

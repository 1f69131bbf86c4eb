"""A flag to wait on, as small as it can be made."""

from __future__ import annotations

import asyncio


class Signal:
    """`asyncio.Event`'s `set`, `clear`, `is_set` and `wait`, in fewer bytes: kept for
    their life by every subscriber (app/events/hub.py) and every WebSocket connection
    (app/http/sockets.py), and an Event's deque of waiters (~700 bytes, allocated
    empty) is most of one."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            for waiter in self._waiters or ():
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)
            if not self._waiters:
                self._waiters = None

"""Objects kept per app and per event loop.

Pools, semaphores and connections belong to the loop that made them, and tests run
apps on many loops, so what an app keeps (its view pool, its query slots) is kept by
the app's schema and by the running loop, and goes away with either.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

ByLoop = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]
PerLoop = weakref.WeakKeyDictionary[Any, ByLoop[T]]


def on_running_loop(by_loop: ByLoop[T], make: Callable[[], T]) -> T:
    """The running loop's object in `by_loop`, made by `make` on first use; it goes
    away with the loop, provided it holds no reference to it."""
    loop = asyncio.get_running_loop()
    found = by_loop.get(loop)
    if found is None:
        found = by_loop[loop] = make()
    return found


def kept_for_loop(registry: PerLoop[T], owner: Any, make: Callable[[], T]) -> T:
    """`owner`'s object on the running loop, made by `make` on first use."""
    by_loop = registry.get(owner)
    if by_loop is None:
        by_loop = registry[owner] = weakref.WeakKeyDictionary()
    return on_running_loop(by_loop, make)

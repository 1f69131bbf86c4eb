"""How a process serves the app: what `pledge-ledger serve` asks of uvicorn, and of the
C allocator."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

from app.config import Settings

log = logging.getLogger(__name__)

# glibc's mallopt parameter for the size from which blocks are mapped on their own.
_M_MMAP_THRESHOLD = -3
_MAPPED_FROM_BYTES = 128 * 1024


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for `serve`, besides where to listen and how to log."""
    return {
        # A WebSocket message over MAX_BODY_BYTES is refused (1009) as it arrives, before
        # uvicorn gathers it (the app refuses it too, under any server).
        "ws_max_size": settings.max_body_bytes,
    }


def return_large_blocks_to_the_system() -> None:
    """Have glibc map every block from 128 KiB on its own, so that freeing it gives the
    memory back. By default glibc raises that size to the largest block freed so far,
    so after a few large request bodies or WebSocket messages their memory stayed with
    the process once they were gone (40 subscriptions of 1 MB documents: 127 -> 205 MB,
    and 205 MB after they closed). Elsewhere than glibc, nothing is done."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return
    if mallopt(_M_MMAP_THRESHOLD, _MAPPED_FROM_BYTES) != 1:
        log.warning("could not set the allocator's mmap threshold")

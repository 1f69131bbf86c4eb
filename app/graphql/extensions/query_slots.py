"""How many live queries one caller runs at once.

A live query (no `asOf`, not a partner's) holds one pooled connection, its read
snapshot (app/db/shared.py), for its whole run; the pool has POOL_SIZE + POOL_OVERFLOW
of them (app/db/session.py). Without a bound, one caller sending many slow queries at
once takes them all and every other caller waits for a connection. So each caller (an
API key, a token's subject, or an anonymous address: `caller_of`) runs at most
MAX_QUERIES_PER_CALLER of them at once, fewer than POOL_SIZE; one more is refused BUSY
at once, with `retryAfter`, never after a wait. Queries over HTTP and over a WebSocket
count alike, and so does each report of a live `budgetSummaryUpdates` (it reads through
a snapshot too): a report waits for its caller's slot rather than fail, as the
subscriber cannot retry one event. `asOf` and partner operations read through views,
outside the pool, and are bounded by MAX_VIEWS_PER_CALLER instead (app/views/pool.py).
"""

from __future__ import annotations

import weakref
from typing import Any

from app.config import Settings
from app.kit.loops import PerLoop, kept_for_loop
from app.kit.shares import CallerShares

SETTING = "MAX_QUERIES_PER_CALLER"


_SLOTS: PerLoop[CallerShares] = weakref.WeakKeyDictionary()


def query_slots(schema: Any, settings: Settings) -> CallerShares:
    """The live queries each caller of `schema` (so of one app) runs now, on the
    running event loop."""
    return kept_for_loop(
        _SLOTS,
        schema,
        lambda: CallerShares(
            settings.max_queries_per_caller,
            setting=SETTING,
            what="queries",
            retry_after=settings.retry_after_seconds,
        ),
    )

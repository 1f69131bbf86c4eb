"""Memory held for large documents comes back once their operations end.

A document may be as large as MAX_BODY_BYTES (over HTTP, or as a WebSocket message).
Two things kept such documents long after their operations ended: the parse and
validation caches (which now skip documents over LARGE_DOCUMENT_CHARS, app/graphql/
limits.py), and reference cycles. graphql-core's executor and validator, and strawberry's
extensions, leave cycles behind every operation, and a cycle holding a document holds
its text. Python frees cycles only in a full collection, which comes after many
allocations, or never in an idle process: 40 operations of 1 MB documents kept ~40 MB
(HTTP) to ~80 MB (subscriptions) until then. So after an operation on a large document
ends, a full collection runs soon (at most one every COLLECT_EVERY_SECONDS); operations
on ordinary documents never cause one.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

# Operations are a few KB; a document longer than this is large.
LARGE_DOCUMENT_CHARS = 64 * 1024
COLLECT_EVERY_SECONDS = 5.0


class _Collections:
    """Full garbage collections, at most one every COLLECT_EVERY_SECONDS, scheduled on
    the running event loop (tests run apps on many loops)."""

    def __init__(self) -> None:
        self.last = float("-inf")
        self.pending: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def soon(self) -> None:
        loop = asyncio.get_running_loop()
        if loop in self.pending:
            return
        self.pending.add(loop)
        loop.call_later(max(0.0, self.last + COLLECT_EVERY_SECONDS - loop.time()), self._collect)

    def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        self.pending.discard(loop)
        self.last = loop.time()
        gc.collect()


_COLLECTIONS = _Collections()


def large(query: str | None) -> bool:
    return query is not None and len(query) > LARGE_DOCUMENT_CHARS


class LargeDocumentCollector(SchemaExtension):
    """After an operation on a large document (a query, or a subscription once it ends),
    a full collection soon frees the cycles that hold it."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            if large(self.execution_context.query):
                _COLLECTIONS.soon()

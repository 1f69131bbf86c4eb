"""What an operation costs the database, and how many costly ones a caller may run.

The cost limit (MAX_QUERY_COST, app/graphql/extensions/limits.py) counts the objects an operation
could return. That says nothing of a report: `budgetSummary(first: 1)` returns one
group, yet reads every budget line and transaction. An operation's *work* is its
objects plus, for each field that reads records (reports, aggregates, figures), the
rows of the tables it reads, estimated from how many rows each table holds. Above
MAX_QUERY_WORK an operation is refused (QUERY_TOO_COSTLY, with `work` and `limit`)
before any of its SQL runs; above HEAVY_QUERY_WORK it is *heavy*, and one caller runs
at most MAX_HEAVY_PER_CALLER heavy operations at once (more: BUSY at once, with
`retryAfter`).

A field declares what it reads next to its definition, `metadata=reads(...)`, and
nothing else needs to know. A read repeated in an operation costs again where it runs
again: each root report and each `aggregate` (a list's items share one statement, so a
field inside a list costs once, not once per item). Figures a per-operation loader
answers (`figures`, `budget`, `spent`, ...) cost once per distinct question however
often they are asked: the loader asks the database once.

How many rows a table holds is its highest id, or the trail's last sequence (an
index's end, so no large table is scanned, and the same on SQLite and PostgreSQL, whose
statistics lag a bulk load until ANALYZE): one statement every TABLE_ROWS_SECONDS per
process, none on other requests, for every table some field declares it reads (and
only those: app/db/sizes.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.db.session import SessionFactory
from app.db.sizes import table_sizes

# What the budget figures read: budget lines and transactions, converted at stored rates.
FIGURES = ("budget_lines", "transactions", "exchange_rates")
# A current budget alone (`budget`, `allocated`): budget lines only.
BUDGETS = ("budget_lines", "exchange_rates")
# The budget report, which may also split records by beneficiary shares.
BUDGET_REPORT = (*FIGURES, "beneficiary_shares")
TIMELINE_REPORT = ("milestones", "initiatives")
REACH_REPORT = ("beneficiary_figures", "beneficiary_groups", "initiatives")
# The audit trail: verifying it, or counting a filtered part of it, reads it whole.
TRAIL = "changes"


# Every table some field declares it reads: the tables `TableRows` sizes, and no other
# (a table nothing prices, such as one that only grows, is never scanned for it).
DECLARED: set[str] = set()


def reads(*tables: str, once: str | None = None) -> dict[str, Any]:
    """A field's metadata: the tables it reads all of (at worst). `once`: the field is
    answered by a per-operation loader under this name, which reads once per distinct
    set of arguments, however often and wherever the field is asked."""
    DECLARED.update(tables)
    return {"reads": tuple(tables), "reads_once": once}


@dataclass(frozen=True)
class Reads:
    """The reads an operation (or a part of it) makes: how often each table is read
    in full, and the loaders' questions, each read once."""

    tables: Mapping[str, int] = field(default_factory=dict)
    once: frozenset[tuple[str, tuple[str, ...]]] = frozenset()

    def __add__(self, other: Reads) -> Reads:
        if not other.tables and not other.once:
            return self
        if not self.tables and not self.once:
            return other
        tables = dict(self.tables)
        for name, times in other.tables.items():
            tables[name] = tables.get(name, 0) + times
        return Reads(tables, self.once | other.once)

    def rows(self, counts: Mapping[str, int], most: int) -> int:
        """The rows these reads go through, given each table's rows (up to `most`)."""
        total = sum(counts.get(name, 0) * times for name, times in self.tables.items())
        for _, tables in self.once:
            total += sum(counts.get(name, 0) for name in tables)
        return min(total, most)

    @property
    def table_names(self) -> set[str]:
        names = set(self.tables)
        for _, tables in self.once:
            names.update(tables)
        return names


NONE = Reads()


def declared_reads(definition: Any, arguments: Callable[[], str]) -> Reads:
    """What a field definition declares it reads (NONE for most); `arguments()` tells
    one loader question from another."""
    strawberry_field = (getattr(definition, "extensions", None) or {}).get("strawberry-definition")
    metadata = getattr(strawberry_field, "metadata", None) or {}
    tables = metadata.get("reads")
    if not tables:
        return NONE
    once = metadata.get("reads_once")
    if once:
        return Reads(once=frozenset({(f"{once}({arguments()})", tuple(tables))}))
    return Reads(tables={name: 1 for name in tables})


class TableRows:
    """How many rows each table holds, asked of the database at most once every
    `seconds` (per app), so pricing an operation usually costs no statement."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._counts: dict[str, int] = {}
        self._asked_at = -float("inf")
        self._lock = asyncio.Lock()

    async def of(self, names: set[str], sessions: SessionFactory) -> dict[str, int]:
        fresh = time.monotonic() - self._asked_at < self.seconds
        if fresh and names <= self._counts.keys():
            return self._counts
        async with self._lock:
            fresh = time.monotonic() - self._asked_at < self.seconds
            if not (fresh and names <= self._counts.keys()):
                self._counts = await table_sizes(sessions, DECLARED | names)
                self._asked_at = time.monotonic()
        return self._counts


class HeavyOperations:
    """Heavy operations running now, per caller (per app)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._running: dict[str, int] = {}

    @contextmanager
    def slot(self, caller: str) -> Iterator[bool]:
        """Whether `caller` may start one more heavy operation; held until the block ends."""
        running = self._running.get(caller, 0)
        if running >= self.most:
            yield False
            return
        self._running[caller] = running + 1
        try:
            yield True
        finally:
            left = self._running[caller] - 1
            if left:
                self._running[caller] = left
            else:
                del self._running[caller]

    def running(self, caller: str) -> int:
        return self._running.get(caller, 0)

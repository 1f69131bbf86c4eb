"""`asOf` reports against the live report: what answering from the trail costs.

Issue 17 asks that `asOf` reports stay exact and take at most 2x the live report at 1M
transactions. An operation with `asOf` is answered from a view (app/views/views.py
`open_view(moment=...)`): TEMP shadow tables filled from the audit trail
(`repository.fill_from_trail`), built anew for every operation, and a report on a view
reads the records (the rollups are never read there), while the live report reads the
rollups when its currency is kept (app/reports/budget/rollups.py).

One database per backend and size, filled by two `pledge-ledger generate` runs of half
the size each (seeds 1 and 2: 50 initiatives, 5k budget lines and 50k transactions
each at S; 500k transactions each at L), so that the trail has a moment halfway (each
run is one moment: a bulk load dates all its entries alike), with `rollups build USD`
between them (so that the rollups' history covers both moments; the second run keeps
the rollups as every write does).
Moments asked:

- full: the trail's last entry (just after the second generate): the whole ledger;
- half: the first generate's moment: half the trail, half the records.

Through the GraphQL schema in process (the service's own app over httpx's ASGI
transport, as tests do, started by its lifespan as the server starts it), round-robin
so that every case sees the same load, the median of RUNS after one warm-up of each:

- `budgetSummary(groupBy: [INITIATIVE, YEAR], currency: "USD")`, live and asOf each moment;
- `initiatives(first: 10)`, live and asOf each moment.

Checks: asOf full answers exactly what live answers (the JSON, so every amount to the
cent); asOf half's groups equal the live groups of the first run's initiatives (the
second run adds no rates, so their figures are unchanged).

Then the breakdown, through the service on one engine (median of RUNS): the live
report from the rollups and from the records; for each moment the view's build, the
report on it, and closing it; a view of now, which copies the real tables instead of
decoding the trail (what a build from typed past states would cost); and, for one
build of each moment, its statements by time. Since the rollups' history, a view of
every initiative as of a moment shadows the rollups with their rows then, and the
breakdown also times views that leave budget lines and transactions to the trail
("deferred"), as the API's summary and list do.

    .venv/bin/python bench/as_of.py --backend both --size S
    .venv/bin/python bench/as_of.py --backend postgresql --size L --reuse --runs 3
    .venv/bin/python bench/as_of.py --backend postgresql --size L --reuse --graphql-only

Not run by CI (bench/ never gates it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import bench_databases
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from sqlalchemy import event, func, select, text  # noqa: E402

from app import models as m  # noqa: E402
from app.audit.records import SYSTEM_ROLE, Actor  # noqa: E402
from app.config import Settings  # noqa: E402
from app.engines import ledger_engine, ledger_sessions  # noqa: E402
from app.graphql.extensions.views import DEFERRABLE  # noqa: E402
from app.kit.filtering import FilterLimits  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reports.budget import rollups, service  # noqa: E402
from app.reports.budget.filters import BudgetScope  # noqa: E402
from app.reports.budget.repository import Dimension  # noqa: E402
from app.views.views import Deferral, open_view, view_engine  # noqa: E402

# Each half: (initiatives, budget lines, transactions); two runs, seeds 1 and 2.
HALVES = {"S": (50, 5_000, 50_000), "L": (50, 5_000, 500_000)}
SEEDS = (1, 2)
# The databases' names start with this (one bench per name on a shared server).
PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "pledge")
ACTOR = Actor("bench", SYSTEM_ROLE)

_MEASURES = """fragment M on BudgetMeasures { budgetOriginal { amount currency }
  budgetCurrent { amount currency } committed { amount currency } disbursed { amount currency }
  spent { amount currency } variance { amount currency } budgetRevision { amount currency }
  count budgetLineCount transactionCount }"""
SUMMARY = (
    """query Summary { budgetSummary(groupBy: [INITIATIVE, YEAR], currency: "USD"%s) {
  currency groupCount groups { key { initiative { code } year } measures { ...M } }
  total { ...M } others { ...M } } } """
    + _MEASURES
)
LIST = """query List { initiatives(first: 10%s) { nodes { code title status } } }"""


def ref(size: str, seed: int) -> str:
    initiatives, lines, transactions = HALVES[size]
    return f"synthetic-{seed}-{initiatives}-{lines}-{transactions}"


def database_url(backend: str, size: str) -> str:
    return bench_databases.database_url(backend, f"{PREFIX}_as_of_{size.lower()}")


def setup(backend: str, size: str, reuse: bool) -> dict[str, float]:
    """Make and fill the database, unless `reuse` (then it must have been made)."""
    url = database_url(backend, size)
    if reuse:
        return {}
    bench_databases.remake(backend, url)
    initiatives, lines, transactions = HALVES[size]
    made: dict[str, float] = {}
    for seed in SEEDS:
        made[f"generate_{seed}_s"] = bench_databases.cli(
            url,
            "generate",
            *("--initiatives", str(initiatives), "--budget-lines", str(lines)),
            *("--transactions", str(transactions), "--seed", str(seed)),
        )
        if seed == SEEDS[0]:
            # Built between the runs, so both moments come after it (the rollups' history
            # starts at the build) and the second run keeps them as every write does.
            made["rollups_build_s"] = bench_databases.cli(url, "rollups", "build", "USD")
    return made


async def moments(sessions: Any) -> dict[str, datetime]:
    """full: the trail's last entry; half: the first generate's moment."""
    async with sessions() as session:
        full = await session.scalar(select(func.max(m.Change.occurred_at)))
        loads = (
            await session.scalars(
                select(m.Change.occurred_at)
                .join(m.Program, m.Program.id == m.Change.entity_id)
                .where(m.Change.entity_type == m.Program.__tablename__)
                .where(m.Change.before.is_(None))
                .where(m.Program.ref.in_([ref_ for ref_ in SEED_REFS]))
                .order_by(m.Change.sequence)
            )
        ).all()
    if full is None or len(loads) != 2:
        raise SystemExit("the database lacks the two generated programmes: run without --reuse")
    return {"full": full, "half": loads[0]}


SEED_REFS: list[str] = []


def _as_of(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return f', asOf: "{moment.isoformat().replace("+00:00", "Z")}"'


class _Collections:
    """The garbage collector's full (generation 2) collections while it is on: how many,
    and how long they paused, by case."""

    def __init__(self) -> None:
        self.case = ""
        self.found: dict[str, list[float]] = {}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self.case:
            self.found.setdefault(self.case, []).append(time.perf_counter() - self._started)

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> str:
        if not self.found:
            return "none"
        return ", ".join(
            f"{name} {len(pauses)} ({sum(pauses) * 1000:.0f} ms)"
            for name, pauses in self.found.items()
        )


async def _round_robin(
    cases: dict[str, Callable[[], Awaitable[Any]]], runs: int, collections: _Collections
) -> dict[str, float]:
    """The median time of each case, all cases taking turns run by run (one warm-up)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for work in cases.values():
        await work()
    with collections:
        for _ in range(runs):
            for name, work in cases.items():
                collections.case = name
                started = time.perf_counter()
                await work()
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(found) for name, found in times.items()}


async def through_graphql(
    url: str, engine: Any, at: dict[str, datetime], size: str, runs: int
) -> tuple[dict[str, float], list[str]]:
    settings = Settings(
        database_url=url,
        log_level="WARNING",
        anonymous_read=True,
        # A view over 1M records takes longer than the default 30 s under load.
        execution_timeout_seconds=3600,
        view_wait_seconds=600,
    )
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    answers: dict[str, Any] = {}
    # The app started as the service starts it (its lifespan, which httpx's transport does
    # not run): among others its start-up heap is frozen out of the collector's reach
    # (app/http/server.py `freeze_startup_heap`). Without it, a full collection walked
    # every module's objects every few operations, 0.12-0.25 s landing on whichever case
    # came then: the same one round after round (asOf half: "2.3x" at 1M).
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://b", timeout=3600) as http,
    ):

        def case(name: str, query: str) -> Callable[[], Awaitable[Any]]:
            async def run() -> None:
                response = await http.post("/graphql", json={"query": query})
                body = response.json()
                if "errors" in body:
                    raise SystemExit(f"{name}: {json.dumps(body['errors'])[:800]}")
                answers[name] = body["data"]

            return run

        cases = {}
        for label, moment in (("live", None), ("asOf full", at["full"]), ("asOf half", at["half"])):
            cases[f"summary {label}"] = case(f"summary {label}", SUMMARY % _as_of(moment))
        for label, moment in (("live", None), ("asOf full", at["full"]), ("asOf half", at["half"])):
            cases[f"list {label}"] = case(f"list {label}", LIST % _as_of(moment))
        collections = _Collections()
        medians = await _round_robin(cases, runs, collections)
    checks = [f"full collections (generation 2) in the timed runs: {collections.summary()}"]
    for kind in ("summary", "list"):
        same = answers[f"{kind} asOf full"] == answers[f"{kind} live"]
        checks.append(f"{kind}: asOf full == live (the JSON, every amount to the cent): {same}")
    first = ref(size, SEEDS[0]) + "-"
    live_groups = [
        g
        for g in answers["summary live"]["budgetSummary"]["groups"]
        if g["key"]["initiative"]["code"].startswith(first)
    ]
    half = answers["summary asOf half"]["budgetSummary"]
    checks.append(
        f"summary: asOf half groups == the first run's live groups: {half['groups'] == live_groups}"
        f" ({len(half['groups'])} groups, groupCount {half['groupCount']})"
    )
    return medians, checks


async def breakdown(
    engine: Any, at: dict[str, datetime], runs: int
) -> tuple[dict[str, float], list[str]]:
    sessions = ledger_sessions(engine, actor=ACTOR)
    scope = BudgetScope.of(None, FilterLimits())
    dims = [Dimension.INITIATIVE, Dimension.YEAR]

    async def report(factory: Any, use: BudgetScope) -> service.Summary:
        async with factory() as session, session.begin():
            return await service.budget_summary(
                session, dimensions=dims, scope=use, currency="USD", max_groups=10_000
            )

    live = await report(sessions, scope)
    records = await report(sessions, replace(scope, rollups=None))
    notes = [
        "service: live from rollups == from records: "
        f"{(live.groups, live.total) == (records.groups, records.total)}"
    ]
    found: dict[str, list[float]] = {}

    def note(name: str, seconds: float) -> None:
        found.setdefault(name, []).append(seconds)

    async def as_of(label: str, deferred: bool = False) -> None:
        started = time.perf_counter()
        # Deferred: budget lines and transactions left to the trail, as the API's
        # summary in a currency whose history holds the moment asks.
        defer = Deferral(DEFERRABLE, frozenset({"USD"})) if deferred else None
        view = await open_view(engine, moment=at[label], defer=defer)
        built = time.perf_counter()
        if deferred:
            label += ", deferred"
        try:
            summary = await report(view.sessions, scope)
        finally:
            reported = time.perf_counter()
            await view.close()
        closed = time.perf_counter()
        note(f"asOf {label}: build view ({view.rows} rows)", built - started)
        note(f"asOf {label}: report on the view", reported - built)
        note(f"asOf {label}: close", closed - reported)
        note(f"asOf {label}: all", closed - started)
        if label.startswith("full") and (summary.groups, summary.total) != (
            live.groups,
            live.total,
        ):
            raise SystemExit("service: asOf full differs from live")

    async def copied() -> None:
        # A view of now copies the real tables (no trail decoded): what building a view
        # would cost if the past states were kept typed (a snapshot, history tables).
        started = time.perf_counter()
        view = await open_view(engine)
        built = time.perf_counter()
        try:
            await report(view.sessions, scope)
        finally:
            reported = time.perf_counter()
            await view.close()
        note(f"view of now, copied: build ({view.rows} rows)", built - started)
        note("view of now, copied: report on the view", reported - built)

    async def live_rollups() -> None:
        started = time.perf_counter()
        await report(sessions, scope)
        note("live from rollups", time.perf_counter() - started)

    async def live_records() -> None:
        started = time.perf_counter()
        await report(sessions, replace(scope, rollups=None))
        note("live from records", time.perf_counter() - started)

    # Statements of one build of each moment, by time (the warm-up's).
    statements: list[tuple[float, str]] = []
    starts: list[float] = []

    def before(*_: Any) -> None:
        starts.append(time.perf_counter())

    def after(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append((time.perf_counter() - starts.pop(), " ".join(statement.split())))

    watched = view_engine(engine).sync_engine
    for label in ("full", "half"):
        event.listen(watched, "before_cursor_execute", before)
        event.listen(watched, "after_cursor_execute", after)
        try:
            await as_of(label)
        finally:
            event.remove(watched, "before_cursor_execute", before)
            event.remove(watched, "after_cursor_execute", after)
        total = sum(s for s, _ in statements)
        notes.append(
            f"one asOf {label} (warm-up): {len(statements)} statements, {total:.2f} s in them; "
            "the slowest:"
        )
        for seconds, statement in sorted(statements, reverse=True)[:8]:
            notes.append(f"  {seconds * 1000:9.1f} ms  {statement[:150]}")
        by_table: dict[str, float] = {}
        for seconds, statement in statements:
            by_table[_table_of(statement)] = by_table.get(_table_of(statement), 0.0) + seconds
        notes.append(
            "  by table (create, fill, indexes, statistics; 'report': the report's own): "
            + ", ".join(
                f"{name} {seconds * 1000:.0f} ms"
                for name, seconds in sorted(by_table.items(), key=lambda kv: -kv[1])
            )
        )
        statements.clear()
    found.clear()
    await live_rollups()
    await live_records()
    await copied()
    found.clear()
    for _ in range(runs):
        await live_rollups()
        await live_records()
        await as_of("full")
        await as_of("half")
        await as_of("full", deferred=True)
        await as_of("half", deferred=True)
        await copied()
    return {name: statistics.median(times) for name, times in found.items()}, notes


async def measure(backend: str, size: str, runs: int, graphql_only: bool) -> None:
    url = database_url(backend, size)
    SEED_REFS[:] = [ref(size, seed) for seed in SEEDS]
    rollups.install()
    engine = ledger_engine(url)
    try:
        if backend == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        sessions = ledger_sessions(engine, actor=ACTOR)
        at = await moments(sessions)
        async with sessions() as session:
            counted = {
                name: await session.scalar(select(func.count()).select_from(model))
                for name, model in (
                    ("transactions", m.Transaction),
                    ("budget lines", m.BudgetLine),
                    ("trail entries", m.Change),
                )
            }
        print(
            f"{backend} {size}: "
            + ", ".join(f"{n} {name}" for name, n in counted.items())
            + f"; moments full {at['full'].isoformat()}, half {at['half'].isoformat()}",
            flush=True,
        )
        medians, checks = await through_graphql(url, engine, at, size, runs)
        print(f"  GraphQL in process, median of {runs} (round-robin, after a warm-up):")
        for kind in ("summary", "list"):
            live = medians[f"{kind} live"]
            print(
                f"    {kind:8} live {live * 1000:9.1f} ms"
                + "".join(
                    f" | asOf {label} {medians[f'{kind} asOf {label}'] * 1000:9.1f} ms"
                    f" ({medians[f'{kind} asOf {label}'] / live:6.1f}x live)"
                    for label in ("full", "half")
                )
            )
        for line in checks:
            print(f"    {line}")
        print(f"  uptime: {_uptime()}", flush=True)
        if graphql_only:
            return
        parts, notes = await breakdown(engine, at, runs)
        print(f"  breakdown through the service, median of {runs}:")
        rollup = parts["live from rollups"]
        for name, seconds in parts.items():
            print(f"    {seconds * 1000:9.1f} ms  {seconds / rollup:7.1f}x rollups  {name}")
        for line in notes:
            print(f"    {line}")
        print(f"  uptime: {_uptime()}", flush=True)
    finally:
        await engine.dispose()


_TABLE = re.compile(
    r"^(?:CREATE TEMP TABLE|INSERT INTO|CREATE (?:UNIQUE )?INDEX \S+ ON|ANALYZE|DELETE FROM)"
    r" \"?(\w+)"
)


def _table_of(statement: str) -> str:
    """The shadow a statement of a view's build works on; "report" for the report's
    statements, "other" for the rest (the moment's sequence, the search path)."""
    if statement.startswith(("WITH", "SELECT")) and "records" in statement[:40]:
        return "report"
    found = _TABLE.match(statement)
    return found.group(1) if found else "other"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--size", choices=tuple(HALVES), default="S")
    parser.add_argument("--reuse", action="store_true", help="use the database already made")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each case")
    parser.add_argument(
        "--graphql-only", action="store_true", help="without the breakdown through the service"
    )
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        print(f"uptime before setup: {_uptime()}", flush=True)
        made = setup(backend, args.size, args.reuse)
        if made:
            print(
                f"{backend} {args.size}: "
                + ", ".join(f"{name} {seconds:.1f}" for name, seconds in made.items()),
                flush=True,
            )
        asyncio.run(measure(backend, args.size, args.runs, args.graphql_only))


if __name__ == "__main__":
    main()

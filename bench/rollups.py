"""Budget summaries from rollups, against a plain GROUP BY of the same rows.

One database per backend: `pledge-ledger db upgrade`, `generate` (100 initiatives,
10k budget lines, 100k transactions at S; 1M at L), then `rollups build USD` (timed:
one pass over every record). In process, on one session each, the median of RUNS
after a warm-up:

- rollups: `budgetSummary` by initiative and year in USD (the service, as the API
  calls it), read from the rollups;
- records: the same report from the records (each converted at its value date's rate);
- plain: a GROUP BY of the same budget lines and transactions by initiative and year,
  summing the stored amounts without any conversion (the floor the goal is set
  against: rollups within 1.2x of it);
- a write: one transaction added and committed (the unit of work's ORM path), with
  the rollups kept and without, the cost of keeping them.

    .venv/bin/python bench/rollups.py --backend both --size S
    .venv/bin/python bench/rollups.py --backend postgresql --size L --reuse
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import bench_databases

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from sqlalchemy import func, select, text  # noqa: E402

from app import models as m  # noqa: E402
from app.audit.records import SYSTEM_ROLE, Actor  # noqa: E402
from app.engines import ledger_engine, ledger_sessions  # noqa: E402
from app.kit.filtering import FilterLimits  # noqa: E402
from app.reports.budget import rollups, service  # noqa: E402
from app.reports.budget.filters import BudgetScope  # noqa: E402
from app.reports.budget.repository import Dimension  # noqa: E402

SIZES = {"S": (100, 10_000, 100_000), "L": (100, 10_000, 1_000_000)}
RUNS = 7
ACTOR = Actor("bench", SYSTEM_ROLE)

PLAIN = {
    "postgresql": """
SELECT initiative_id, yr, SUM(amount), COUNT(*) FROM (
  SELECT initiative_id, CAST(EXTRACT(YEAR FROM period_start) AS INTEGER) AS yr, amount
    FROM budget_lines
  UNION ALL
  SELECT initiative_id, CAST(EXTRACT(YEAR FROM transaction_date) AS INTEGER), amount
    FROM transactions) AS r
GROUP BY initiative_id, yr ORDER BY initiative_id, yr""",
    "sqlite": """
SELECT initiative_id, yr, SUM(amount), COUNT(*) FROM (
  SELECT initiative_id, CAST(STRFTIME('%Y', period_start) AS INTEGER) AS yr, amount
    FROM budget_lines
  UNION ALL
  SELECT initiative_id, CAST(STRFTIME('%Y', transaction_date) AS INTEGER), amount
    FROM transactions) AS r
GROUP BY initiative_id, yr ORDER BY initiative_id, yr""",
}


def database_url(backend: str, size: str) -> str:
    name = f"rollups_{size.lower()}" if backend == "sqlite" else f"pledge_rollups_{size.lower()}"
    return bench_databases.database_url(backend, name)


def setup(backend: str, size: str, reuse: bool) -> dict[str, float]:
    url = database_url(backend, size)
    if reuse:
        return {}
    bench_databases.remake(backend, url)
    initiatives, lines, transactions = SIZES[size]
    generated = bench_databases.cli(
        url,
        "generate",
        *("--initiatives", str(initiatives), "--budget-lines", str(lines)),
        *("--transactions", str(transactions), "--seed", "1"),
    )
    built = bench_databases.cli(url, "rollups", "build", "USD")
    return {"generate_s": generated, "rollups_build_s": built}


async def _median(work: Callable[[], Awaitable[Any]]) -> float:
    await work()  # warm-up: caches, statistics, compiled statements
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def measure(backend: str, size: str) -> dict[str, Any]:
    engine = ledger_engine(database_url(backend, size))
    rollups.install()
    sessions = ledger_sessions(engine, actor=ACTOR)
    scope = BudgetScope.of(None, FilterLimits())
    dims = [Dimension.INITIATIVE, Dimension.YEAR]
    try:
        if backend == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))

        async def report(use: BudgetScope) -> service.Summary:
            async with sessions() as session, session.begin():
                return await service.budget_summary(
                    session, dimensions=dims, scope=use, currency="USD", max_groups=10_000
                )

        async def plain() -> list[Any]:
            async with sessions() as session, session.begin():
                return list((await session.execute(text(PLAIN[backend]))).all())

        from_rollups, from_records = await report(scope), await report(replace(scope, rollups=None))
        same = (from_rollups.groups, from_rollups.total) == (
            from_records.groups,
            from_records.total,
        )
        async with sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(m.BudgetRollup))
            records = sum(
                [
                    await session.scalar(select(func.count()).select_from(m.Transaction)) or 0,
                    await session.scalar(select(func.count()).select_from(m.BudgetLine)) or 0,
                ]
            )
            initiative_id = await session.scalar(select(func.min(m.Initiative.id)))
        result: dict[str, Any] = {
            "groups": len(from_rollups.groups),
            "records": records,
            "rollup_rows": rows,
            "same_to_the_cent": same,
            "rollups_s": await _median(lambda: report(scope)),
            "records_s": await _median(lambda: report(replace(scope, rollups=None))),
            "plain_s": await _median(plain),
        }

        async def one_write() -> None:
            async with sessions() as session, session.begin():
                session.add(
                    m.Transaction(
                        initiative_id=initiative_id,
                        type=m.TransactionType.DISBURSEMENT,
                        transaction_date=date(2024, 5, 1),
                        amount=Decimal("10.00"),
                        currency="EUR",
                        value_date=date(2024, 5, 1),
                        ref=None,
                    )
                )

        result["write_kept_s"] = await _median(one_write)
        async with sessions() as session, session.begin():
            await rollups.forget(session, ["USD"])
        result["write_unkept_s"] = await _median(one_write)
        bench_databases.cli(database_url(backend, size), "rollups", "build", "USD")
        return result
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--size", choices=tuple(SIZES), default="S")
    parser.add_argument("--reuse", action="store_true", help="use the database already made")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        made = setup(backend, args.size, args.reuse)
        found = asyncio.run(measure(backend, args.size))
        found.update(made)
        ratio = found["rollups_s"] / found["plain_s"]
        print(
            f"{backend} {args.size}: {found['records']} records, {found['rollup_rows']} rollup "
            f"rows, {found['groups']} groups, same to the cent: {found['same_to_the_cent']}\n"
            f"  budgetSummary(INITIATIVE, YEAR, USD) from rollups "
            f"{found['rollups_s'] * 1000:.1f} ms"
            f", from records {found['records_s'] * 1000:.1f} ms, plain GROUP BY "
            f"{found['plain_s'] * 1000:.1f} ms\n"
            f"  ratio rollups/plain {ratio:.2f}, records/plain "
            f"{found['records_s'] / found['plain_s']:.2f}\n"
            f"  one write: {found['write_kept_s'] * 1000:.1f} ms with rollups kept, "
            f"{found['write_unkept_s'] * 1000:.1f} ms without"
            + (
                f"\n  generate {found['generate_s']:.1f} s, rollups build USD "
                f"{found['rollups_build_s']:.1f} s"
                if made
                else ""
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

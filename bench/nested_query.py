"""Latency and SQL cost of dashboard and nested-report queries, through real HTTP.

Builds a database (SQLite file by default, or --database-url), migrates it, loads the
demo plus synthetic programmes, starts the service with uvicorn in a subprocess, and
times each query over HTTP. Statement counts are measured in-process on the same data.

    .venv/bin/python bench/nested_query.py --initiatives 200 --lines 5 --transactions 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import models as m
from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import StatementCounter
from app.demo.loader import load_demo
from app.engines import ledger_engine, ledger_sessions
from app.main import create_app

QUERIES = {
    "dashboard": """{ program { name pledged { amount currency } allocated { amount currency }
        unallocated { amount currency } initiatives(first: 10) { totalCount
        nodes { code title status budget { amount currency } } } } }""",
    "nested_report": """{ programs(first: 5) { nodes { name initiatives(first: 100) { nodes {
        code budget { amount currency } budgetLines(first: 10) { nodes { amount { amount currency }
        transactions(first: 20) { totalCount nodes { type date amount { amount currency } } }
        } } } } } } }""",
    "filtered_list": """{ transactions(first: 50, filter: {and: [{amount: {gte: "1000.00"}},
        {initiative: {status: {eq: IMPLEMENTATION}}}]}, orderBy: [{field: AMOUNT, direction: DESC}])
        { totalCount nodes { amount { amount currency } initiative { code } } } }""",
}


async def build(url: str, initiatives: int, lines: int, transactions: int, seed: int) -> None:
    rng = random.Random(seed)
    engine = ledger_engine(url)
    await upgrade(engine)
    sessions = ledger_sessions(engine)
    async with sessions() as session, session.begin():
        await load_demo(session)
        sponsor = m.Organization(
            ref="bench-org", name="Bench Org", kind=m.OrganizationKind.FOUNDATION
        )
        session.add(sponsor)
        await session.flush()
        program = m.Program(
            ref="bench",
            name="Bench programme",
            sponsor_id=sponsor.id,
            pledged_amount=Decimal("1e12"),
            pledged_currency="CNY",
            announced_on=date(2021, 1, 1),
            deadline=date(2025, 12, 31),
        )
        session.add(program)
        await session.flush()
        for i in range(initiatives):
            ini = m.Initiative(
                program_id=program.id,
                code=f"B-{i:05d}",
                position=i,
                title=f"Bench {i}",
                status=rng.choice(list(m.InitiativeStatus)),
                region="CN",
            )
            session.add(ini)
            await session.flush()
            for j in range(lines):
                start = date(2021 + j % 5, 1, 1)
                line = m.BudgetLine(
                    initiative_id=ini.id,
                    period_start=start,
                    period_end=start.replace(month=12, day=31),
                    type=m.BudgetType.ORIGINAL,
                    status=m.BudgetStatus.COMMITTED,
                    amount=Decimal(rng.randint(1, 10**9)) / 100,
                    currency="CNY",
                    value_date=start,
                )
                session.add(line)
                await session.flush()
                session.add_all(
                    m.Transaction(
                        initiative_id=ini.id,
                        budget_line_id=line.id,
                        type=rng.choice(list(m.TransactionType)[:4]),
                        transaction_date=start + timedelta(days=rng.randint(0, 364)),
                        amount=Decimal(rng.randint(1, 10**7)) / 100,
                        currency="CNY",
                        value_date=start,
                    )
                    for _ in range(transactions)
                )
    await engine.dispose()


async def statements(url: str) -> dict[str, int]:
    engine = ledger_engine(url)
    app = create_app(Settings(database_url=url, anonymous_read=True), engine=engine)
    counts = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        for name, query in QUERIES.items():
            with StatementCounter(engine) as counter:
                r = await c.post("/graphql", json={"query": query})
                assert "errors" not in r.json(), r.text[:500]
            counts[name] = counter.count
    await engine.dispose()
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_over_http(url: str, runs: int) -> dict[str, tuple[float, float, int]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        # The bench reads without a key, as the demo's dashboards may.
        "ANONYMOUS_READ": "true",
        "RATE_LIMIT_PER_ADDRESS": "",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(100):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            results = {}
            for name, query in QUERIES.items():
                client.post("/graphql", json={"query": query})  # warm up
                samples = []
                size = 0
                for _ in range(runs):
                    t0 = time.perf_counter()
                    r = client.post("/graphql", json={"query": query})
                    samples.append((time.perf_counter() - t0) * 1000)
                    size = len(r.content)
                samples.sort()
                p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
                results[name] = (statistics.median(samples), p95, size)
            return results
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--initiatives", type=int, default=200)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--transactions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
    t0 = time.perf_counter()
    asyncio.run(build(url, args.initiatives, args.lines, args.transactions, args.seed))
    print(
        f"built {args.initiatives} initiatives x {args.lines} lines x {args.transactions} "
        f"transactions on {url.split(':')[0]} in {time.perf_counter() - t0:.1f}s"
    )
    counts = asyncio.run(statements(url))
    for name, (p50, p95, size) in time_over_http(url, args.runs).items():
        print(
            f"{name:14s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
            f"{counts[name]:3d} SQL  {size:9d} bytes"
        )


if __name__ == "__main__":
    main()

"""What a caller's identity costs per request: anonymous, an API key, a partner's view.

A small query (the demo's first ten initiatives) in-process over ASGI, so the figures
are the service's own work: no network, no uvicorn. An API key costs one indexed
lookup; a partner's operation runs on a view of its initiatives (app/views).

"+ writes": a commit before every request (an initiative's title, round robin over the
demo's initiatives, two in ten of them the partner's), outside the timed part: the
trail's head moves before each request, as in production while others write, so the
partner's kept view is never current as it stands. Two writes land between one
partner + writes request and the next, so two in five of those find one of the
partner's own initiatives changed; `--writes own` writes to the partner's initiatives
only, so that every one of them does. Rate limits are off (a bench makes thousands of
requests a minute).

    .venv/bin/python bench/request_overhead.py --backend both --runs 1000
    .venv/bin/python bench/request_overhead.py --backend both --runs 1000 --writes own

`--database NAME` names the PostgreSQL database made and dropped (default bench_overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import select

from app import models as m
from app.audit.records import Actor
from app.auth.keys import create_key
from app.auth.roles import Role
from app.config import Settings
from app.db.migrate import upgrade
from app.demo.loader import load_demo
from app.engines import ledger_engine, ledger_sessions
from app.main import create_app

QUERY = "{ initiatives(first: 10) { edges { node { code title } } } }"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
# (caller, whether a commit precedes each request)
CASES = [
    ("anonymous", False),
    ("viewer", False),
    ("partner", False),
    ("viewer", True),
    ("partner", True),
]


async def database(backend: str, workdir: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'overhead.db'}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def measure(backend: str, runs: int, own_writes: bool, name: str) -> None:
    url = await database(backend, Path(tempfile.mkdtemp(prefix="bench_overhead_")), name)
    engine = ledger_engine(url)
    try:
        await upgrade(engine)
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        sessions = ledger_sessions(engine, actor=Actor("bench", "system"))
        async with sessions() as session, session.begin():
            await load_demo(session)
            for role in ("viewer", "partner"):
                _, secret = await create_key(
                    session,
                    name=f"bench-{role}",
                    role=Role(role),
                    initiative_codes=["CP-01", "CP-02"] if role == "partner" else [],
                    created_by="bench",
                )
                headers[role] = {"Authorization": f"Bearer {secret}"}
            ids = list(await session.scalars(select(m.Initiative.id).order_by(m.Initiative.id)))
            if own_writes:
                partners = select(m.Initiative.id).where(m.Initiative.code.in_(["CP-01", "CP-02"]))
                ids = list(await session.scalars(partners.order_by(m.Initiative.id)))
        settings = Settings(
            database_url=url,
            log_level="WARNING",
            anonymous_read=True,
            rate_limit_per_address="",
            rate_limit_per_key="",
        )
        writes = 0

        async def write() -> None:
            nonlocal writes
            writes += 1
            async with sessions() as session, session.begin():
                initiative = await session.get(m.Initiative, ids[writes % len(ids)])
                assert initiative is not None
                initiative.title = f"{initiative.title.split(' #')[0]} #{writes}"

        app = create_app(settings, engine=engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            # Round robin over the cases, so that the machine's load drifts alike on all.
            times: dict[tuple[str, bool], list[float]] = {case: [] for case in CASES}
            # The process's CPU per request (the client's share is alike for all): what a
            # loaded machine's waits for the CPU and the database do not blur.
            cpu: dict[tuple[str, bool], list[float]] = {case: [] for case in CASES}
            for i in range(runs + 50):
                for caller, writing in CASES:
                    if writing:
                        await write()
                    started, used = time.perf_counter(), time.process_time()
                    response = await http.post(
                        "/graphql", json={"query": QUERY}, headers=headers[caller]
                    )
                    if i >= 50:  # the first 50 rounds warm caches up
                        times[caller, writing].append(time.perf_counter() - started)
                        cpu[caller, writing].append(time.process_time() - used)
                    assert response.status_code == 200 and "errors" not in response.json()
            p50s: dict[tuple[str, bool], float] = {}
            for (caller, writing), taken in times.items():
                taken.sort()
                p50 = p50s[caller, writing] = statistics.median(taken) * 1000
                p95 = taken[int(0.95 * (len(taken) - 1))] * 1000
                ratio = f"{p50 / p50s['viewer', writing]:.2f}" if caller != "anonymous" else ""
                label = caller + (" + writes" if writing else "")
                used = statistics.mean(cpu[caller, writing]) * 1000
                print(
                    f"| {backend} | {label} | {p50:.2f} | {p95:.2f} | {ratio} | {used:.2f} |",
                    flush=True,
                )
            ratio = p50s["partner", True] / p50s["viewer", False]
            print(f"| {backend} | partner + writes ÷ viewer (no writes) | | | {ratio:.2f} | |")
    finally:
        await engine.dispose()
        if backend == "postgresql":
            admin = await asyncpg.connect(PG_ADMIN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-request cost of the caller's identity.")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--writes",
        choices=["any", "own"],
        default="any",
        help="what '+ writes' commits to: any initiative, or the partner's only",
    )
    parser.add_argument(
        "--database",
        default="bench_overhead",
        help="the PostgreSQL database made for the run and dropped after it",
    )
    args = parser.parse_args()
    print("| backend | caller | p50 ms | p95 ms | ÷ viewer | CPU ms (mean) |")
    print("|---|---|---|---|---|---|")
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        asyncio.run(measure(backend, args.runs, args.writes == "own", args.database))


if __name__ == "__main__":
    main()

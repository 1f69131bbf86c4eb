"""In-process work of the benchmark: statement counts, the floor-equals-API check, one
request under cProfile, and the plans of a request's SQL (httpx against the ASGI app,
as tests/conftest.py does, so the engine's statements can be watched)."""

from __future__ import annotations

import cProfile
import json
import pstats
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import floor
import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.session import StatementCounter
from app.engines import ledger_engine
from app.main import create_app


@dataclass
class Check:
    statements: int
    floor_statements: int
    same: bool
    notes: list[str] = field(default_factory=list)


@asynccontextmanager
async def client(url: str) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncEngine]]:
    engine = ledger_engine(url)
    app = create_app(Settings(database_url=url, log_level="WARNING"), engine=engine)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=900) as c:
            yield c, engine
    finally:
        await engine.dispose()


async def program_id(url: str) -> int:
    engine = ledger_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT max(id) FROM programs WHERE ref LIKE 'synthetic-%'")
            )
    finally:
        await engine.dispose()
    if found is None:
        raise SystemExit(f"no synthetic programme in {url}")
    return int(found)


def _first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r:.80} != {b!r:.80}"
    if isinstance(a, dict):
        for key in dict.fromkeys([*a, *b]):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'API' if key in a else 'floor'}"
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: API {a!r:.80} != floor {b!r:.80}"


async def check(url: str, program: int, names: list[str]) -> dict[str, Check]:
    """Statements per request of the API and of the floor, and whether their JSON agrees."""
    out = {}
    async with client(url) as (http, engine):
        for name in names:
            with StatementCounter(engine) as api_sql:
                t0 = time.perf_counter()
                response = await http.post("/graphql", json=floor.api_request(name, program))
                api_s = time.perf_counter() - t0
            body = response.json()
            if "errors" in body:
                raise SystemExit(f"{name}: {json.dumps(body['errors'])[:800]}")
            with StatementCounter(engine) as floor_sql:
                mine = json.loads(await floor.run_floor(engine, name, program))
            diff = _first_difference(body["data"], mine["data"])
            notes = [f"first in-process request {api_s:.1f} s"] if api_s > 5 else []
            if diff:
                notes.append(f"differs at {diff}")
            out[name] = Check(api_sql.count, floor_sql.count, diff is None, notes)
    return out


def _bucket(filename: str, function: str) -> str:
    """Which library (or part of the app) a profiled function belongs to."""
    found = re.search(r"site-packages/([A-Za-z_]+)", filename)
    if found:
        return found.group(1)
    found = re.search(r"/app/([a-z_]+)", filename)
    if found:
        return f"app.{found.group(1)}"
    if filename == "~":
        return f"builtin {function.split(' of ')[0].strip('<>')}"[:50]
    found = re.search(r"python3\.\d+/([a-z_]+)", filename)
    return f"stdlib {found.group(1)}" if found else filename[-40:]


async def profile(url: str, name: str, top: int = 25) -> None:
    """One request in-process under cProfile, after two warm-ups: where the time goes."""
    program = await program_id(url)
    async with client(url) as (http, _engine):
        request = floor.api_request(name, program)
        for _ in range(2):
            await http.post("/graphql", json=request)
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        await http.post("/graphql", json=request)
        profiler.disable()
        wall = time.perf_counter() - t0
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    buckets: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        buckets[_bucket(filename, function)] += tottime
    profiled = sum(buckets.values())
    print(
        f"\n== {name} on {url.split(':')[0]}: {wall * 1000:.0f} ms wall under the profiler, "
        f"{profiled * 1000:.0f} ms of Python in this thread (the rest: waiting for the "
        "database, or SQLite's own thread)"
    )
    for bucket, seconds in sorted(buckets.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {seconds * 1000:8.1f} ms  {seconds / profiled:5.1%}  {bucket}")
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


async def explain(url: str, name: str) -> None:
    """Each statement of one API request and of its floor, timed alone, with its plan."""
    program = await program_id(url)
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    async with client(url) as (http, engine):
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        await http.post("/graphql", json=floor.api_request(name, program))
        api = list(seen)
        seen.clear()
        await floor.run_floor(engine, name, program)
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        pg = engine.dialect.name == "postgresql"
        for label, statements in (("API", api), ("floor", list(seen))):
            for i, (statement, parameters) in enumerate(statements, 1):
                async with engine.connect() as conn:
                    t0 = time.perf_counter()
                    await conn.exec_driver_sql(statement, parameters)
                    alone = time.perf_counter() - t0
                    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
                    plan: list[Any] = list(
                        (await conn.exec_driver_sql(prefix + statement, parameters)).all()
                    )
                print(f"\n== {label} statement {i}/{len(statements)}: {alone * 1000:.1f} ms alone")
                print(statement if len(statement) < 6000 else statement[:6000] + " ...")
                for row in plan:
                    print("   ", row[0] if pg else f"{row[1]:>3} {row[3]}")

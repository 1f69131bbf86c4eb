"""What opening and closing a small asOf view costs on PostgreSQL, and its parts.

The view an `asOf` list builds (budget lines and transactions deferred to the trail, as
app/graphql/extensions/views.py `deferral_of` asks for a plain list), as of now, on
`as_of.py`'s database (make it first with `as_of.py --backend postgresql --size S`).
Alternated in one process, median of the runs after two warm-ups:

- open: the build's statements sent as scripts (`repository.run_statements`, this
  code) against one by one through SQLAlchemy (a prepare and an execute each, as
  before h17asoflist), the rest of the build the same;
- close: `View.close` against the closing handshake by hand (whose reply waits for
  the server to drop the TEMP objects): the same since the review of h17asoflist
  reverted dropping the connection (it let the server hold more than MAX_VIEWS);
- the parts of one build (`--parts`): connecting, each read, each script.

    BENCH_DATABASE_PREFIX=pledge .venv/bin/python bench/view_build.py --runs 15 --parts
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_databases

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402

from app.db.session import create_engine  # noqa: E402
from app.graphql.extensions.views import DEFERRABLE  # noqa: E402
from app.views import repository  # noqa: E402
from app.views.views import Deferral, open_view, view_engine  # noqa: E402

PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "pledge")
SCRIPTED = repository.run_statements


async def one_by_one(conn: AsyncConnection, statements: list[str]) -> list[int]:
    for statement in statements:
        await conn.execute(text(statement))
    return []


def timed(times: dict[str, list[float]], name: str, fn: Callable[..., Awaitable[Any]]) -> Any:
    async def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            times[name].append((time.perf_counter() - started) * 1000)

    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="S")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args()
    url = bench_databases.database_url("postgresql", f"{PREFIX}_as_of_{args.size.lower()}")
    engine = create_engine(url)
    defer = Deferral(DEFERRABLE, frozenset({"USD"}))
    times: dict[str, list[float]] = defaultdict(list)
    print(f"{url}, {os.getloadavg()[0]:.1f} load (1 min)")
    for run in range(args.runs + 2):
        for scripts in (True, False):
            repository.run_statements = SCRIPTED if scripts else one_by_one  # type: ignore[assignment]
            started = time.perf_counter()
            view = await open_view(engine, moment=datetime.now(UTC), defer=defer)
            opened = time.perf_counter()
            if scripts:
                await view.close()
            else:
                await view.shared.close()  # the closing handshake
            closed = time.perf_counter()
            if run >= 2:
                how = "scripts, dropped" if scripts else "one by one, polite close"
                times[f"open ({how})"].append((opened - started) * 1000)
                times[f"close ({how})"].append((closed - opened) * 1000)
    repository.run_statements = SCRIPTED  # type: ignore[assignment]
    if args.parts:
        parts: dict[str, list[float]] = defaultdict(list)
        for name in ("real_schema", "sequence_at", "shadow_rollups", "count_rows"):
            setattr(repository, name, timed(parts, name, getattr(repository, name)))
        first = timed(parts, "script 1 (create, fill)", SCRIPTED)
        second = timed(parts, "script 2 (index, end)", SCRIPTED)

        async def named(conn: AsyncConnection, statements: list[str]) -> list[int]:
            filling = any("CREATE TEMP TABLE" in s for s in statements)
            return list(await (first if filling else second)(conn, statements))

        repository.run_statements = named  # type: ignore[assignment]
        for _ in range(args.runs + 2):
            started = time.perf_counter()
            connection = await view_engine(engine).connect()
            parts["connect (alone)"].append((time.perf_counter() - started) * 1000)
            await connection.close()
            started = time.perf_counter()
            view = await open_view(engine, moment=datetime.now(UTC), defer=defer)
            parts["open (all)"].append((time.perf_counter() - started) * 1000)
            await view.close()
        for values in parts.values():
            del values[:2]
        times.update(parts)
    for name, values in times.items():
        print(f"  {name:36} {statistics.median(values):7.1f} ms  (min {min(values):.1f})")
    print(f"  load (1 min) {os.getloadavg()[0]:.1f}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())

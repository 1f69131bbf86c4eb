"""The compiled read path with and without the answer written by PostgreSQL (issue 15).

Two apps in this process on bench/peers.py's 100k database, the same settings as its
project server but `compiled_reads_in_database`: on (PostgreSQL writes the answer's JSON
in one statement, app/graphql/compiled/in_database.py) and off (the rows of one
statement per level of lists, built into the answer in Python). Each of peers.py's reads
is asked of both, request by request alternating, through ASGI (no sockets); the two
answers must be the same bytes. Prints the medians and their ratio.

    .venv/bin/python bench/written_json.py [--runs 10] [--database pledge_bench_peers]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import peers  # noqa: E402  (bench/peers.py: its database)
from peer_reads import READS  # noqa: E402

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402


async def measure(runs: int) -> None:
    async with AsyncExitStack() as stack:
        clients: dict[bool, httpx.AsyncClient] = {}
        for written in (True, False):
            app = create_app(
                Settings(
                    database_url=peers._url("postgresql+asyncpg"),
                    anonymous_read=True,
                    max_page_size=10_000,
                    rate_limit_per_address="",
                    compiled_reads_in_database=written,
                )
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[written] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
            )
        print("| read | written by PostgreSQL, p50 ms | built from rows, p50 ms | ratio | load |")
        print("|---|---|---|---|---|")
        for name, read in READS.items():
            times: dict[bool, list[float]] = {True: [], False: []}
            bodies: dict[bool, bytes] = {}
            for run in range(runs + 1):  # the first round warms up
                for written in (True, False) if run % 2 else (False, True):
                    start = time.perf_counter()
                    response = await clients[written].post("/graphql", json={"query": read.project})
                    if run:
                        times[written].append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text[:300]
                    bodies[written] = response.content
            assert bodies[True] == bodies[False], f"{name}: the answers differ"
            on, off = (statistics.median(times[w]) * 1000 for w in (True, False))
            load = os.getloadavg()[0]
            print(f"| {name} | {on:.1f} | {off:.1f} | {on / off:.2f} | {load:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="requests per read and path")
    parser.add_argument("--database", default=peers.DATABASE)
    args = parser.parse_args()
    peers.DATABASE = args.database
    peers.create_database("100k", reuse=True)
    asyncio.run(measure(args.runs))


if __name__ == "__main__":
    main()

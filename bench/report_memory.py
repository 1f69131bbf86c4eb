"""Memory of a large answer: what the server allocates at its peak while it answers the
auditor report (100 initiatives → 20 budget lines → 20 transactions: 2,000 lines and
21,300 transactions of the 100k data), against the size of the answer it sends
(issue 15's goal: at most about twice).

The database is bench/peers.py's (`pledge-ledger generate`, 100k, seed 1; reused when it
holds that scale). The report runs in-process over ASGI, once to warm up, then under
tracemalloc: the peak of memory allocated by Python during the request, above what was
allocated before it, for the compiled path and the reference executor. tracemalloc
counts Python's allocations (asyncpg's buffers are Python bytes, so they are in it)
and slows the request; the figure is memory, not time.

On SQLite the database runs inside the server's process, and what it allocates (its
page cache, the JSON text it writes: sqlite3_malloc, which tracemalloc does not see)
is the server's too: its own high-water mark (`sqlite3_status64`) is measured beside
and added, and the part of it that is page cache (at most `cache_size`, 2 MB, per
connection, whatever the answer's size: the request may take a pooled connection whose
cache is still cold) printed apart. The two peaks may come at different moments, so
their sum is an upper bound. The process's resident set (its peak, VmHWM, reset
before the request) is printed as well: it holds what allocators keep after freeing,
so it is the coarsest.

The response body is the server's: it counts. The client is handed each body message
empty (its size noted), as a server would let the body go once written to its socket;
before, the client's copy was taken out of the peak, but httpx's copy of a body sent
in one message is the server's very object, so the body was taken out and the figures
were one answer's size too low (bench/README.md).

    .venv/bin/python bench/report_memory.py
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_reads import READS  # (bench/peer_reads.py: the reads)
from peers import _url, create_database  # (bench/peers.py: its database)

from app.config import Settings
from app.main import create_app


class _SqliteMemory:
    """SQLite's own memory in this process (`sqlite3_status64(SQLITE_STATUS_MEMORY_USED)`)."""

    def __init__(self) -> None:
        import _sqlite3

        self._status = ctypes.CDLL(_sqlite3.__file__).sqlite3_status64

    def read(self, reset: bool = False, what: int = 0) -> tuple[int, int]:
        """(now, the most since the last reset) of all memory (`what` 0), or of the page
        cache (2: SQLITE_STATUS_PAGECACHE_OVERFLOW, the page cache's sqlite3_malloc)."""
        now, most = ctypes.c_int64(), ctypes.c_int64()
        self._status(what, ctypes.byref(now), ctypes.byref(most), int(reset))
        return now.value, most.value


def _reset_resident_peak() -> None:
    """VmHWM from VmRSS on (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _resident(name: str) -> int:
    """VmRSS or VmHWM of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(name)


async def measure(
    compiled: bool, query: str, url: str | None = None
) -> tuple[int, int, int, int, int]:
    """(answer bytes, peak bytes Python allocated above the start, SQLite's, of which
    its page cache, the resident set's) of one request."""
    settings = Settings(
        database_url=url or _url("postgresql+asyncpg"),
        anonymous_read=True,
        max_page_size=10_000,
        rate_limit_per_address="",
        compiled_reads=compiled,
        # The reference executor under tracemalloc runs past the 30 s default on a
        # busy machine: its answer would be a TIMEOUT, not the report measured.
        execution_timeout_seconds=3600,
    )
    app = create_app(settings)
    sizes: list[int] = []
    heads: list[bytes] = []
    # Once warm: the body's messages reach the client empty, their sizes noted.
    emptied = False

    async def server(scope: Any, receive: Any, send: Any) -> None:
        async def sent(message: Any) -> None:
            if emptied and message["type"] == "http.response.body":
                body = message.get("body", b"")
                sizes.append(len(body))
                if len(body) < 2000:  # an error (the warm answer is far larger)
                    heads.append(body)
                message = {**message, "body": b""}
            await send(message)

        await app(scope, receive, sent)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=server), base_url="http://bench") as c,
    ):
        warm = await c.post("/graphql", json={"query": query})
        assert warm.status_code == 200 and "errors" not in warm.json(), warm.text[:500]
        expected = len(warm.content)
        del warm
        emptied = True
        gc.collect()
        sqlite = _SqliteMemory()
        sqlite_start, _ = sqlite.read(reset=True)
        cache_start, _ = sqlite.read(reset=True, what=2)
        _reset_resident_peak()
        resident_start = _resident("VmRSS")
        tracemalloc.start()
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        response = await c.post("/graphql", json={"query": query})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        _, sqlite_most = sqlite.read()
        _, cache_most = sqlite.read(what=2)
        resident = _resident("VmHWM") - resident_start
        assert response.status_code == 200 and not response.content
        assert sum(sizes) == expected, heads  # the same answer as the warm request's
        sqlite_peak, cache_peak = sqlite_most - sqlite_start, cache_most - cache_start
        return sum(sizes), peak - start, sqlite_peak, cache_peak, resident


async def timed(query: str, url: str | None, runs: int) -> tuple[float, float]:
    """(p50, p95) ms of the compiled path's answer over ASGI, warm, untraced: that a
    change of memory costs no time."""
    settings = Settings(
        database_url=url or _url("postgresql+asyncpg"),
        anonymous_read=True,
        max_page_size=10_000,
        rate_limit_per_address="",
    )
    app = create_app(settings)
    times: list[float] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c,
    ):
        for run in range(runs + 3):
            start = time.perf_counter()
            response = await c.post("/graphql", json={"query": query})
            if run >= 3:  # three to warm up
                times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and b'"errors"' not in response.content[:20]
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--read", default="audit", choices=sorted(READS))
    parser.add_argument(
        "--database-url",
        help="another database holding the same data (SQLite: `pledge-ledger generate "
        "--initiatives 100 --budget-lines 10000 --transactions 100000 --seed 1` on it)",
    )
    parser.add_argument(
        "--timed", type=int, metavar="RUNS", help="instead: time RUNS answers of the compiled path"
    )
    args = parser.parse_args()
    if args.database_url is None:
        create_database("100k", reuse=True)
    query = READS[args.read].project
    if args.timed:
        p50, p95 = asyncio.run(timed(query, args.database_url, args.timed))
        print(f"{args.read}: compiled p50 {p50:.1f} ms, p95 {p95:.1f} ms ({args.timed} runs)")
        return
    print(
        "| path | answer | peak allocated by Python | ratio | SQLite's own peak (page cache) "
        "| ratio, both (without the cache) | resident set's growth |"
        "\n|---|---|---|---|---|---|---|"
    )
    for compiled in (True, False):
        size, peak, sqlite, cache, resident = asyncio.run(
            measure(compiled, query, args.database_url)
        )
        name = "compiled" if compiled else "reference executor"
        mb = 1e6
        print(
            f"| {name} | {size / mb:.2f} MB | {peak / mb:.2f} MB | {peak / size:.1f} "
            f"| {sqlite / mb:.2f} MB ({cache / mb:.2f} MB) | {(peak + sqlite) / size:.1f} "
            f"({(peak + sqlite - cache) / size:.1f}) | {resident / mb:.2f} MB |"
        )


if __name__ == "__main__":
    main()

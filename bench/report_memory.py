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
import gc
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_reads import READS  # (bench/peer_reads.py: the reads)
from peers import _url, create_database  # (bench/peers.py: its database)

from app.config import Settings
from app.main import create_app


async def measure(compiled: bool, query: str, url: str | None = None) -> tuple[int, int]:
    """(answer bytes, peak bytes allocated above the start) of one request."""
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
        tracemalloc.start()
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        response = await c.post("/graphql", json={"query": query})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert response.status_code == 200 and not response.content
        assert sum(sizes) == expected, heads  # the same answer as the warm request's
        return sum(sizes), peak - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--read", default="audit", choices=sorted(READS))
    parser.add_argument(
        "--database-url",
        help="another database holding the same data (SQLite: `pledge-ledger generate "
        "--initiatives 100 --budget-lines 10000 --transactions 100000 --seed 1` on it)",
    )
    args = parser.parse_args()
    if args.database_url is None:
        create_database("100k", reuse=True)
    query = READS[args.read].project
    print("| path | answer | peak allocated in the server | ratio |\n|---|---|---|---|")
    for compiled in (True, False):
        size, peak = asyncio.run(measure(compiled, query, args.database_url))
        name = "compiled" if compiled else "reference executor"
        print(f"| {name} | {size / 1e6:.2f} MB | {peak / 1e6:.2f} MB | {peak / size:.1f} |")


if __name__ == "__main__":
    main()

"""What an idle `changes` subscriber holds on the server, by source file (tracemalloc).

One process: the app under uvicorn on this event loop, and the benchmark's lean
WebSocket clients (subscriptions.py `Connection`). After a warm-up of 20 subscribers,
a snapshot; then N more, the server quiet again, another; the difference by file,
divided by N. tracemalloc counts Python allocations only (not the kernel's socket
buffers), and traces everything, so it is slow: use a few hundred subscribers.

    .venv/bin/python bench/subscriber_memory.py --subscribers 300 [--by lineno] [--top 20]
    .venv/bin/python bench/subscriber_memory.py --subscribers 300 --connections-only

`--connections-only`: the N connections send `connection_init` and nothing more, so
the difference with the full figure is what the subscription itself holds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from subscriptions import SELECTIONS, open_connections

BIN = Path(sys.executable).parent
PORT = 8893


async def run(count: int, top: int, by: str, connections_only: bool = False) -> None:
    import uvicorn

    from app.main import create_app

    config = uvicorn.Config(create_app, factory=True, port=PORT, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn's Server has no event for it)
        await asyncio.sleep(0.05)
    occurred: dict[int, str] = {}
    query = SELECTIONS["full"]
    warm = await open_connections(PORT, 20, occurred, query)
    await asyncio.sleep(1)
    gc.collect()
    before = tracemalloc.take_snapshot()
    idle = await open_connections(PORT, count, occurred, "" if connections_only else query)
    await asyncio.sleep(2)
    gc.collect()
    after = tracemalloc.take_snapshot()
    stats = after.compare_to(before, by)
    total = sum(s.size_diff for s in stats)
    what = "initialised connections" if connections_only else "idle subscribers"
    print(f"{count} {what}: {total / count / 1024:.1f} KB each (Python allocations)")
    print("| KB / subscriber | objects / subscriber | file |\n|---|---|---|")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        short = frame.filename.split("site-packages/")[-1].split("/wt/fan/")[-1]
        if by == "lineno":
            short = f"{short}:{frame.lineno}"
        print(f"| {stat.size_diff / count / 1024:.2f} | {stat.count_diff / count:.1f} | {short} |")
    for connection in warm + idle:
        if connection.transport is not None:
            connection.transport.close()
    server.should_exit = True
    await serving


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--by", choices=["filename", "lineno"], default="filename")
    parser.add_argument("--connections-only", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pledge-submem-"))
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            "LOG_LEVEL": "WARNING",
            "ANONYMOUS_READ": "true",
            "RATE_LIMIT_PER_ADDRESS": "",
            "RATE_LIMIT_PER_KEY": "",
        }
    )
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([str(BIN / "pledge-ledger"), *command], check=True, capture_output=True)
    tracemalloc.start(1)
    try:
        asyncio.run(run(args.subscribers, args.top, args.by, args.connections_only))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

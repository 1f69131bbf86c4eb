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

The benchmark's clients live in the same process: their sockets and transports are
counted too. `--server-only` traces 16 frames deep and leaves out every allocation
made with a frame of the client (bench/subscriptions.py) on its stack, so the figure
is the server's alone (slower still: use 200 or so).

    .venv/bin/python bench/subscriber_memory.py --subscribers 200 --server-only
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
ROOT = Path(__file__).resolve().parent.parent
PORT = 8893


CLIENT = "bench/subscriptions.py"


def _by_place(stats: list[tracemalloc.StatisticDiff], by: str) -> list[tuple[str, int, int]]:
    """Traceback statistics without the client's allocations, summed by the innermost
    frame's file (or line): (place, size, count), largest first."""
    places: dict[str, list[int]] = {}
    for stat in stats:
        if any(frame.filename.endswith(CLIENT) for frame in stat.traceback):
            continue
        frame = stat.traceback[-1] if len(stat.traceback) else None
        if frame is None:
            continue
        place = frame.filename if by == "filename" else f"{frame.filename}:{frame.lineno}"
        kept = places.setdefault(place, [0, 0])
        kept[0] += stat.size_diff
        kept[1] += stat.count_diff
    return sorted(((p, s, c) for p, (s, c) in places.items()), key=lambda t: -t[1])


async def run(
    count: int, top: int, by: str, connections_only: bool = False, server_only: bool = False
) -> None:
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
    if server_only:
        places = _by_place(after.compare_to(before, "traceback"), by)
    else:
        places = []
        for stat in after.compare_to(before, by):
            frame = stat.traceback[0]
            place = frame.filename if by == "filename" else f"{frame.filename}:{frame.lineno}"
            places.append((place, stat.size_diff, stat.count_diff))
    total = sum(size for _, size, _ in places)
    what = "initialised connections" if connections_only else "idle subscribers"
    whose = "the server's Python allocations" if server_only else "Python allocations"
    print(f"{count} {what}: {total / count / 1024:.1f} KB each ({whose})")
    print("| KB / subscriber | objects / subscriber | file |\n|---|---|---|")
    for place, size, objects in places[:top]:
        short = place.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
        print(f"| {size / count / 1024:.2f} | {objects / count:.1f} | {short} |")
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
    parser.add_argument("--server-only", action="store_true")
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
    tracemalloc.start(16 if args.server_only else 1)
    try:
        asyncio.run(
            run(args.subscribers, args.top, args.by, args.connections_only, args.server_only)
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Time and memory of the compiled read's answer on SQLite, shape by shape: the ones
SQLite writes in pieces and the ones built from rows (bench/README.md, sqlitemem).

    .venv/bin/python bench/sqlite_shapes.py TREE DATABASE_URL [--runs N] [--memory]

TREE: the checkout whose app/ is measured (this one, or main's `git archive`), run
with this checkout's report_memory.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

REPORT = (
    "initiatives(first: 100) { nodes { id code budgetLines(first: 20) { nodes { id "
    "amount { amount currency } periodStart transactions(first: 20) { nodes { id date "
    "type amount { amount currency } } } } } } }"
)
FLAT = "transactions(first: 10000) { %s }"
NODES = "nodes { id date amount { amount currency } }"
SHAPES = {
    "flat + pageInfo cursors": "{ "
    + FLAT
    % ("pageInfo { hasNextPage startCursor endCursor } " + NODES + " p2: pageInfo { endCursor }")
    + " }",
    "flat edges + cursor": "{ "
    + FLAT % "edges { cursor node { id date amount { amount currency } } }"
    + " }",
    "flat": "{ " + FLAT % NODES + " }",
    "report": "{ " + REPORT + " }",
    "report + a second root list": "{ " + REPORT + " p: programs(first: 1) { nodes { id } } }",
    "report under programs(first: 1)": "{ programs(first: 1) { nodes { id " + REPORT + " } } }",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("database_url")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    sys.path[:0] = [args.tree, str(Path(__file__).parent)]
    from report_memory import measure, timed

    name = Path(args.tree).resolve().name
    for shape, query in SHAPES.items():
        if args.memory:
            size, peak, sqlite, cache, _resident = asyncio.run(
                measure(True, query, args.database_url)
            )
            both = (peak + sqlite - cache) / size
            print(
                f"{name} {shape}: {size / 1e6:.2f} MB, Python {peak / size:.1f}x, both {both:.1f}x"
            )
        else:
            p50, p95 = asyncio.run(timed(query, args.database_url, args.runs))
            print(f"{name} {shape}: p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)


if __name__ == "__main__":
    main()

"""The compiled read's one statement on SQLite, timed in sqlite3 itself: what SQLite's
JSON text costs per row, without the server around it (issue 15, SQLite clause).

The project answers each of bench/peer_reads.py's reads once in this process (ASGI, no
sockets), the statement it sends is kept, and then run `--runs` times by Python's
sqlite3 on its own connection to the same file (the project's SQL functions registered
as the server registers them), all its rows fetched; beside it the floor's plain SELECT
of the same rows (bench/peer_floor.py). Prints each one's median and a digest of the
statement's rows, which a change of how the text is spelled must leave as it was.

`--save FILE` keeps the statements sent; `--with FILE` times statements another checkout
saved beside this one's, run by run alternating (side by side, under the same load):

    PYTHONPATH=OTHER_TREE .venv/bin/python bench/sqlite_statement.py DB --save before.json
    .venv/bin/python bench/sqlite_statement.py /tmp/pledge_bench/NAME_100k.db \
        [--runs 15] [--with before.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import peer_floor  # noqa: E402  (the floor's statements)
from peer_reads import READS  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db.functions import SQLITE_BASE64URL, SQLITE_LOWER, python_base64url, python_lower  # noqa: E402
from app.main import create_app  # noqa: E402

FLOORS = {"flat": peer_floor._FLAT, "audit": peer_floor._AUDIT_SQLITE}


async def statements(path: str) -> dict[str, tuple[str, Any]]:
    """Each read's longest statement (its answer's) and parameters, as the project sent it."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        sent.append((sql, params))

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        anonymous_read=True,
        max_page_size=10_000,
        rate_limit_per_address="",
    )
    app = create_app(settings)
    found: dict[str, tuple[str, Any]] = {}
    event.listen(Engine, "before_cursor_execute", keep)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c,
        ):
            for name in FLOORS:
                sent.clear()
                response = await c.post("/graphql", json={"query": READS[name].project})
                assert response.status_code == 200 and b'"errors"' not in response.content[:20]
                found[name] = max(sent, key=lambda s: len(s[0]))
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    return found


def timed(
    connection: sqlite3.Connection, sides: dict[str, tuple[str, Any]], runs: int
) -> dict[str, tuple[float, str]]:
    """Each side's median ms of running its statement and fetching every row, the sides
    alternating run by run, and a digest of its rows."""
    times: dict[str, list[float]] = {side: [] for side in sides}
    digests: dict[str, str] = {}
    for run in range(runs + 2):  # two to warm up
        for side, (sql, params) in sides.items():
            start = time.perf_counter()
            rows = connection.execute(sql, params).fetchall()
            if run >= 2:
                times[side].append((time.perf_counter() - start) * 1000)
            digests[side] = hashlib.sha256(repr(rows).encode()).hexdigest()[:12]
    return {side: (statistics.median(times[side]), digests[side]) for side in sides}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", help="a SQLite file of bench/peer_floor.py's 100k data")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--save", help="write the statements sent to this JSON file")
    parser.add_argument("--with", dest="others", action="append", default=[], metavar="FILE")
    args = parser.parse_args()
    sent = asyncio.run(statements(args.path))
    if args.save:
        Path(args.save).write_text(json.dumps(sent))
        return
    others = {name: json.loads(Path(name).read_text()) for name in args.others}
    connection = sqlite3.connect(args.path)
    connection.create_function(SQLITE_LOWER, 1, python_lower, deterministic=True)
    connection.create_function(SQLITE_BASE64URL, 1, python_base64url, deterministic=True)
    print("| read | statement | p50 ms | rows digest | / floor's SELECT | load |")
    print("|---|---|---|---|---|---|")
    for name, (sql, params) in sent.items():
        sides = {
            **{other: tuple(found[name]) for other, found in others.items()},
            "this checkout": (sql, params),
            "floor's SELECT": (FLOORS[name], ()),
        }
        measured = timed(connection, sides, args.runs)
        floor = measured["floor's SELECT"][0]
        load = os.getloadavg()[0]
        for side, (ms, digest) in measured.items():
            print(f"| {name} | {side} | {ms:.1f} | {digest} | {ms / floor:.2f}x | {load:.1f} |")


if __name__ == "__main__":
    main()

"""The CPU one request costs the app, without a network or a server in between: the
dashboard read of bench/peers.py (or `--query`) sent straight to the ASGI app, as
uvicorn would hand it over, `--concurrency` at a time, on bench/peers.py's database.

Prints microseconds of CPU per request (the process's CPU time over the requests:
everything the app does, the driver's share included, the database's not) and, with
`--profile`, the functions that take it (cProfile, by cumulative and by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from peer_reads import READS  # noqa: E402

from app.config import Settings  # noqa: E402
from app.engines import ledger_engine  # noqa: E402
from app.http.bodies import BODY_ARRIVED  # noqa: E402
from app.http.server import freeze_startup_heap  # noqa: E402
from app.main import create_app  # noqa: E402

DATABASE = os.environ.get("PEERS_DATABASE", "pledge_bench_peers")
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}"


# The request's Authorization header (`--authorization`): None, an anonymous caller.
AUTHORIZATION: bytes | None = None


def scope_of(body: bytes, accept: bytes | None) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if accept is not None:
        headers.append((b"accept", accept))
    if AUTHORIZATION is not None:
        headers.append((b"authorization", AUTHORIZATION))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": headers,
        "state": {},
        # As `pledge-ledger serve` marks a request whose body came whole with its head
        # (app/http/server.py): reading it then sets no timer.
        BODY_ARRIVED: True,
    }


async def one(app: Any, body: bytes, accept: bytes | None) -> tuple[int, bytes]:
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope_of(body, accept), receive, send)
    return status, b"".join(chunks)


async def measure(args: argparse.Namespace) -> None:
    query = args.query or READS["dashboard"].project
    body = json.dumps({"query": query}).encode()
    accept = args.accept.encode() if args.accept else None
    global AUTHORIZATION
    AUTHORIZATION = args.authorization.encode() if args.authorization else None
    settings = Settings(
        database_url=args.url,
        anonymous_read=True,
        max_page_size=10_000,
        rate_limit_per_address="",
        rate_limit_per_key="",
        log_level="WARNING",
    )
    engine = ledger_engine(args.url)
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        freeze_startup_heap()
        status, answer = await one(app, body, accept)
        if status != 200 or b'"errors"' in answer:
            raise SystemExit(f"{status}: {answer[:400]!r}")
        for _ in range(200):
            await one(app, body, accept)
        per_request: list[float] = []
        # CPU time, as the figure above: wall time would count the waits for the database
        # (a `send` on a loaded machine waits for the CPU the server takes).
        profile = cProfile.Profile(time.process_time) if args.profile else None
        for _ in range(args.rounds):
            cpu = time.process_time()
            if profile is not None:
                profile.enable()
            for _ in range(args.requests // args.concurrency):
                await asyncio.gather(*(one(app, body, accept) for _ in range(args.concurrency)))
            if profile is not None:
                profile.disable()
            done = args.requests // args.concurrency * args.concurrency
            per_request.append((time.process_time() - cpu) / done * 1e6)
        print(
            f"CPU per request: median {statistics.median(per_request):.0f} µs, "
            f"min {min(per_request):.0f} µs ({args.rounds} rounds of {args.requests}, "
            f"{args.concurrency} at a time); load {os.getloadavg()[0]:.2f}"
        )
        if profile is not None:
            stats = pstats.Stats(profile)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--query", help="the operation (default: the dashboard read)")
    parser.add_argument("--accept", help="the request's Accept header (default: none)")
    parser.add_argument(
        "--authorization",
        help="the request's Authorization header, e.g. 'Bearer <an API key's secret>' "
        "(made by `pledge-ledger keys create` on the database; default: anonymous)",
    )
    parser.add_argument(
        "--url",
        default=URL,
        help="the database (default: bench/peers.py's, PEERS_DATABASE on PostgreSQL); "
        "e.g. sqlite+aiosqlite:////tmp/pledge_bench/pledge_bench_floor_100k.db "
        "(bench/peer_floor.py --keep)",
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=60)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()

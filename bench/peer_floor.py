"""The peers' reads (bench/peer_reads.py) against a hand-written floor, on each database:
how near the project comes to what Python can do at all, on SQLite as on PostgreSQL
(issue 15: "SQLite at least as fast relative to its own floor").

The floor is what the issue measured PostGraphile against: for each read one SQL
statement sent by the driver itself, its rows turned into the project's exact answer in
Python and encoded with orjson, served by uvicorn as a bare ASGI app at /graphql (it
knows only the three reads' texts). No framework, no GraphQL, no limits, no
permissions: nothing but the work the answer needs, so the ratio project / floor is the
price of everything else. On PostgreSQL the driver is asyncpg (a pool of 8). On SQLite
it is sqlite3 itself, on the event loop's thread: no hand-over to another thread, the
cheapest there is (aiosqlite's thread, as a floor, served the dashboard at anywhere
between 3,300 and 10,000 requests a second from one run to the next, as the threads
happened to be scheduled); it holds the loop through a large read, which a floor may.

    .venv/bin/python bench/peer_floor.py                       # both databases, 100k
    .venv/bin/python bench/peer_floor.py --backend sqlite --scale 1m
    .venv/bin/python bench/peer_floor.py --peer                # PostGraphile beside, on PG
    .venv/bin/python bench/peer_floor.py --layers   # the floor inside the project's HTTP layers

Before timing, each floor answer is checked equal to the project's (parsed JSON, and
the same bytes size). Then each read is timed with requests alternating between the
project and its floor (and PostGraphile with --peer), and the dashboard's throughput at
8 connections by autocannon, in alternating slices.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import peers  # noqa: E402  (bench/peers.py: servers, timing, throughput)
from bench_databases import admin, cli, database_url, remake  # noqa: E402
from peer_reads import READS  # noqa: E402
from pgwire import free_port  # noqa: E402

from app.kit.ids import encode_global_id  # noqa: E402

# The side of `--layers`: the floor inside the project's HTTP layers.
LAYERED = "floor + HTTP layers"

# Connections of PostgreSQL's floor: the benchmark never has more than `--connections`
# requests at once.
FLOOR_CONNECTIONS = 8

# ---------------------------------------------------------------- the floor's statements
#
# The project's orders: initiatives by position then id (the root list's default),
# budget lines by period start then id, transactions by date then id; a page of each
# per parent.

_DASHBOARD = (
    "SELECT id, code, title, status, planned_start, planned_end FROM initiatives "
    "ORDER BY position, id LIMIT 10"
)
_FLAT = (
    "SELECT id, transaction_date, type, amount, currency, value_date, version, description "
    "FROM transactions ORDER BY transaction_date, id LIMIT 10000"
)
_AUDIT_COLUMNS = (
    "i.id, i.code, b.id, b.amount, b.currency, b.period_start, "
    "t.id, t.transaction_date, t.type, t.amount, t.currency"
)
# PostgreSQL: a page per parent by LATERAL, each read from its index.
_AUDIT_PG = f"""SELECT {_AUDIT_COLUMNS}
FROM (SELECT id, code, position FROM initiatives ORDER BY position, id LIMIT 100) i
LEFT JOIN LATERAL (SELECT id, amount, currency, period_start FROM budget_lines
  WHERE initiative_id = i.id ORDER BY period_start, id LIMIT 20) b ON true
LEFT JOIN LATERAL (SELECT id, transaction_date, type, amount, currency FROM transactions
  WHERE budget_line_id = b.id ORDER BY transaction_date, id LIMIT 20) t ON true
ORDER BY i.position, i.id, b.period_start, b.id, t.transaction_date, t.id"""
# SQLite has no LATERAL: a page per parent as the ids its correlated subquery picks
# (twice as fast as numbering every child of the parents with a window).
_AUDIT_SQLITE = f"""WITH i AS (SELECT id, code, position FROM initiatives
  ORDER BY position, id LIMIT 100),
b AS (SELECT bl.id, bl.initiative_id, bl.amount, bl.currency, bl.period_start
  FROM i JOIN budget_lines bl ON bl.id IN (SELECT x.id FROM budget_lines x
    WHERE x.initiative_id = i.id ORDER BY x.period_start, x.id LIMIT 20))
SELECT {_AUDIT_COLUMNS} FROM i LEFT JOIN b ON b.initiative_id = i.id
LEFT JOIN transactions t ON t.id IN (SELECT y.id FROM transactions y
  WHERE y.budget_line_id = b.id ORDER BY y.transaction_date, y.id LIMIT 20)
ORDER BY i.position, i.id, b.period_start, b.id, t.transaction_date, t.id"""


# ---------------------------------------------------------------- values as the API spells them


def _day(value: date | str | None) -> str | None:
    """PostgreSQL gives a date; SQLite keeps the ISO text the API shows."""
    return value if value is None or isinstance(value, str) else value.isoformat()


def _amount(value: Decimal | int) -> str:
    """An amount in the API's two decimals (the synthetic data's currencies): NUMERIC(18,3)
    arrives from PostgreSQL as a Decimal, SQLite keeps an integer of thousandths."""
    thousandths = value if isinstance(value, int) else int(value.scaleb(3))
    cents, finer = divmod(thousandths, 10)
    if finer:
        raise ValueError(f"{value} is finer than a cent")
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def _dashboard(rows: list[Any]) -> dict[str, Any]:
    return {
        "initiatives": {
            "nodes": [
                {
                    "id": encode_global_id("Initiative", ident),
                    "code": code,
                    "title": title,
                    "status": status.upper(),
                    "plannedStart": _day(start),
                    "plannedEnd": _day(end),
                }
                for ident, code, title, status, start, end in rows
            ]
        }
    }


def _flat(rows: list[Any]) -> dict[str, Any]:
    return {
        "transactions": {
            "nodes": [
                {
                    "id": encode_global_id("Transaction", ident),
                    "date": _day(day),
                    "type": kind.upper(),
                    "amount": {"amount": _amount(amount), "currency": currency},
                    "valueDate": _day(value_date),
                    "version": version,
                    "description": description,
                }
                for ident, day, kind, amount, currency, value_date, version, description in rows
            ]
        }
    }


def _audit(rows: list[Any]) -> dict[str, Any]:
    """The joined rows (an initiative's, then each of its lines', then each line's
    transactions', in order) nested as the answer nests them."""
    initiatives: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    last_initiative = last_line = None
    for i_id, code, b_id, b_amount, b_cur, start, t_id, day, kind, t_amount, t_cur in rows:
        if i_id != last_initiative:
            last_initiative, last_line = i_id, None
            lines = []
            initiatives.append(
                {
                    "id": encode_global_id("Initiative", i_id),
                    "code": code,
                    "budgetLines": {"nodes": lines},
                }
            )
        if b_id is None:
            continue
        if b_id != last_line:
            last_line = b_id
            flows = []
            lines.append(
                {
                    "id": encode_global_id("BudgetLine", b_id),
                    "amount": {"amount": _amount(b_amount), "currency": b_cur},
                    "periodStart": _day(start),
                    "transactions": {"nodes": flows},
                }
            )
        if t_id is not None:
            flows.append(
                {
                    "id": encode_global_id("Transaction", t_id),
                    "date": _day(day),
                    "type": kind.upper(),
                    "amount": {"amount": _amount(t_amount), "currency": t_cur},
                }
            )
    return {"initiatives": {"nodes": initiatives}}


# Each read: its statement on each database, and how its rows become the answer's data.
FLOORS: dict[str, tuple[dict[str, str], Callable[[list[Any]], dict[str, Any]]]] = {
    "dashboard": ({"postgresql": _DASHBOARD, "sqlite": _DASHBOARD}, _dashboard),
    "audit": ({"postgresql": _AUDIT_PG, "sqlite": _AUDIT_SQLITE}, _audit),
    "flat": ({"postgresql": _FLAT, "sqlite": _FLAT}, _flat),
}


# ---------------------------------------------------------------- the floor's server


class Floor:
    """A bare ASGI app answering the peers' reads on the database at `url` (a
    `bench_databases.database_url`): the driver's connections, made at start-up."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.url = url
        self.backend = "sqlite" if self.sqlite else "postgresql"
        self.pool: Any = None
        self.conn: sqlite3.Connection | None = None
        self.reads = {
            " ".join(READS[key].project.split()): (statements[self.backend], shape)
            for key, (statements, shape) in FLOORS.items()
        }

    async def start(self) -> None:
        if self.sqlite:
            self.conn = sqlite3.connect(self.url.split("///", 1)[1])
            self.conn.execute("PRAGMA journal_mode=WAL")
        else:
            dsn = self.url.replace("postgresql+asyncpg://", "postgresql://", 1)
            size = FLOOR_CONNECTIONS
            self.pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)

    async def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.pool is not None:
            await self.pool.close()

    async def rows(self, sql: str) -> list[Any]:
        if self.conn is not None:
            return self.conn.execute(sql).fetchall()
        return list(await self.pool.fetch(sql))

    async def answer(self, body: bytes) -> bytes | None:
        query = " ".join(orjson.loads(body).get("query", "").split())
        if query == "{ __typename }":
            return b'{"data":{"__typename":"Query"}}'
        read = self.reads.get(query)
        if read is None:
            return None
        sql, shape = read
        return orjson.dumps({"data": shape(await self.rows(sql))})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        payload = await self.answer(body)
        status = 200 if payload is not None else 404
        payload = payload if payload is not None else b'{"errors":[{"message":"unknown read"}]}'
        headers = [(b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class _Lifespan:
    """`app` for requests, `floor` for the lifespan (its connections)."""

    def __init__(self, app: Any, floor: Floor) -> None:
        self.app = app
        self.floor = floor

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        handler = self.floor if scope["type"] == "lifespan" else self.app
        await handler(scope, receive, send)


def serve_floor(url: str, port: int, layers: bool) -> None:
    """The floor, served as uvicorn serves it by default; with `layers`, inside the
    project's own HTTP layers that every request passes (request ids, HTTP metrics,
    the body's limits: app/observability/middleware.py, app/http/bodies.py) and served
    as `pledge-ledger serve` serves (uvicorn_options): what those alone cost."""
    import uvicorn

    floor = Floor(url)
    app: Any = floor
    options: dict[str, Any] = {}
    if layers:
        from app.config import get_settings
        from app.http.bodies import BodyLimitMiddleware
        from app.http.server import uvicorn_options
        from app.observability.metrics import Metrics
        from app.observability.middleware import HttpMetricsMiddleware, RequestIdMiddleware

        settings = get_settings()
        # In the order app/main.py adds them: the request id outermost, the body's limits
        # innermost.
        app = BodyLimitMiddleware(
            app,
            max_bytes=settings.max_body_bytes,
            read_timeout=settings.request_read_timeout_seconds,
        )
        app = RequestIdMiddleware(HttpMetricsMiddleware(app, Metrics()))
        options = uvicorn_options(settings)
    uvicorn.run(
        _Lifespan(app, floor),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **options,
    )


# ---------------------------------------------------------------- databases and servers

SCALES = peers.SCALES


def _holds(backend: str, url: str, scale: str) -> bool:
    """Whether the database at `url` exists and holds the programme `scale` generates."""
    sql = "SELECT count(*) FROM transactions"
    try:
        if backend == "sqlite":
            path = Path(url.split("///", 1)[1])
            if not path.exists():
                return False
            with contextlib.closing(sqlite3.connect(path)) as conn:
                counted = conn.execute(sql).fetchone()[0]
        else:
            dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

            async def count() -> int:
                conn = await asyncpg.connect(dsn)
                try:
                    return int(await conn.fetchval(sql))
                finally:
                    await conn.close()

            counted = asyncio.run(count())
    except (sqlite3.Error, asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError):
        return False
    return bool(counted == SCALES[scale][2])


def prepare(backend: str, url: str, scale: str, reuse: bool) -> None:
    if reuse and _holds(backend, url, scale):
        cli(url, "db", "upgrade")
        print(f"{backend}: reused ({scale})", flush=True)
        return
    remake(backend, url)
    initiatives, lines, transactions = SCALES[scale]
    took = cli(
        url,
        "generate",
        *("--initiatives", str(initiatives), "--budget-lines", str(lines)),
        *("--transactions", str(transactions), "--seed", str(peers.SEED)),
    )
    if backend == "postgresql":  # after a bulk load, as an operator would (peers.py too)
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        asyncio.run(admin("ANALYZE", dsn))
    print(f"{backend}: {scale} generated in {took:.0f} s", flush=True)


@contextlib.contextmanager
def floor_server(url: str, layers: bool = False) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "floor", "--url", url, "--port", str(port)]
        + (["--layers"] if layers else []),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        peers.wait_for(base, process, "floor")
        yield base
    finally:
        peers.stop([process])


# ---------------------------------------------------------------- measuring


def check(project: str, floor: str) -> dict[str, tuple[int, int]]:
    """Each read's floor answer equal to the project's; their sizes in bytes."""
    sizes = {}
    with httpx.Client(timeout=900) as client:
        for key, read in READS.items():
            answers = []
            for base in (project, floor):
                response = client.post(f"{base}/graphql", json={"query": read.project})
                if response.status_code != 200:
                    raise SystemExit(f"{base}: {response.status_code} {response.text[:800]}")
                answers.append(response.content)
            mine, floors = (orjson.loads(answer) for answer in answers)
            if mine != floors:
                raise SystemExit(f"{key}: the floor's answer is not the project's")
            sizes[key] = (len(answers[0]), len(answers[1]))
            print(f"{key}: floor answers as the project ({sizes[key][0]:,} bytes)", flush=True)
    return sizes


def measure(backend: str, url: str, args: argparse.Namespace, with_peer: bool) -> dict[str, Any]:
    env = {"DATABASE_URL": url}
    with contextlib.ExitStack() as stack:
        if with_peer:
            peers.DATABASE = url.rsplit("/", 1)[1]
            project, peer = stack.enter_context(peers.servers(peers.PG_PORT, peers.PG_PORT))
        else:
            project, peer = stack.enter_context(peers.project_server(env)), None
        floor = stack.enter_context(floor_server(url))
        sizes = check(project, floor)
        # The floor answers the project's texts.
        sides = [peers.project_side(project), ("floor", floor, peers.project_side(floor)[2])]
        if peer is not None:
            sides.append(peers.peer_side(peer))
        if args.layers:
            layered = stack.enter_context(floor_server(url, layers=True))
            sides.append((LAYERED, layered, peers.project_side(layered)[2]))
        loads = [os.getloadavg()[0]]
        timed = peers.time_sides(sides, args.runs, args.budget)
        loads.append(os.getloadavg()[0])
        rps = peers.throughput(sides, args.connections, args.seconds)
        loads.append(os.getloadavg()[0])
    return {"timed": timed, "rps": rps, "sizes": sizes, "loads": loads}


def report(scale: str, connections: int, measured: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"scale {scale}; ratio = p50 / the floor's p50 on the same database "
        "(throughput: the floor's req/s / the side's)",
        "",
        "| database | read | runs | project p50 ms | floor p50 ms | project / floor "
        "| PostGraphile p50 ms | PostGraphile / floor | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, m in measured.items():
        load = f"{min(m['loads']):.1f}-{max(m['loads']):.1f}"
        for key, read in READS.items():
            samples = m["timed"][key]
            mine, floor = (statistics.median(samples[side]) for side in ("project", "floor"))
            peer = samples.get("PostGraphile")
            theirs = (
                f"{statistics.median(peer):,.1f} | {statistics.median(peer) / floor:.2f}x"
                if peer
                else "| "
            )
            lines.append(
                f"| {backend} | {read.name} | {len(samples['project'])} | {mine:,.1f} | "
                f"{floor:,.1f} | {mine / floor:.2f}x | {theirs} | {load} |"
            )
        rps = m["rps"]
        if LAYERED in rps:
            lines.append(
                f"| {backend} | {LAYERED}: dashboard throughput, req/s | | "
                f"{rps[LAYERED]:,.0f} | {rps['floor']:,.0f} | "
                f"{rps['floor'] / rps[LAYERED]:.2f}x | | | {load} |"
            )
        theirs = (
            f"{rps['PostGraphile']:,.0f} | {rps['floor'] / rps['PostGraphile']:.2f}x"
            if "PostGraphile" in rps
            else "| "
        )
        lines.append(
            f"| {backend} | dashboard throughput at {connections} connections, req/s | | "
            f"{rps['project']:,.0f} | {rps['floor']:,.0f} | "
            f"{rps['floor'] / rps['project']:.2f}x | {theirs} | {load} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    floor = sub.add_parser("floor", help="serve the floor (the benchmark starts it)")
    floor.add_argument("--url", required=True)
    floor.add_argument("--port", type=int, required=True)
    floor.add_argument("--layers", action="store_true")
    parser.add_argument("--backend", choices=["both", "postgresql", "sqlite"], default="both")
    parser.add_argument("--scale", choices=list(SCALES), default="100k")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per read and side")
    parser.add_argument("--budget", type=float, default=120, help="seconds per read at most")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10, help="throughput time per side")
    parser.add_argument("--peer", action="store_true", help="PostGraphile too (PostgreSQL)")
    parser.add_argument(
        "--layers",
        action="store_true",
        help="the floor inside the project's HTTP layers too (request ids, metrics, body limits)",
    )
    parser.add_argument("--database", default="pledge_bench_floor", help="database/file name")
    parser.add_argument("--reuse", action="store_true", help="use a database of this scale")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    if args.command == "floor":
        serve_floor(args.url, args.port, args.layers)
        return
    peers.install_peer()  # autocannon, and PostGraphile for --peer
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    name = f"{args.database}_{args.scale}"
    measured: dict[str, dict[str, Any]] = {}
    try:
        for backend in backends:
            url = database_url(backend, name)
            prepare(backend, url, args.scale, args.reuse)
            measured[backend] = measure(backend, url, args, args.peer and backend != "sqlite")
        print()
        print(report(args.scale, args.connections, measured))
    finally:
        if not args.keep:
            for backend in backends:
                url = database_url(backend, name)
                if backend == "sqlite":
                    for suffix in ("", "-wal", "-shm"):
                        Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
                else:
                    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

"""The project against PostGraphile v5 on the same PostgreSQL data (issue 15).

One fresh database filled by `pledge-ledger generate`; one `pledge-ledger serve` process
(anonymous reading, as a viewer) and one PostGraphile process (bench/peers/postgraphile:
amber preset, simplified inflection, aggregates; node 22 from the npm package `node`) on
it. Every read is first asked of both and their rows compared; then the reads are timed
with requests alternating between the two servers, and the dashboard read's throughput
is measured at a fixed number of concurrent connections.

    .venv/bin/python bench/peers.py                 # 100k transactions
    .venv/bin/python bench/peers.py --scale 1m      # 1,000,000 transactions

SQL statements per request are counted on the wire: for that first pass each server
talks to PostgreSQL through a small counting proxy (pg_stat_statements is not loaded on
the benchmark's server and loading it needs a restart); the timed pass connects directly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "bench" / "peers" / "postgraphile"
CLI = str(ROOT / ".venv" / "bin" / "pledge-ledger")
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
DATABASE = "pledge_bench_peers"
SCALES = {"100k": (100, 10_000, 100_000), "1m": (100, 10_000, 1_000_000)}
SEED = 1

Row = tuple[Any, ...]

# ---------------------------------------------------------------- the reads, on each side
#
# The same rows and fields on both sides. Field names differ: the project shows global
# ids (decoded to the row id to compare), `date`, enum values in capitals and money as
# `{ amount currency }` in cents; PostGraphile shows the row id as `rowId`, columns by
# their camel-cased names (`transactionDate`), enums stored as text as they are stored,
# and NUMERIC(18,3) as a BigFloat string with three decimals. Orders: PostGraphile's
# default is the primary key; the project's lists default to a natural key, then the id
# (budget lines by period start, transactions by date), so PostGraphile is asked for that.


@dataclass(frozen=True)
class Read:
    name: str
    project: str
    peer: str
    project_rows: Callable[[dict[str, Any]], list[Row]]
    peer_rows: Callable[[dict[str, Any]], list[Row]]


def _row_id(global_id: str) -> int:
    text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return int(text.rsplit(":", 1)[1])


def _dash_project(data: dict[str, Any]) -> list[Row]:
    return [
        (
            _row_id(n["id"]),
            n["code"],
            n["title"],
            n["status"].lower(),
            n["plannedStart"],
            n["plannedEnd"],
        )
        for n in data["initiatives"]["nodes"]
    ]


def _dash_peer(data: dict[str, Any]) -> list[Row]:
    return [
        (n["rowId"], n["code"], n["title"], n["status"], n["plannedStart"], n["plannedEnd"])
        for n in data["initiatives"]["nodes"]
    ]


def _audit_project(data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for i in data["initiatives"]["nodes"]:
        rows.append(("initiative", _row_id(i["id"]), i["code"]))
        for b in i["budgetLines"]["nodes"]:
            money = b["amount"]
            rows.append(("line", _row_id(b["id"]), Decimal(money["amount"]), money["currency"]))
            rows[-1] += (b["periodStart"],)
            for t in b["transactions"]["nodes"]:
                money = t["amount"]
                rows.append(("tx", _row_id(t["id"]), t["date"], t["type"].lower()))
                rows[-1] += (Decimal(money["amount"]), money["currency"])
    return rows


def _audit_peer(data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for i in data["initiatives"]["nodes"]:
        rows.append(("initiative", i["rowId"], i["code"]))
        for b in i["budgetLines"]["nodes"]:
            rows.append(("line", b["rowId"], Decimal(b["amount"]), b["currency"]))
            rows[-1] += (b["periodStart"],)
            for t in b["transactions"]["nodes"]:
                rows.append(("tx", t["rowId"], t["transactionDate"], t["type"]))
                rows[-1] += (Decimal(t["amount"]), t["currency"])
    return rows


def _flat_project(data: dict[str, Any]) -> list[Row]:
    return [
        (
            _row_id(t["id"]),
            t["date"],
            t["type"].lower(),
            Decimal(t["amount"]["amount"]),
            t["amount"]["currency"],
            t["valueDate"],
            t["version"],
            t["description"],
        )
        for t in data["transactions"]["nodes"]
    ]


def _flat_peer(data: dict[str, Any]) -> list[Row]:
    return [
        (
            t["rowId"],
            t["transactionDate"],
            t["type"],
            Decimal(t["amount"]),
            t["currency"],
            t["valueDate"],
            t["version"],
            t["description"],
        )
        for t in data["transactions"]["nodes"]
    ]


READS = {
    "dashboard": Read(
        "dashboard: 10 initiatives, 6 fields",
        "{ initiatives(first: 10) { nodes { id code title status plannedStart plannedEnd } } }",
        "{ initiatives(first: 10) { nodes { rowId code title status plannedStart plannedEnd } } }",
        _dash_project,
        _dash_peer,
    ),
    "audit": Read(
        "auditor report: 100 initiatives → 20 budget lines → 20 transactions",
        """{ initiatives(first: 100) { nodes { id code
             budgetLines(first: 20) { nodes { id amount { amount currency } periodStart
               transactions(first: 20) { nodes { id date type amount { amount currency } }
             } } } } } }""",
        """{ initiatives(first: 100) { nodes { rowId code
             budgetLines(first: 20, orderBy: [PERIOD_START_ASC, PRIMARY_KEY_ASC]) { nodes {
               rowId amount currency periodStart
               transactions(first: 20, orderBy: [TRANSACTION_DATE_ASC, PRIMARY_KEY_ASC]) {
                 nodes { rowId transactionDate type amount currency }
             } } } } } }""",
        _audit_project,
        _audit_peer,
    ),
    "flat": Read(
        "flat list: 10,000 transactions, 8 fields",
        """{ transactions(first: 10000) { nodes { id date type amount { amount currency }
             valueDate version description } } }""",
        """{ transactions(first: 10000, orderBy: [TRANSACTION_DATE_ASC, PRIMARY_KEY_ASC]) {
             nodes { rowId transactionDate type amount currency valueDate version description }
           } }""",
        _flat_project,
        _flat_peer,
    ),
}

# The project with every rule on (its default limits, permissions, costs), reading as an
# anonymous viewer; only what a benchmark must change: pages of 10,000 (the flat list),
# and no per-address rate limit (every request comes from 127.0.0.1).
PROJECT_ENV = {
    "ANONYMOUS_READ": "true",
    "MAX_PAGE_SIZE": "10000",
    "RATE_LIMIT_PER_ADDRESS": "",
    "LOG_LEVEL": "WARNING",
}


# ---------------------------------------------------------------- database


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _url(driver: str, port: int = PG_PORT) -> str:
    return f"{driver}://{PG_USER}@{PG_HOST}:{port}/{DATABASE}"


def create_database(scale: str) -> None:
    initiatives, lines, transactions = SCALES[scale]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    env = {**os.environ, "DATABASE_URL": _url("postgresql+asyncpg"), "LOG_LEVEL": "WARNING"}
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    t0 = time.perf_counter()
    args = ["--initiatives", str(initiatives), "--budget-lines", str(lines)]
    args += ["--transactions", str(transactions), "--seed", str(SEED)]
    done = subprocess.run([CLI, "generate", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"generate failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    # After a bulk load: what an operator (or autovacuum, minutes later) would run.
    asyncio.run(_admin_db("ANALYZE"))
    print(f"database {DATABASE}: {scale} generated in {time.perf_counter() - t0:.1f} s", flush=True)


async def _admin_db(sql: str) -> None:
    conn = await asyncpg.connect(_url("postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def drop_database() -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    print(f"database {DATABASE} dropped")


# ---------------------------------------------------------------- counting statements


class StatementCounter:
    """A TCP proxy in front of PostgreSQL that counts the statements its clients run:
    each simple Query message (split on `;`) and each portal of the extended protocol
    executed (once, however many batches it is read in), classified by the text of the
    Parse it was bound to. Statements that only manage
    the session or transaction (BEGIN, COMMIT, SET, an empty ping…) are counted apart."""

    CONTROL = frozenset(
        "BEGIN START COMMIT END ROLLBACK SAVEPOINT RELEASE SET RESET DISCARD SHOW".split()
    ) | {""}

    def __init__(self) -> None:
        self.queries = 0
        self.control = 0
        self.port = _free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            await asyncio.start_server(self._client, PG_HOST, self.port)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def snapshot(self) -> tuple[int, int]:
        return self.queries, self.control

    def _count(self, sql: str) -> None:
        for part in sql.split(";") if sql.strip() else [""]:
            words = part.split(None, 1)
            if not part.strip() and sql.strip():
                continue  # the text after a final `;`
            if (words[0].upper() if words else "") in self.CONTROL:
                self.control += 1
            else:
                self.queries += 1

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        back = asyncio.ensure_future(self._pipe(upstream_reader, writer))
        parsed: dict[bytes, str] = {}
        portals: dict[bytes, str] = {}
        try:
            started = False
            while not started:  # SSL/GSS requests and the startup message carry no type
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!i", head)[0] - 4)
                upstream_writer.write(head + body)
                await upstream_writer.drain()
                started = struct.unpack("!i", body[:4])[0] == 196608  # protocol 3.0
            while True:
                kind = await reader.readexactly(1)
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!i", head)[0] - 4)
                if kind == b"Q":
                    self._count(body[:-1].decode(errors="replace"))
                elif kind == b"P":
                    name, rest = body.split(b"\0", 1)
                    parsed[name] = rest.split(b"\0", 1)[0].decode(errors="replace")
                elif kind == b"B":
                    portal, statement, _ = body.split(b"\0", 2)
                    portals[portal] = parsed.get(statement, "?")
                elif kind == b"E":
                    # A portal executed again fetches more rows of the same statement
                    # (a cursor reading in batches): counted once, at its first Execute.
                    sql = portals.pop(body.split(b"\0", 1)[0], None)
                    if sql is not None:
                        self._count(sql)
                upstream_writer.write(kind + head + body)
                await upstream_writer.drain()
                if kind == b"X":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            upstream_writer.close()
            back.cancel()
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


# ---------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(base: str, process: subprocess.Popen[bytes], name: str) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        try:
            httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not answer within 60 s")


def install_peer() -> None:
    needed = ("node/bin/node", "postgraphile/package.json", "autocannon/autocannon.js")
    if all((PEER / "node_modules" / path).exists() for path in needed):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to install PostGraphile (bench/peers/postgraphile)")
    print("installing PostGraphile: npm ci")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)


def peer_version() -> str:
    package = json.loads((PEER / "node_modules" / "postgraphile" / "package.json").read_text())
    return str(package["version"])


@contextlib.contextmanager
def servers(
    project_db_port: int, peer_db_port: int, quiet_events: bool = False
) -> Iterator[tuple[str, str]]:
    """One project and one PostGraphile process on the database, each reaching it at its
    port (the server itself, or a counting proxy); yields their base URLs, stops both."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        project_port = _free_port()
        env = {
            **os.environ,
            **PROJECT_ENV,
            "DATABASE_URL": _url("postgresql+asyncpg", project_db_port),
        }
        if quiet_events:
            # While counting: the event log's poll (every 2 s) would land in a request's count.
            env["EVENTS_POLL_SECONDS"] = "3600"
        processes.append(
            subprocess.Popen(
                [CLI, "serve", "--host", "127.0.0.1", "--port", str(project_port)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
        )
        peer_port = _free_port()
        peer_env = {
            **os.environ,
            "PEER_DATABASE_URL": _url("postgres", peer_db_port),
            "PEER_PORT": str(peer_port),
            "NODE_ENV": "production",
        }
        node = str(PEER / "node_modules" / "node" / "bin" / "node")
        cli = str(PEER / "node_modules" / "postgraphile" / "dist" / "cli-run.js")
        processes.append(
            subprocess.Popen(
                [node, cli, "-C", "graphile.config.mjs"],
                env=peer_env,
                cwd=PEER,
                stdout=subprocess.DEVNULL,
            )
        )
        project, peer = f"http://127.0.0.1:{project_port}", f"http://127.0.0.1:{peer_port}"
        _wait(project, processes[0], "pledge-ledger serve")
        _wait(peer, processes[1], "PostGraphile")
        yield project, peer
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def ask(client: httpx.Client, base: str, query: str) -> dict[str, Any]:
    response = client.post(f"{base}/graphql", json={"query": query})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"{base}: {response.status_code} {response.text[:800]}")
    return dict(body["data"])


# ---------------------------------------------------------------- checking and counting


def _first_difference(mine: list[Row], theirs: list[Row]) -> str:
    for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
        if a != b:
            return f"first difference at row {i}: project {a}, PostGraphile {b}"
    return "one list is a prefix of the other"


@dataclass
class Counted:
    rows: int
    project_sql: tuple[int, int]
    peer_sql: tuple[int, int]


def check_and_count(runs: int = 3) -> dict[str, Counted]:
    """Both servers behind counting proxies: each read's rows compared, and the
    statements of one request (the fewest over `runs`, after a warm-up)."""
    project_counter, peer_counter = StatementCounter(), StatementCounter()
    out: dict[str, Counted] = {}
    try:
        with (
            servers(project_counter.port, peer_counter.port, True) as (project, peer),
            httpx.Client(timeout=900) as client,
        ):
            for key, read in READS.items():
                mine = read.project_rows(ask(client, project, read.project))
                theirs = read.peer_rows(ask(client, peer, read.peer))
                if mine != theirs:
                    diff = _first_difference(mine, theirs)
                    raise SystemExit(
                        f"{key}: the servers answer different rows "
                        f"({len(mine)} against {len(theirs)}; {diff})"
                    )
                counts = []
                for base, query, counter in (
                    (project, read.project, project_counter),
                    (peer, read.peer, peer_counter),
                ):
                    seen = []
                    for _ in range(runs):
                        before = counter.snapshot()
                        ask(client, base, query)
                        after = counter.snapshot()
                        seen.append((after[0] - before[0], after[1] - before[1]))
                    counts.append(min(seen))
                out[key] = Counted(len(mine), counts[0], counts[1])
                print(f"{key}: same {len(mine)} rows; statements {counts}", flush=True)
    finally:
        project_counter.close()
        peer_counter.close()
    return out


# ---------------------------------------------------------------- timing


@dataclass
class Timed:
    project_ms: list[float] = field(default_factory=list)
    peer_ms: list[float] = field(default_factory=list)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 1))  # nearest rank
    return ordered[int(rank) - 1]


def time_reads(project: str, peer: str, runs: int, budget_s: float) -> dict[str, Timed]:
    """Each read alternately on the project and on PostGraphile, after a warm-up of two."""
    out: dict[str, Timed] = {}
    with httpx.Client(timeout=900) as client:
        for key, read in READS.items():
            t0 = time.perf_counter()
            for _ in range(2):
                ask(client, project, read.project)
                ask(client, peer, read.peer)
            pair_s = (time.perf_counter() - t0) / 2
            n = max(5, min(runs, int(budget_s / max(pair_s, 1e-3))))
            timed = Timed()
            for _ in range(n):
                for base, query, samples in (
                    (project, read.project, timed.project_ms),
                    (peer, read.peer, timed.peer_ms),
                ):
                    t0 = time.perf_counter()
                    ask(client, base, query)
                    samples.append((time.perf_counter() - t0) * 1000)
            out[key] = timed
            print(
                f"{key}: {n} runs, project {statistics.median(timed.project_ms):.1f} ms, "
                f"PostGraphile {statistics.median(timed.peer_ms):.1f} ms "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return out


def _throughput(base: str, query: str, connections: int, seconds: int) -> tuple[int, float]:
    """Requests answered in `seconds` at `connections` connections, and the seconds it took,
    by autocannon (node 22, from bench/peers/postgraphile): a Python client saturates a
    core at a few hundred requests a second, below what PostGraphile serves."""
    node = str(PEER / "node_modules" / "node" / "bin" / "node")
    cannon = str(PEER / "node_modules" / "autocannon" / "autocannon.js")
    body = json.dumps({"query": query})
    command = [node, cannon, "--json", "-c", str(connections), "-d", str(seconds)]
    command += ["-m", "POST", "-H", "content-type: application/json", "-b", body]
    done = subprocess.run(
        [*command, f"{base}/graphql"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    if result["non2xx"] or result["errors"] or result["timeouts"]:
        raise SystemExit(f"{base}: {result['non2xx']} non-2xx, {result['errors']} errors")
    return int(result["requests"]["total"]), float(result["duration"])


def throughput(
    project: str, peer: str, connections: int, seconds: int, rounds: int = 2
) -> tuple[float, float]:
    """Requests per second of the dashboard read at `connections` concurrent connections:
    `seconds` per server, in `rounds` alternating slices so both see the same machine."""
    read = READS["dashboard"]
    slice_s = max(1, seconds // rounds)
    _throughput(project, read.project, connections, 1)  # warm-up
    _throughput(peer, read.peer, connections, 1)
    mine = theirs = 0
    mine_s = theirs_s = 0.0
    for _ in range(rounds):
        n, took = _throughput(project, read.project, connections, slice_s)
        mine, mine_s = mine + n, mine_s + took
        n, took = _throughput(peer, read.peer, connections, slice_s)
        theirs, theirs_s = theirs + n, theirs_s + took
    return mine / mine_s, theirs / theirs_s


# ---------------------------------------------------------------- report


def report(
    scale: str,
    counted: dict[str, Counted],
    timed: dict[str, Timed],
    rps: tuple[float, float],
    connections: int,
    loads: list[float],
) -> str:
    lines = [
        f"PostGraphile {peer_version()}, scale {scale}, load average "
        f"{min(loads):.1f}-{max(loads):.1f} while measuring",
        "",
        "| read | rows | runs | project p50 ms | project p95 ms | PostGraphile p50 ms "
        "| PostGraphile p95 ms | ratio (project / PostGraphile p50) | SQL project | "
        "SQL PostGraphile |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, read in READS.items():
        t, c = timed[key], counted[key]
        mine, theirs = statistics.median(t.project_ms), statistics.median(t.peer_ms)
        lines.append(
            f"| {read.name} | {c.rows:,} | {len(t.project_ms)} | {mine:,.1f} | "
            f"{percentile(t.project_ms, 0.95):,.1f} | {theirs:,.1f} | "
            f"{percentile(t.peer_ms, 0.95):,.1f} | {mine / theirs:.1f}x | "
            f"{c.project_sql[0]} + {c.project_sql[1]} | {c.peer_sql[0]} + {c.peer_sql[1]} |"
        )
    c = counted["dashboard"]
    lines.append(
        f"| dashboard throughput at {connections} connections, req/s | | | {rps[0]:,.0f} | | "
        f"{rps[1]:,.0f} | | {rps[1] / rps[0]:.1f}x (PostGraphile / project) | "
        f"{c.project_sql[0]} + {c.project_sql[1]} | {c.peer_sql[0]} + {c.peer_sql[1]} |"
    )
    lines += [
        "",
        "SQL = statements per request: queries + session/transaction control "
        "(BEGIN, COMMIT, SET, pings), counted on the wire.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="100k")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per read and side")
    parser.add_argument(
        "--budget", type=float, default=180, help="seconds per read: fewer runs (at least 5)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10, help="throughput time per server")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    install_peer()
    loads = [os.getloadavg()[0]]
    try:
        create_database(args.scale)
        counted = check_and_count()
        loads.append(os.getloadavg()[0])
        with servers(PG_PORT, PG_PORT) as (project, peer):
            timed = time_reads(project, peer, args.runs, args.budget)
            loads.append(os.getloadavg()[0])
            rps = throughput(project, peer, args.connections, args.seconds)
            loads.append(os.getloadavg()[0])
        print()
        print(report(args.scale, counted, timed, rps, args.connections, loads))
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()

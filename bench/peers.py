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
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

from bench_databases import admin  # noqa: E402  (bench/bench_databases.py)
from peer_reads import READS, Read, Row  # noqa: E402  (bench/peer_reads.py: the reads)
from pgwire import StatementCounter, free_port  # noqa: E402  (bench/pgwire.py)

PEER = ROOT / "bench" / "peers" / "postgraphile"
CLI = str(ROOT / ".venv" / "bin" / "pledge-ledger")
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
# PEERS_DATABASE: another name, so that two checkouts measuring at once do not share one.
DATABASE = os.environ.get("PEERS_DATABASE", "pledge_bench_peers")
SCALES = {"100k": (100, 10_000, 100_000), "1m": (100, 10_000, 1_000_000)}
SEED = 1

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


def _url(driver: str, port: int = PG_PORT) -> str:
    return f"{driver}://{PG_USER}@{PG_HOST}:{port}/{DATABASE}"


async def _holds(scale: str) -> bool:
    """Whether the database exists and holds the programme `scale` generates."""
    try:
        conn = await asyncpg.connect(_url("postgresql"))
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        counted = await conn.fetchval("SELECT count(*) FROM transactions")
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
    return bool(counted == SCALES[scale][2])


def create_database(scale: str, reuse: bool = False) -> None:
    initiatives, lines, transactions = SCALES[scale]
    env = {**os.environ, "DATABASE_URL": _url("postgresql+asyncpg"), "LOG_LEVEL": "WARNING"}
    if reuse and asyncio.run(_holds(scale)):
        # Migrated to this revision (a table added since would be missing).
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
        print(f"database {DATABASE}: reused ({scale})", flush=True)
        return
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', ADMIN_DSN))
    asyncio.run(admin(f'CREATE DATABASE "{DATABASE}"', ADMIN_DSN))
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
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', ADMIN_DSN))
    print(f"database {DATABASE} dropped")


# ---------------------------------------------------------------- counting statements


# ---------------------------------------------------------------- servers


def wait_for(base: str, process: subprocess.Popen[bytes], name: str) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        try:
            httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not answer within 60 s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


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


def _project_process(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`pledge-ledger serve` with PROJECT_ENV and `env` (its DATABASE_URL), and its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **PROJECT_ENV, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def project_server(env: dict[str, str]) -> Iterator[str]:
    """One project process as `servers` starts it, on the database `env` names."""
    process, base = _project_process(env)
    try:
        wait_for(base, process, "pledge-ledger serve")
        yield base
    finally:
        stop([process])


@contextlib.contextmanager
def servers(
    project_db_port: int, peer_db_port: int, quiet_events: bool = False
) -> Iterator[tuple[str, str]]:
    """One project and one PostGraphile process on the database, each reaching it at its
    port (the server itself, or a counting proxy); yields their base URLs, stops both."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        env = {"DATABASE_URL": _url("postgresql+asyncpg", project_db_port)}
        if quiet_events:
            # While counting: the event log's poll (every 2 s) would land in a request's count.
            env["EVENTS_POLL_SECONDS"] = "3600"
        process, project = _project_process(env)
        processes.append(process)
        peer_port = free_port()
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
        peer = f"http://127.0.0.1:{peer_port}"
        wait_for(project, processes[0], "pledge-ledger serve")
        wait_for(peer, processes[1], "PostGraphile")
        yield project, peer
    finally:
        stop(processes)


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
    project_counter = StatementCounter(PG_HOST, PG_PORT)
    peer_counter = StatementCounter(PG_HOST, PG_PORT)
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


# A server to time: its name, its base URL, and the text it is asked for a read.
Side = tuple[str, str, Callable[[Read], str]]


def project_side(base: str) -> Side:
    return ("project", base, lambda read: read.project)


def peer_side(base: str) -> Side:
    return ("PostGraphile", base, lambda read: read.peer)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 1))  # nearest rank
    return ordered[int(rank) - 1]


def time_sides(sides: list[Side], runs: int, budget_s: float) -> dict[str, dict[str, list[float]]]:
    """Each read's times in ms on each side, the sides' requests alternating, after a
    warm-up of two rounds; `runs` rounds, fewer (at least 5) past `budget_s` seconds."""
    out: dict[str, dict[str, list[float]]] = {}
    with httpx.Client(timeout=900) as client:
        for key, read in READS.items():
            t0 = time.perf_counter()
            for _ in range(2):
                for _name, base, query in sides:
                    ask(client, base, query(read))
            round_s = (time.perf_counter() - t0) / 2
            n = max(5, min(runs, int(budget_s / max(round_s, 1e-3))))
            timed: dict[str, list[float]] = {name: [] for name, _base, _query in sides}
            for _ in range(n):
                for name, base, query in sides:
                    t0 = time.perf_counter()
                    ask(client, base, query(read))
                    timed[name].append((time.perf_counter() - t0) * 1000)
            out[key] = timed
            medians = ", ".join(
                f"{name} {statistics.median(ms):.1f} ms" for name, ms in timed.items()
            )
            print(f"{key}: {n} runs, {medians} (load {os.getloadavg()[0]:.1f})", flush=True)
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
    sides: list[Side], connections: int, seconds: int, rounds: int = 2
) -> dict[str, float]:
    """Requests per second of the dashboard read at `connections` concurrent connections
    on each side: `seconds` per side, in `rounds` alternating slices so all see the same
    machine."""
    read = READS["dashboard"]
    slice_s = max(1, seconds // rounds)
    for _name, base, query in sides:  # warm-up
        _throughput(base, query(read), connections, 1)
    answered = {name: 0 for name, _base, _query in sides}
    took = {name: 0.0 for name, _base, _query in sides}
    for _ in range(rounds):
        for name, base, query in sides:
            n, seconds_taken = _throughput(base, query(read), connections, slice_s)
            answered[name] += n
            took[name] += seconds_taken
    return {name: answered[name] / took[name] for name in answered}


# ---------------------------------------------------------------- report


def report(
    scale: str,
    counted: dict[str, Counted],
    timed: dict[str, dict[str, list[float]]],
    rps: dict[str, float],
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
        c = counted[key]
        project_ms, peer_ms = timed[key]["project"], timed[key]["PostGraphile"]
        mine, theirs = statistics.median(project_ms), statistics.median(peer_ms)
        lines.append(
            f"| {read.name} | {c.rows:,} | {len(project_ms)} | {mine:,.1f} | "
            f"{percentile(project_ms, 0.95):,.1f} | {theirs:,.1f} | "
            f"{percentile(peer_ms, 0.95):,.1f} | {mine / theirs:.1f}x | "
            f"{c.project_sql[0]} + {c.project_sql[1]} | {c.peer_sql[0]} + {c.peer_sql[1]} |"
        )
    c = counted["dashboard"]
    lines.append(
        f"| dashboard throughput at {connections} connections, req/s | | | "
        f"{rps['project']:,.0f} | | {rps['PostGraphile']:,.0f} | | "
        f"{rps['PostGraphile'] / rps['project']:.1f}x (PostGraphile / project) | "
        f"{c.project_sql[0]} + {c.project_sql[1]} | {c.peer_sql[0]} + {c.peer_sql[1]} |"
    )
    lines += [
        "",
        "SQL = statements per request: queries + session/transaction control "
        "(BEGIN, COMMIT, SET, pings), counted on the wire.",
    ]
    return "\n".join(lines)


def main() -> None:
    global DATABASE  # one run, one database: --database names it
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="100k")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per read and side")
    parser.add_argument(
        "--budget", type=float, default=180, help="seconds per read: fewer runs (at least 5)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10, help="throughput time per server")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="use the database if it holds this scale's data"
    )
    parser.add_argument(
        "--database",
        default="pledge_bench_peers",
        help="the database's name (two runs at once need two names)",
    )
    args = parser.parse_args()
    DATABASE = args.database
    install_peer()
    loads = [os.getloadavg()[0]]
    try:
        create_database(args.scale, args.reuse)
        counted = check_and_count()
        loads.append(os.getloadavg()[0])
        with servers(PG_PORT, PG_PORT) as (project, peer):
            sides = [project_side(project), peer_side(peer)]
            timed = time_sides(sides, args.runs, args.budget)
            loads.append(os.getloadavg()[0])
            rps = throughput(sides, args.connections, args.seconds)
            loads.append(os.getloadavg()[0])
        print()
        print(report(args.scale, counted, timed, rps, args.connections, loads))
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()

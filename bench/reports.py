"""Report queries at scale: HTTP latency, SQL, size, and the ratio to a hand-written floor.

On SQLite and PostgreSQL, at two data sizes (S: 100k transactions, L: 1M).

Each database is made by `pledge-ledger db upgrade` and `pledge-ledger generate` (timed),
served by one uvicorn worker with the service's own app plus the floor endpoints of
`bench/floor.py`, and timed over real HTTP; statements are counted and every floor's
JSON is checked against the API's, in-process, on the same data.

    .venv/bin/python bench/reports.py run --backend both --size S --keep
    .venv/bin/python bench/reports.py run --backend both --size L --reuse --keep
    .venv/bin/python bench/reports.py profile audit --backend postgresql --size L --reuse
    .venv/bin/python bench/reports.py explain dashboard --backend postgresql --size L --reuse
    .venv/bin/python bench/reports.py drop
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import floor  # noqa: E402  (bench/floor.py: the floors and the served app)
import inprocess  # noqa: E402  (bench/inprocess.py: counts, checks, profiles)
from bench_databases import ADMIN_DSN, admin  # noqa: E402  (bench/bench_databases.py)

SIZES = {"S": (100, 10_000, 100_000), "L": (100, 10_000, 1_000_000)}
SEED = 1
CLI = str(ROOT / ".venv" / "bin" / "pledge-ledger")
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/pledge_bench"))
SETUP_LOG = DATA_DIR / "setup.json"


# ---------------------------------------------------------------- databases


def database_url(backend: str, size: str) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{DATA_DIR / f'bench_{size.lower()}.db'}"
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/pledge_bench_{size.lower()}"


def _pg_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def _pg_exists(name: str) -> bool:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def _setup_log() -> dict[str, Any]:
    return json.loads(SETUP_LOG.read_text()) if SETUP_LOG.exists() else {}


def _generated(url: str, ref: str) -> bool:
    """Whether the database holds the synthetic programme of this size already."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        if not path.exists():
            return False
        with sqlite3.connect(path) as conn:
            try:
                found = conn.execute("SELECT 1 FROM programs WHERE ref = ?", (ref,)).fetchone()
                return found is not None
            except sqlite3.OperationalError:
                return False
    if not asyncio.run(_pg_exists(_pg_name(url))):
        return False

    async def check() -> bool:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            return bool(await conn.fetchval("SELECT 1 FROM programs WHERE ref = $1", ref))
        except asyncpg.UndefinedTableError:
            return False
        finally:
            await conn.close()

    return asyncio.run(check())


def setup(backend: str, size: str, reuse: bool) -> dict[str, Any]:
    """Create, migrate and fill one database (or reuse it); return how long each step took."""
    url = database_url(backend, size)
    initiatives, lines, transactions = SIZES[size]
    ref = f"synthetic-{SEED}-{initiatives}-{lines}-{transactions}"
    key = f"{backend}/{size}"
    log = _setup_log()
    if reuse and _generated(url, ref):
        print(f"[{key}] reusing {url}")
        return dict(log.get(key, {}), reused=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
    else:
        name = _pg_name(url)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    t0 = time.perf_counter()
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    t1 = time.perf_counter()
    args = ["--initiatives", str(initiatives), "--budget-lines", str(lines)]
    args += ["--transactions", str(transactions), "--seed", str(SEED)]
    done = subprocess.run(
        [CLI, "generate", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    t2 = time.perf_counter()
    if done.returncode != 0:
        raise SystemExit(f"[{key}] generate failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    analyze = 0.0
    if backend == "postgresql":
        # A bulk load leaves no statistics until autovacuum comes by; ANALYZE is what
        # an operator runs after one (and what autovacuum would do within minutes).
        t3 = time.perf_counter()
        asyncio.run(_analyze(url))
        analyze = time.perf_counter() - t3
    entry = {
        "upgrade_s": round(t1 - t0, 1),
        "generate_s": round(t2 - t1, 1),
        "analyze_s": round(analyze, 1),
        "generator_says": done.stdout.splitlines()[0] if done.stdout else "",
        "loadavg_after": round(os.getloadavg()[0], 1),
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(f"[{key}] generated in {entry['generate_s']} s ({entry['generator_says']})")
    log[key] = entry
    SETUP_LOG.write_text(json.dumps(log, indent=2))
    return dict(entry, reused=False)


async def _analyze(url: str) -> None:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def drop(backend: str, size: str) -> None:
    url = database_url(backend, size)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
    else:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{_pg_name(url)}" WITH (FORCE)'))
    print(f"[{backend}/{size}] dropped")


# ---------------------------------------------------------------- measuring


@dataclass
class Figures:
    query: str
    backend: str
    size: str
    runs: int
    p50_ms: float
    p95_ms: float
    statements: int
    kb: float
    floor_p50_ms: float
    floor_p95_ms: float
    floor_statements: int
    floor_kb: float
    same_json: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.p50_ms / self.floor_p50_ms if self.floor_p50_ms else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    # Nearest rank: the smallest sample with at least q of them at or below it.
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def _serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", **floor.SETTINGS_ENV}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench")),
            *("floor:bench_app", "--factory", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log"),
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("uvicorn did not start")


def _time_pair(
    client: httpx.Client, name: str, program_id: int, runs: int, budget_s: float
) -> tuple[list[float], list[float], int, int, list[str]]:
    """Samples of the API and of the floor, alternating so both see the same noise."""
    api = floor.api_request(name, program_id)
    floor_path = f"/floor/{name}?program={program_id}"
    notes: list[str] = []
    t0 = time.perf_counter()
    first = client.post("/graphql", json=api)
    warm = time.perf_counter() - t0
    if "errors" in first.json():
        raise SystemExit(f"{name}: {first.text[:800]}")
    client.get(floor_path)
    if warm < budget_s / runs:
        client.post("/graphql", json=api)  # a second warm-up when it is cheap
    else:
        runs = max(3, min(runs, int(budget_s / max(warm, 1e-3))))
        notes.append(f"first request {warm:.1f} s: {runs} runs")
    api_ms: list[float] = []
    floor_ms: list[float] = []
    size = floor_size = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.post("/graphql", json=api)
        api_ms.append((time.perf_counter() - t0) * 1000)
        size = len(r.content)
        t0 = time.perf_counter()
        f = client.get(floor_path)
        floor_ms.append((time.perf_counter() - t0) * 1000)
        floor_size = len(f.content)
    return api_ms, floor_ms, size, floor_size, notes


def code_version() -> str:
    """The commit measured, marked dirty when app/ has changes not committed (other
    people edit this tree: a run whose code changed under it is not one measurement)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "app"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return f"{head}{'+dirty' if dirty else ''}"


def measure(
    backend: str, size: str, queries: list[str], runs: int, budget_s: float
) -> list[Figures]:
    url = database_url(backend, size)
    version = code_version()
    program_id = asyncio.run(inprocess.program_id(url))
    checks = asyncio.run(inprocess.check(url, program_id, queries))
    server, base = _serve(url)
    out = []
    try:
        with httpx.Client(base_url=base, timeout=900) as client:
            for name in queries:
                load = os.getloadavg()[0]
                api_ms, floor_ms, kb, floor_kb, notes = _time_pair(
                    client, name, program_id, runs, budget_s
                )
                check = checks[name]
                fig = Figures(
                    query=name,
                    backend=backend,
                    size=size,
                    runs=len(api_ms),
                    p50_ms=round(statistics.median(api_ms), 1),
                    p95_ms=round(_percentile(api_ms, 0.95), 1),
                    statements=check.statements,
                    kb=round(kb / 1024, 1),
                    floor_p50_ms=round(statistics.median(floor_ms), 1),
                    floor_p95_ms=round(_percentile(floor_ms, 0.95), 1),
                    floor_statements=check.floor_statements,
                    floor_kb=round(floor_kb / 1024, 1),
                    same_json=check.same,
                    notes=[*notes, f"load {load:.1f}", *check.notes],
                )
                print(_row(fig), flush=True)
                out.append(fig)
    finally:
        server.terminate()
        server.wait()
    if code_version() != version or version.endswith("+dirty"):
        for fig in out:
            fig.notes.append(f"CODE CHANGED OR DIRTY during the run: {version} -> {code_version()}")
    return out


HEADER = (
    "| query | backend | size | runs | p50 ms | p95 ms | SQL | KB | floor p50 ms | floor SQL "
    "| ratio | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _row(f: Figures) -> str:
    same = "" if f.same_json else "FLOOR JSON DIFFERS; "
    return (
        f"| {f.query} | {f.backend} | {f.size} | {f.runs} | {f.p50_ms:.1f} | {f.p95_ms:.1f} | "
        f"{f.statements} | {f.kb:.1f} | {f.floor_p50_ms:.1f} | {f.floor_statements} | "
        f"{f.ratio:.1f} | {same}{'; '.join(f.notes)} |"
    )


def machine() -> str:
    with sqlite3.connect(":memory:") as conn:
        sqlite_version = conn.execute("select sqlite_version()").fetchone()[0]

    async def pg_version() -> str:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite_version}, "
        f"PostgreSQL {asyncio.run(pg_version())}, load average {os.getloadavg()[0]:.1f}, "
        f"code {code_version()}"
    )


# ---------------------------------------------------------------- command line


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    common.add_argument("--size", choices=["S", "L", "both"], default="both")
    common.add_argument("--reuse", action="store_true", help="keep a database already filled")
    run = sub.add_parser("run", parents=[common], help="set up, measure, drop (unless --keep)")
    run.add_argument("--queries", default=",".join(floor.QUERIES))
    run.add_argument("--runs", type=int, default=25)
    run.add_argument(
        "--budget",
        type=float,
        default=240,
        help="seconds of API requests per query: fewer runs (at least 3) when slow",
    )
    run.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    run.add_argument("--json", type=Path, help="also write the figures here")
    sub.add_parser("setup", parents=[common], help="create and fill the databases only")
    sub.add_parser("drop", parents=[common], help="drop the databases")
    for name, text in (("profile", "cProfile one request"), ("explain", "EXPLAIN its SQL")):
        p = sub.add_parser(name, parents=[common], help=f"{text}, in-process")
        p.add_argument("query", choices=list(floor.QUERIES))
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    sizes = ["S", "L"] if args.size == "both" else [args.size]
    pairs = [(b, s) for s in sizes for b in backends]
    if args.command == "drop":
        for b, s in pairs:
            drop(b, s)
        return
    if args.command in ("profile", "explain"):
        for b, s in pairs:
            setup(b, s, reuse=True)
            url = database_url(b, s)
            action = inprocess.profile if args.command == "profile" else inprocess.explain
            asyncio.run(action(url, args.query))
        return
    print(machine())
    results: list[dict[str, Any]] = []
    for b, s in pairs:
        made = setup(b, s, args.reuse)
        if args.command == "run":
            queries = [q for q in args.queries.split(",") if q]
            figures = measure(b, s, queries, args.runs, args.budget)
            results += [dict(asdict(f), ratio=round(f.ratio, 1), setup=made) for f in figures]
            if not args.keep:
                drop(b, s)
    if results:
        print(f"\n{machine()}\n{HEADER}")
        for r in results:
            print(_row(Figures(**{k: v for k, v in r.items() if k not in ("ratio", "setup")})))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

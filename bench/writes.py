"""Writes through the API: latency one at a time, and throughput with many writers.

Every write takes the one write lock (the audit chain's head row) before its checks,
so writers queue; this measures what that costs. A real uvicorn server on a fresh
database with the demo loaded; an editor key; `createTransaction` mutations (each
checks its initiative, its currency and a rate, then appends its trail entry).

    .venv/bin/python bench/writes.py --backend both --writes 300 --writers 1,4,16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PORT = 8871
MUTATION = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } errors { code message } }
}"""


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN / "pledge-ledger"), *args], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


async def make_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'writes.db'}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute("DROP DATABASE IF EXISTS bench_writes WITH (FORCE)")
        await admin.execute("CREATE DATABASE bench_writes")
    finally:
        await admin.close()
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + (
        "/bench_writes"
    )


async def drop_database(backend: str) -> None:
    if backend == "postgresql":
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute("DROP DATABASE IF EXISTS bench_writes WITH (FORCE)")
        finally:
            await admin.close()


async def wait_ready(http: httpx.AsyncClient) -> None:
    # Up to a minute: a server starting on a busy machine took more than 10 s.
    for _ in range(600):
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


async def run_writers(
    http: httpx.AsyncClient, key: str, writes: int, writers: int
) -> dict[str, float]:
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    variables = {
        "input": {
            "initiativeId": "SW5pdGlhdGl2ZToy",  # CP-02 of the demo
            "type": "EXPENDITURE",
            "date": day,
            "amount": "1000.00",
            "currency": "CNY",
        }
    }
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    failures = 0

    async def writer(count: int) -> None:
        nonlocal failures
        for _ in range(count):
            started = time.perf_counter()
            response = await http.post(
                "/graphql", json={"query": MUTATION, "variables": variables}, headers=headers
            )
            latencies.append(time.perf_counter() - started)
            body = response.json()
            if response.status_code != 200 or body["data"]["createTransaction"]["errors"]:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(writes // writers) for _ in range(writers)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "writes": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "failures": failures,
    }


async def bench(backend: str, writes: int, writer_counts: list[int]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench_writes_"))
    url = await make_database(backend, workdir)
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    cli(env, "db", "upgrade")
    cli(env, "demo", "load")
    key = cli(env, "keys", "create", "--name", "bench-editor", "--role", "editor")
    # The server runs beside this loop for the whole measurement; nothing waits on it.
    server = subprocess.Popen(  # noqa: ASYNC220
        [
            str(BIN / "uvicorn"),
            "app.main:create_app",
            "--factory",
            "--port",
            str(PORT),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{PORT}",
            timeout=60,
            limits=httpx.Limits(max_connections=max(writer_counts) * 2),
        ) as http:
            await wait_ready(http)
            await run_writers(http, key, 20, 1)  # warm-up
            for writers in writer_counts:
                r = await run_writers(http, key, writes, writers)
                print(
                    f"| {backend} | {writers} | {r['writes']:.0f} | {r['per_second']:.0f} | "
                    f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['failures']:.0f} |",
                    flush=True,
                )
        verify = cli(env, "audit", "verify").splitlines()[0]
        print(f"<!-- {backend}: audit verify after the run: {verify} -->")
    finally:
        server.terminate()
        server.wait(timeout=10)
        await drop_database(backend)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--writes", type=int, default=300, help="writes per measurement")
    parser.add_argument("--writers", default="1,4,16", help="concurrent writers, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.writers.split(",")]
    print("| backend | writers | writes | writes/s | p50 ms | p95 ms | failed |")
    print("|---|---|---|---|---|---|---|")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        asyncio.run(bench(backend, args.writes, counts))


if __name__ == "__main__":
    main()

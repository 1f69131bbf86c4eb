"""The benchmarks' own databases: where each lives, made empty and migrated, and the
service's command line run on it (`as_of.py`, `rollups.py`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "pledge-ledger")
ADMIN_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/pledge_bench"))


def database_url(backend: str, name: str) -> str:
    """The URL of the benchmark database `name`: a file in DATA_DIR on SQLite, a database
    beside ADMIN_DSN's on PostgreSQL."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{DATA_DIR / f'{name}.db'}"
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def admin(sql: str, dsn: str = ADMIN_DSN) -> None:
    """Run `sql` on the PostgreSQL server's maintenance database (`dsn`)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def remake(backend: str, url: str) -> None:
    """The database at `url` emptied (dropped and made again) and migrated."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
    else:
        name = url.rsplit("/", 1)[1]
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    cli(url, "db", "upgrade")


def cli(url: str, *args: str) -> float:
    """Seconds `pledge-ledger ARGS` took on the database at `url`; its error ends the run."""
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"pledge-ledger {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started

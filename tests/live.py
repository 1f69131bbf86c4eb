"""Real servers for the live-update tests: a fresh database with the demo, uvicorn
processes on it, keys, and writes made the way users make them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app import models as m
from app.db.migrate import upgrade
from app.db.session import SessionFactory
from app.demo.loader import load_demo
from app.engines import ledger_engine, ledger_sessions
from app.kit.ids import encode_global_id
from app.reports.budget import rollups
from tests import factories as f
from tests.conftest import TEST_ACTOR, create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
CREATE = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } errors { code message } }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One uvicorn process of the service."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _spawn(
    port: int, env: dict[str, str], log: Path, workers: int, serve: bool
) -> subprocess.Popen[bytes]:
    if serve:  # as production starts it
        command = [str(Path(sys.executable).with_name("pledge-ledger")), "serve"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--workers", str(workers)]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def start_server(
    database_url: str, *, workers: int = 1, serve: bool = False, **settings: Any
) -> Server:
    """A server process on `database_url` with these settings (as environment), ready;
    with `workers`, uvicorn's own worker processes behind one port. `serve`: started by
    `pledge-ledger serve`, as production starts it, rather than by uvicorn's command."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        # Test clients all come from 127.0.0.1: no rate limits unless a test sets them.
        "RATE_LIMIT_PER_ADDRESS": "",
        "RATE_LIMIT_PER_KEY": "",
        **{k.upper(): str(v) for k, v in settings.items()},
    }
    log = Path(tempfile.mkstemp(prefix="pledge-live-", suffix=".log")[1])
    process = _spawn(port, env, log, workers, serve)
    server = Server(port, process, log)
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{server.output()}")
            try:
                if (await http.get(f"{server.http}/healthz")).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"server did not start:\n{server.output()}")
            await asyncio.sleep(0.1)


@dataclass
class LiveData:
    """A database of its own, with the demo and keys for every role."""

    backend: str
    url: str
    sessions: SessionFactory
    keys: dict[str, str]  # role (or name) → secret
    initiatives: list[str]  # global IDs, in id order
    codes: list[str]
    servers: list[Server] = field(default_factory=list)

    async def write(self, server: Server, count: int = 1, *, initiative: int = 0) -> list[str]:
        """`count` transactions created through `server`'s API by an editor, one request
        each; their global IDs."""
        ids = []
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(count):
                response = await http.post(
                    f"{server.http}/graphql",
                    json={
                        "query": CREATE,
                        "variables": {
                            "input": {
                                "initiativeId": self.initiatives[initiative],
                                "type": "DISBURSEMENT",
                                "date": "2024-05-02",
                                "amount": "100.00",
                                "currency": "CNY",
                            }
                        },
                    },
                    headers={"Authorization": f"Bearer {self.keys['editor']}"},
                )
                payload = response.json()["data"]["createTransaction"]
                assert payload["errors"] == [], payload
                ids.append(payload["transaction"]["id"])
        return ids

    async def burst(self, count: int, *, initiative: int = 0) -> list[int]:
        """`count` transactions written in one database transaction (one commit, many
        entries, as a bulk load writes them); their keys."""
        async with self.sessions() as session, session.begin():
            record = (await session.scalars(select(m.Initiative).order_by(m.Initiative.id))).all()[
                initiative
            ]
            rows = [
                await f.transaction(session, record, amount=Decimal("1.00")) for _ in range(count)
            ]
            return [row.id for row in rows]

    async def last_sequence(self) -> int:
        from app.events.hub import last_sequence

        return await last_sequence(self.sessions)


async def live_data(backend: str, tmp: Path, url: str | None = None) -> AsyncIterator[LiveData]:
    """A fresh database (dropped after) with the demo and keys; for a module's servers.
    `url`: an empty database of the caller's instead, which the caller disposes of."""
    own = url is None
    if url is None and backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'live.db'}"
    elif url is None:
        url = await create_postgres_database("pledge_live")
    engine = ledger_engine(url)
    rollups.install()  # as the app and the command line do
    try:
        await upgrade(engine)
        sessions = ledger_sessions(engine, actor=TEST_ACTOR)
        async with sessions() as session, session.begin():
            await load_demo(session)
            initiatives = (
                await session.scalars(select(m.Initiative).order_by(m.Initiative.id))
            ).all()
            codes = [i.code for i in initiatives]
            keys = {
                role: await f.api_key(session, role, name=f"live-{role}")
                for role in ("viewer", "auditor", "editor", "admin")
            }
            keys["partner"] = await f.api_key(
                session, "partner", initiatives=codes[:1], name="live-partner"
            )
        yield LiveData(
            backend,
            url,
            sessions,
            keys,
            [encode_global_id("Initiative", i.id) for i in initiatives],
            codes,
        )
    finally:
        await engine.dispose()
        if backend == "postgresql" and own:
            await drop_postgres_database(url)


def sequences(events: Sequence[dict[str, Any]]) -> list[int]:
    return [int(e["changes"]["sequence"]) for e in events]

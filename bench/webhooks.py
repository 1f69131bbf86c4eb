"""Webhooks: deliveries per second to 1 and to 100 endpoints, and commit → delivery
latency (p50/p99).

A fresh database (SQLite file, or a PostgreSQL database made for the run) with the demo
and an admin key; one `pledge-ledger serve` process delivers (its own worker, started
in its lifespan); one asyncio receiver in this process answers 200 to every POST on
keep-alive connections and notes when each arrives. `--endpoints` endpoints are
registered with the key (all on the receiver, each at its own path).

- throughput: `--burst` transactions are committed in one database transaction; the
  figure is deliveries (endpoints x burst) over the time from that commit to the last
  arrival;
- latency: `--lone` transactions are created one at a time through the server's API
  (`createTransaction`, as an editor), `--interval` apart;
  each delivery's latency is its arrival minus the change's `occurredAt` (written just
  before the commit on the same clock, so it slightly overstates).

Every endpoint must receive every event, in order; anything else is reported.

    .venv/bin/python bench/webhooks.py --backend both --endpoints 1,100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import models as m  # noqa: E402
from app.audit.records import Actor  # noqa: E402
from app.auth.keys import create_key  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.demo.loader import load_demo  # noqa: E402
from app.engines import ledger_engine, ledger_sessions  # noqa: E402
from app.kit.ids import encode_global_id  # noqa: E402
from app.webhooks import service  # noqa: E402

POSTGRES = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ACTOR = Actor("bench", "system")


class Receiver:
    """Minimal HTTP/1.1 server: reads each request, answers 200, notes the arrival."""

    def expect(self, count: int) -> None:
        self.arrivals.clear()
        self.count = 0
        self.target = count
        self.reached.clear()

    def __init__(self) -> None:
        self.arrivals: dict[str, list[tuple[float, int, str]]] = {}
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length)
                data = json.loads(body)["data"]
                now = time.time()
                self.arrivals.setdefault(path, []).append(
                    (now, int(data["sequence"]), data["occurredAt"])
                )
                self.count += 1
                if self.count >= self.target:
                    self.reached.set()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def database(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'bench.db'}", None
    name = f"bench_hooks_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return POSTGRES.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+asyncpg://"
    ) + f"/{name}", name


async def commit(sessions: Any, count: int) -> None:
    async with sessions() as session, session.begin():
        initiative = (await session.scalars(select(m.Initiative).order_by(m.Initiative.id))).first()
        for _ in range(count):
            session.add(
                m.Transaction(
                    initiative_id=initiative.id,
                    type=m.TransactionType.DISBURSEMENT,
                    transaction_date=date(2024, 1, 1),
                    amount=Decimal("1.00"),
                    currency="CNY",
                    value_date=date(2024, 1, 1),
                )
            )


CREATE = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } errors { code message } }
}"""


async def write(http: httpx.AsyncClient, port: int, key: str, initiative_id: str) -> None:
    """One transaction through the server's API, as an editor makes it."""
    given = {
        "initiativeId": initiative_id,
        "type": "DISBURSEMENT",
        "date": "2024-05-02",
        "amount": "1.00",
        "currency": "CNY",
    }
    response = await http.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": CREATE, "variables": {"input": given}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.json()["data"]["createTransaction"]["errors"] == [], response.text


def spawn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).with_name("pledge-ledger")), "serve", "--port", str(port)]
    log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "wb")  # noqa: SIM115
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)


async def run(
    backend: str, endpoints: int, burst: int, lone: int, interval: float
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-hooks-"))
    url, pg_name = await database(backend, tmp)
    engine = ledger_engine(url)
    receiver = Receiver()
    await receiver.start()
    # The signing secrets' key, shared by this process (which registers) and the server.
    secret_key = Fernet.generate_key().decode()
    settings = Settings(
        database_url=url,
        webhook_allow_private_addresses=True,
        webhook_secret_key=SecretStr(secret_key),
    )
    process = None
    try:
        await upgrade(engine)
        sessions = ledger_sessions(engine, actor=ACTOR)
        async with sessions() as session, session.begin():
            await load_demo(session)
            await create_key(
                session, name="bench-admin", role="admin", initiative_codes=[], created_by="bench"
            )
            _key, editor = await create_key(
                session, name="bench-editor", role="editor", initiative_codes=[], created_by="bench"
            )
            first = (await session.scalars(select(m.Initiative).order_by(m.Initiative.id))).first()
            initiative_id = encode_global_id("Initiative", first.id)
            for i in range(endpoints):
                await service.add(
                    session,
                    settings,
                    url=f"http://127.0.0.1:{receiver.port}/hook/{i}",
                    key_name="bench-admin",
                    entity_types=[],
                    operations=[],
                    initiative_codes=[],
                    created_by="bench",
                )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "WEBHOOK_SECRET_KEY": secret_key,
            "WEBHOOK_POLL_SECONDS": "1",
            "WEBHOOK_CONCURRENCY": os.environ.get("WEBHOOK_CONCURRENCY", "16"),
            "RATE_LIMIT_PER_ADDRESS": "",
            "RATE_LIMIT_PER_KEY": "",
        }
        port = 18000 + os.getpid() % 1000
        process = spawn(port, env)
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the worker reaches the trail's end
        # throughput
        expected = endpoints * burst
        receiver.expect(expected)
        started = time.time()
        await commit(sessions, burst)
        await receiver.reached.wait()
        elapsed = time.time() - started
        throughput = expected / elapsed
        # latency
        receiver.expect(endpoints * lone)
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(lone):
                await write(http, port, editor, initiative_id)
                await asyncio.sleep(interval)
        await receiver.reached.wait()
        latencies = sorted(
            arrived - datetime.fromisoformat(occurred).replace(tzinfo=UTC).timestamp()
            for got in receiver.arrivals.values()
            for arrived, _seq, occurred in got
        )
        in_order = all(
            [s for _, s, _ in got] == sorted(s for _, s, _ in got)
            for got in receiver.arrivals.values()
        )
        return {
            "backend": backend,
            "endpoints": endpoints,
            "deliveries_per_s": round(throughput),
            "burst_seconds": round(elapsed, 2),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(
                1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1
            ),
            "in_order": in_order,
        }
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
        await engine.dispose()
        if pg_name is not None:
            admin = await asyncpg.connect(POSTGRES)
            await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--endpoints", default="1,100")
    parser.add_argument("--burst", type=int, default=2000, help="events in the burst (1 endpoint)")
    parser.add_argument("--lone", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        for endpoints in (int(n) for n in args.endpoints.split(",")):
            # The same number of deliveries whatever the endpoints: burst / endpoints each.
            burst = max(10, args.burst // endpoints)
            print(
                json.dumps(await run(backend, endpoints, burst, args.lone, args.interval)),
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())

"""Webhooks from `pledge-ledger serve` processes, on both databases: endpoints
registered with the CLI; a partner's deliveries are the events its own `changes`
subscription receives; `kill -9` of the delivering process loses nothing; two healthy
processes never send one delivery twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner, Result

from app import models as m
from app.cli import cli as ledger_cli
from app.config import get_settings
from app.webhooks.worker import FLUSH_EVERY
from tests.conftest import WEBHOOK_SECRET_KEY
from tests.graphql.subscriptions.common import CHANGES, connect
from tests.live import LiveData, Server, live_data, start_server
from tests.webhooks.common import data_of, until
from tests.webhooks.receiver import Receiver

SERVER: dict[str, Any] = {
    "webhook_allow_private_addresses": "true",
    "webhook_secret_key": WEBHOOK_SECRET_KEY,
    "webhook_poll_seconds": 0.1,
    "webhook_retry_first_seconds": 0.1,
    "webhook_retry_last_seconds": 0.5,
    "events_poll_seconds": 0.2,
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    async for data in live_data(request.param, tmp_path_factory.mktemp("hooks")):
        yield data


def cli(live: LiveData, *args: str) -> list[str]:
    """Run `pledge-ledger webhooks ARGS` on the database; its stdout's lines.

    The command runs in this process (a new one would spend two seconds importing the
    app for each call), on a thread of its own, since it starts its own event loop."""
    env = {
        "DATABASE_URL": live.url,
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "WEBHOOK_SECRET_KEY": WEBHOOK_SECRET_KEY,
    }

    def run() -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(ledger_cli, ["webhooks", *args], env=env)
        finally:
            get_settings.cache_clear()

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(run).result(timeout=60)
    assert done.exit_code == 0, (done.output, done.exception)
    return done.stdout.splitlines()


def add(live: LiveData, url: str, key: str) -> tuple[int, str]:
    lines = cli(live, "add", url, "--key", key)
    assert lines[0].startswith("endpoint ") and lines[-1].startswith("whsec_")
    return int(lines[0].split()[1]), lines[-1]


async def cursor_of(live: LiveData, endpoint_id: int) -> str:
    async with live.sessions() as session:
        row = await session.get(m.WebhookEndpoint, endpoint_id)
        assert row is not None
        return row.cursor


async def test_a_partners_deliveries_are_its_subscriptions_events(live: LiveData) -> None:
    # given an endpoint for the partner's key (it sees the first initiative only)
    receiver = Receiver().up()
    endpoint_id, secret = add(live, receiver.url, "live-partner")
    server = await start_server(live.url, serve=True, **SERVER)
    try:
        client = await connect(server, live.keys["partner"])
        async with client:
            stream = await client.subscribe(CHANGES, {"after": await cursor_of(live, endpoint_id)})
            # when changes commit to its initiative and to another one
            await live.write(server, 2, initiative=0)
            await live.write(server, 2, initiative=1)
            await live.write(server, 1, initiative=0)
            expected = [(await stream.data())["changes"] for _ in range(3)]
            await until(lambda: len(receiver.accepted()) >= 3)
            await asyncio.sleep(1.0)  # time for anything that should not come
    finally:
        server.stop()
        receiver.down()
        cli(live, "remove", str(endpoint_id))
    # then it received exactly what the subscription sent the same key, signed
    got = receiver.accepted()
    assert [data_of(r.body) for r in got] == expected
    for r in got:
        Webhook(secret).verify(r.body, r.headers)
    assert all(e["actor"]["name"] is None for e in expected)  # the partner's field rule


async def test_kill_9_of_the_delivering_process_loses_nothing(live: LiveData) -> None:
    # given a slow receiver and 30 changes to deliver
    receiver = Receiver(delay=0.05).up()
    endpoint_id, _secret = add(live, receiver.url, "live-admin")
    start = await live.last_sequence()
    settings = {**SERVER, "webhook_lease_seconds": 2}
    first = await start_server(live.url, serve=True, **settings)
    second: Server | None = None
    try:
        await live.burst(30)
        await until(lambda: len(receiver.accepted()) >= 5)
        # when the delivering process is killed mid-way, and another one runs
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        second = await start_server(live.url, serve=True, **settings)
        expected = list(range(start + 1, start + 31))
        await until(
            lambda: {data_of(r.body)["sequence"] for r in receiver.accepted()} >= set(expected),
            60,
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()
        receiver.down()
        cli(live, "remove", str(endpoint_id))
    # then every event arrived, in order; repeated only: what was accepted but not yet
    # recorded when the process died (at most FLUSH_EVERY), under the same webhook-id
    seen = [data_of(r.body)["sequence"] for r in receiver.accepted()]
    firsts = list(dict.fromkeys(seen))
    assert firsts == expected
    assert len(seen) - len(firsts) <= FLUSH_EVERY
    ids = {data_of(r.body)["sequence"]: r.headers["webhook-id"] for r in receiver.accepted()}
    assert len(set(ids.values())) == len(expected)


async def test_two_healthy_processes_never_send_one_delivery_twice(live: LiveData) -> None:
    receivers = [Receiver().up() for _ in range(4)]
    endpoints = [add(live, r.url, "live-admin")[0] for r in receivers]
    servers = [await start_server(live.url, serve=True, **SERVER) for _ in range(2)]
    try:
        for _ in range(5):
            await live.burst(8)
            await live.write(servers[0], 2)
        await until(lambda: all(len(r.accepted()) >= 50 for r in receivers), 60)
        await asyncio.sleep(1.0)
    finally:
        for server in servers:
            server.stop()
        for receiver in receivers:
            receiver.down()
        for endpoint_id in endpoints:
            cli(live, "remove", str(endpoint_id))
    for receiver in receivers:
        counts = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert len(counts) == 50
        assert max(counts.values()) == 1
        sequences = [data_of(r.body)["sequence"] for r in receiver.received]
        assert sequences == sorted(sequences)

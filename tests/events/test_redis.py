"""Live updates with Redis as the broker: two server processes on PostgreSQL that
learn of each other's commits through Redis pub/sub, and what happens when Redis goes
away and comes back. Polls are slow (30 s): what arrives in time came through Redis,
or through the catch-up a reconnect triggers."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from tests.conftest import unreachable
from tests.graphql.subscriptions.common import CHANGES, connect
from tests.live import LiveData, free_port, live_data, start_server

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def reachable(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        unreachable("Redis", f"{url}: {exc}")
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveData]:
    await reachable(REDIS_URL)
    async for data in live_data("postgresql", tmp_path_factory.mktemp("live-redis")):
        try:
            for _ in range(2):
                data.servers.append(
                    await start_server(
                        data.url,
                        events_broker="redis",
                        redis_url=REDIS_URL,
                        events_poll_seconds=30,
                    )
                )
            yield data
        finally:
            for server in data.servers:
                server.stop()


async def test_a_change_on_one_process_reaches_another_through_redis(live: LiveData) -> None:
    a, b = live.servers
    async with await connect(b, live.keys["viewer"]) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)
        created = await live.write(a, 2)
        events = [(await subscription.data())["changes"] for _ in range(2)]
        assert [e["entityId"] for e in events] == created
        await subscription.nothing(0.5)


class PrivateRedis:
    """A redis-server of the test's own, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unreachable("Redis", "no redis-server binary to start a private instance")
        self.binary = str(binary)
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> None:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def start(self) -> None:
        self._spawn()
        for _ in range(100):
            client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                if await client.ping():
                    return
            except Exception:
                await asyncio.sleep(0.05)
            finally:
                await client.aclose()
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


async def test_subscribers_catch_up_when_redis_returns(live: LiveData, tmp_path: Path) -> None:
    broker = PrivateRedis(tmp_path)
    await broker.start()
    servers = []
    try:
        for _ in range(2):
            servers.append(
                await start_server(
                    live.url, events_broker="redis", redis_url=broker.url, events_poll_seconds=30
                )
            )
        a, b = servers
        async with await connect(b, live.keys["viewer"]) as client:
            subscription = await client.subscribe(CHANGES)
            await asyncio.sleep(0.2)
            broker.stop()
            # Committed while the broker is away: A cannot tell B.
            created = await live.write(a, 3)
            await subscription.nothing(1.0)
            await broker.start()
            events = [(await subscription.data(wait=15))["changes"] for _ in range(3)]
            assert [e["entityId"] for e in events] == created
            await subscription.nothing(0.5)
    finally:
        for server in servers:
            server.stop()
        broker.stop()

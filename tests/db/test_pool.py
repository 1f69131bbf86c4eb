"""The PostgreSQL pool hands out connections that work, without a round trip of its own
for one given back a moment ago: a connection the server closed is replaced at
checkout (and every other opened before it), and one idle for long is pinged first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import session as db_session
from app.db.session import create_engine
from tests.conftest import POSTGRES_DSN, Database

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def engine(db: Database) -> AsyncIterator[AsyncEngine]:
    """A pooled engine of the app's own making on the test database."""
    made = create_engine(db.url)
    try:
        yield made
    finally:
        await made.dispose()


async def _driver(conn: AsyncConnection) -> Any:
    return (await conn.get_raw_connection()).driver_connection


async def _pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _pings(engine: AsyncEngine) -> int:
    """The pings sent when the pool's connection, given back, is taken again and used."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query.strip())

    async with engine.connect() as first:
        await first.execute(text("SELECT 1"))
        driver = await _driver(first)
    driver.add_query_logger(log)
    try:
        async with engine.connect() as conn:
            assert await _driver(conn) is driver  # the pool's one connection, again
            await conn.execute(text("SELECT 1"))
        for _ in range(3):  # the driver calls its loggers soon after, not at once
            await asyncio.sleep(0)
    finally:
        driver.remove_query_logger(log)
    return sent.count(";")  # SQLAlchemy's ping on PostgreSQL: an empty statement


async def test_a_connection_given_back_a_moment_ago_is_used_without_a_ping(
    engine: AsyncEngine,
) -> None:
    assert await _pings(engine) == 0


async def test_a_connection_idle_for_long_is_pinged_first(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)
    assert await _pings(engine) == 1


async def test_connections_the_server_closed_are_replaced_at_checkout(
    engine: AsyncEngine,
) -> None:
    # given: two pooled connections, then the server ends both (as a restart would)
    async with engine.connect() as one, engine.connect() as two:
        pids = {await _pid(one), await _pid(two)}
        drivers = [await _driver(one), await _driver(two)]
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await admin.close()
    for _ in range(500):  # until the client has seen both sockets close
        if all(d.is_closed() for d in drivers):
            break
        await asyncio.sleep(0.01)

    # when / then: each checkout gets a working connection, a new one
    for _ in range(2):
        async with engine.connect() as conn:
            assert await _pid(conn) not in pids

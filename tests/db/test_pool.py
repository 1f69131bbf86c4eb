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


async def test_a_connection_given_back_a_moment_ago_is_taken_without_a_greenlet(
    engine: AsyncEngine,
) -> None:
    """`taken_at_once` (a kept read's check-out, app/db/shared.py `_pooled_row`) runs
    in this test's own task: had the pool anything to await (a wait, a connection to
    open, a ping), SQLAlchemy would raise MissingGreenlet."""
    # given: one connection, used and given back
    async with engine.connect() as conn:
        driver = await _driver(conn)
    pool: Any = engine.sync_engine.pool
    sent: list[str] = []
    driver.add_query_logger(lambda record: sent.append(record.query))
    # when
    fairy = db_session.taken_at_once(engine.sync_engine)
    # then: that very connection, checked out as SQLAlchemy checks out, nothing sent
    assert fairy is not None and fairy.driver_connection is driver
    assert (pool.checkedout(), pool.checkedin()) == (1, 0)
    fairy.close()
    assert (pool.checkedout(), pool.checkedin()) == (0, 1)
    await asyncio.sleep(0)
    assert sent == []
    # and the pool's other users see it as any connection of the pool
    async with engine.connect() as conn:
        assert await _driver(conn) is driver
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_full_pool_hands_its_one_idle_connection_over_without_a_greenlet(
    engine: AsyncEngine,
) -> None:
    """At its busiest the pool has opened all it may (POOL_SIZE + POOL_OVERFLOW): the
    one connection given back is still handed over without a wait (SQLAlchemy 2.0's
    pool waited on its queue there, needing the greenlet: pyproject.toml's floor)."""
    # given: every connection the pool may open, in use, then one given back
    pool: Any = engine.sync_engine.pool
    limit = db_session.POOL_SIZE + db_session.POOL_OVERFLOW
    held = [await engine.connect() for _ in range(limit)]
    for conn in held:
        await conn.execute(text("SELECT 1"))
    given_back = held.pop()
    driver = await _driver(given_back)
    await given_back.close()
    assert (pool.checkedout(), pool.checkedin()) == (limit - 1, 1)
    try:
        # when: taken in this test's own task (a wait would raise MissingGreenlet)
        fairy = db_session.taken_at_once(engine.sync_engine)
        # then: that connection, and the pool at its limit again
        assert fairy is not None and fairy.driver_connection is driver
        assert pool.checkedout() == limit
        fairy.close()
        # and with none idle, nothing is taken at once
        async with engine.connect():
            assert db_session.taken_at_once(engine.sync_engine) is None
    finally:
        for conn in held:
            await conn.close()


async def _idle_for_long(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)


async def _closed_by_the_server(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.connect() as conn:
        pid, driver = await _pid(conn), await _driver(conn)
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(500):
        if driver.is_closed():
            break
        await asyncio.sleep(0.01)


async def _invalidated(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.connect() as conn:
        await conn.invalidate()


async def _due_for_recycling(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.sync_engine.pool, "_recycle", 0)


async def _another_listener(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import event

    event.listen(engine.sync_engine.pool, "checkout", lambda *args: None)


async def _nothing_idle(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the pool's one connection in use meanwhile
    return await engine.connect()


@pytest.mark.parametrize(
    "case",
    [
        _idle_for_long,
        _closed_by_the_server,
        _invalidated,
        _due_for_recycling,
        _another_listener,
        _nothing_idle,
    ],
)
async def test_a_check_out_that_may_await_is_left_to_sqlalchemys_greenlet(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, case: Any
) -> None:
    # given: a connection that the pool would ping, replace or reconnect at check-out,
    # a listener the app does not know, or no idle connection at all
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    in_use = await case(engine, monkeypatch)
    pool: Any = engine.sync_engine.pool
    held = (pool.checkedout(), pool.checkedin())
    # when / then: nothing taken, nothing opened
    assert db_session.taken_at_once(engine.sync_engine) is None
    assert (pool.checkedout(), pool.checkedin()) == held
    # and SQLAlchemy's own check-out gives a working connection, as before
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    if in_use is not None:
        await in_use.close()


async def test_the_clock_passing_the_idle_limit_during_a_check_out_at_once_sends_no_ping(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a connection given back, found in no need of a ping when it is looked at,
    # and idle for long a moment later, when the pool's listener looks again
    async with engine.connect() as conn:
        driver = await _driver(conn)
    looks = iter([False, True, True])
    monkeypatch.setattr(db_session, "_idle_long", lambda record: next(looks))
    # when: taken at once (a ping would need a greenlet: MissingGreenlet)
    fairy = db_session.taken_at_once(engine.sync_engine)
    # then
    assert fairy is not None and fairy.driver_connection is driver
    fairy.close()

"""PostgreSQL's kept reads on connections the event loop holds between them
(app/db/shared.py `_hold`, `_held`): at most HELD_CONNECTIONS idle, each given back to
the pool once idle HELD_SECONDS, all of them while a check-out waits for the pool, and
before the engine is disposed of; a held connection is used again only as the pool
would hand it over without a ping. The kept read itself: test_driver.py."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.util import greenlet_spawn

from app.config import Settings
from app.db import shared
from app.db.session import _PROMISED
from app.db.shared import (
    _HOLDERS,
    CHECKOUTS,
    HELD_CONNECTIONS,
    give_back_held,
    held_connections,
)
from app.engines import ledger_engine
from app.main import create_app
from app.replicas.service import ReadReplica
from tests.conftest import Database, GraphQLClient
from tests.graphql.compiled.test_driver import DASHBOARD, _given_back, _seed
from tests.observability.test_observability import samples


@pytest.mark.postgres_only
async def test_the_loop_holds_a_few_connections_between_kept_reads_and_gives_them_back(
    db: Database,
    fresh_app: tuple[GraphQLClient, Any],
    client_with: Callable[..., GraphQLClient],
) -> None:
    """Many kept reads at once: each on a connection of its own, the loop holding at
    most HELD_CONNECTIONS of them afterwards, given back once idle; a held connection
    the server closed meanwhile is never used (the read takes another and answers)."""
    # given
    await _seed(db)
    client, fresh = fresh_app
    reference = await client_with(compiled_reads=False).post(DASHBOARD)
    for _ in range(2):
        assert (await client.post(DASHBOARD)).text == reference.text
    await _given_back(fresh)
    pool: Any = fresh.pool
    # when: more reads at once than the loop holds connections
    many = 3 * HELD_CONNECTIONS
    answers = await asyncio.gather(*(client.post(DASHBOARD) for _ in range(many)))
    # then: each answered as the reference; a few connections held, no other kept
    assert [a.text for a in answers] == [reference.text] * many
    held = held_connections(fresh)
    assert 1 <= held <= HELD_CONNECTIONS
    assert pool.checkedout() == held
    await _given_back(fresh)

    # given: one connection held, then closed by the server (its backend terminated)
    assert (await client.post(DASHBOARD)).text == reference.text
    assert held_connections(fresh) == 1
    holder = _HOLDERS[fresh.sync_engine]
    dead = holder.idle[-1][0]
    pid = dead.dbapi_connection.driver_connection.get_server_pid()
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    driver = dead.dbapi_connection.driver_connection
    for _ in range(100):  # until the driver has seen its socket close
        if driver.is_closed():
            break
        await asyncio.sleep(0.01)
    assert driver.is_closed()
    checkouts = Counter(CHECKOUTS)
    # when
    again = await client.post(DASHBOARD)
    # then: answered on another connection; the closed one given back (and the pool,
    # finding it closed, replaces every connection it opened before, as on check-out)
    assert (again.status_code, again.text) == (200, reference.text)
    assert (CHECKOUTS - checkouts)["held"] == 0
    assert dead.dbapi_connection is None  # given back to the pool
    assert held_connections(fresh) == 1
    assert holder.idle[-1][0] is not dead
    await _given_back(fresh)


@pytest.mark.postgres_only
async def test_held_connections_go_back_when_the_app_stops_and_when_the_pool_is_new(
    db: Database, settings: Settings
) -> None:
    """The app's shutdown gives the held connections back before its engine is
    disposed of; an engine disposed of meanwhile (a new pool) never hands a read a
    connection of its old pool."""
    # given: an app on an engine of its own, a kept read answered, its connection held
    await _seed(db)
    engine = ledger_engine(db.url)
    app = create_app(settings.model_copy(update={"database_url": db.url}), engine=engine)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as http,
        ):
            client = GraphQLClient(http)
            first = await client.post(DASHBOARD)
            for _ in range(2):
                assert (await client.post(DASHBOARD)).text == first.text
            assert held_connections(engine) == 1
            old = _HOLDERS[engine.sync_engine].idle[-1][0]
            # when: the engine is disposed of (a new pool), then read from again
            await engine.dispose()
            checkouts = Counter(CHECKOUTS)
            again = await client.post(DASHBOARD)
            # then: answered on a connection of the new pool; the old one given back
            assert (again.status_code, again.text) == (200, first.text)
            assert (CHECKOUTS - checkouts)["held"] == 0
            assert held_connections(engine) == 1
            assert _HOLDERS[engine.sync_engine].idle[-1][0] is not old
            assert old.dbapi_connection is None  # given back (to the old pool)
        # when: the app stopped
        # then: nothing held, nothing checked out
        assert held_connections(engine) == 0
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


@pytest.mark.postgres_only
@pytest.mark.parametrize("change", ["invalidated with its pool", "due to be recycled"])
async def test_a_held_connection_the_pool_would_not_hand_over_is_not_used(
    db: Database,
    fresh_app: tuple[GraphQLClient, Any],
    client_with: Callable[..., GraphQLClient],
    change: str,
) -> None:
    # given: the dashboard kept, its connection held
    await _seed(db)
    client, fresh = fresh_app
    reference = await client_with(compiled_reads=False).post(DASHBOARD)
    for _ in range(2):
        assert (await client.post(DASHBOARD)).text == reference.text
    pool: Any = fresh.pool
    old = _HOLDERS[fresh.sync_engine].idle[-1][0]
    # when: every connection of the pool invalidated (as when one is found dead), or
    # its connections due to be recycled
    if change == "invalidated with its pool":
        pool._invalidate_time = time.time()
    else:
        pool._recycle = 0
    checkouts = Counter(CHECKOUTS)
    again = await client.post(DASHBOARD)
    # then: answered on a connection of the pool's own check-out; the held one given back
    assert (again.status_code, again.text) == (200, reference.text)
    assert (CHECKOUTS - checkouts)["held"] == 0
    assert old.dbapi_connection is None
    if change == "due to be recycled":
        pool._recycle = -1
    await _given_back(fresh)


@pytest.mark.postgres_only
async def test_a_held_connection_the_pool_closes_is_closed_in_a_greenlet(
    db: Database, fresh_app: tuple[GraphQLClient, Any]
) -> None:
    """A held connection whose pool is full by the time it goes back is closed by the
    pool, which awaits the server: in a greenlet, on a task of its own."""
    # given: a connection held, then as many others as the pool keeps checked out
    # (the held one is one past them) and given back: the pool's queue is full
    await _seed(db)
    client, fresh = fresh_app
    for _ in range(2):
        assert (await client.post(DASHBOARD)).status_code == 200
    held = _HOLDERS[fresh.sync_engine].idle[-1][0]
    driver = held.dbapi_connection.driver_connection
    pool: Any = fresh.pool
    others = [await fresh.connect() for _ in range(pool.size())]
    for conn in others:
        await conn.close()
    assert pool.checkedin() == pool.size()
    # when: the held ones are given back
    give_back_held(fresh)
    assert held_connections(fresh) == 0
    await asyncio.gather(*shared._GIVING_BACK)
    # then: closed by the pool, the others kept
    assert held.dbapi_connection is None
    assert driver.is_closed()
    assert (pool.checkedout(), pool.checkedin()) == (0, pool.size())


@pytest.mark.postgres_only
async def test_a_connection_of_a_pool_since_disposed_of_is_never_held(db: Database) -> None:
    """A kept read that ran across its engine's disposal (a new pool) gives its
    connection back to the old pool: the loop holds none of another pool."""
    engine = ledger_engine(db.url)
    try:
        sync = engine.sync_engine
        # given: a connection checked out, then the engine disposed of
        fairy = await greenlet_spawn(sync.raw_connection)
        await engine.dispose()
        # when: the read on it ends
        # then: not held; given back to its own pool
        assert not shared._hold(sync, fairy)
        assert held_connections(engine) == 0
        await greenlet_spawn(fairy.close)
        # and one of the engine's pool now is held
        current = await greenlet_spawn(sync.raw_connection)
        assert shared._hold(sync, current)
        assert held_connections(engine) == 1
    finally:
        give_back_held(engine)
        await engine.dispose()


@pytest.mark.postgres_only
async def test_a_replica_gives_its_held_connections_back_when_closed(db: Database) -> None:
    # given: a replica's engine with a connection held between kept reads
    replica = ReadReplica(ledger_engine(db.url), 1.0)
    sync = replica.engine.sync_engine
    fairy = await greenlet_spawn(sync.raw_connection)
    assert shared._hold(sync, fairy)
    # when
    await replica.close()
    # then: given back before the engine was disposed of
    assert held_connections(replica.engine) == 0
    assert fairy.dbapi_connection is None


@pytest.mark.postgres_only
async def test_the_pool_gauges_count_held_connections_apart(
    db: Database, fresh_app: tuple[GraphQLClient, Any]
) -> None:
    # given: a kept read answered, its connection held
    await _seed(db)
    client, fresh = fresh_app
    for _ in range(2):
        assert (await client.post(DASHBOARD)).status_code == 200
    assert held_connections(fresh) == 1
    # when
    scraped = samples((await client.http.get("/metrics")).text)
    # then: held, not in use
    assert scraped[("pledge_ledger_db_pool_held", ())] == 1
    assert scraped[("pledge_ledger_db_pool_checked_out", ())] == 0
    await _given_back(fresh)


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("busy", "clients", "pause"), [(19, 1, 0.005), (19, 1, 0.0), (0, 20, 0.0), (0, 24, 0.0)]
)
async def test_a_check_out_that_waits_gets_a_connection_while_dashboards_keep_coming(
    db: Database,
    fresh_app: tuple[GraphQLClient, Any],
    busy: int,
    clients: int,
    pause: float,
) -> None:
    """At the pool's limit (connections busy elsewhere, or taken by the kept reads
    themselves), with dashboards coming every few ms or back to back, a check-out that
    waits (the readiness probe's) gets a connection at once: the loop holds none while
    anyone waits (`_hold`), and the reads that follow do not take the one given back to
    it first (`promised`)."""
    # given: the dashboard kept; `busy` connections taken elsewhere
    await _seed(db)
    client, fresh = fresh_app
    for _ in range(2):
        assert (await client.post(DASHBOARD)).status_code == 200
    taken = [await fresh.connect() for _ in range(busy)]
    stop = asyncio.Event()

    async def dashboards() -> int:
        answered = 0
        while not stop.is_set():
            assert (await client.post(DASHBOARD)).status_code == 200
            answered += 1
            if pause:
                await asyncio.sleep(pause)
        return answered

    load = [asyncio.create_task(dashboards()) for _ in range(clients)]
    try:
        await asyncio.sleep(0.3)
        # when: the readiness probe needs a connection
        started = asyncio.get_running_loop().time()
        ready = await client.http.get("/readyz")
        waited = asyncio.get_running_loop().time() - started
    finally:
        stop.set()
        answered = sum(await asyncio.gather(*load))
        for conn in taken:
            await conn.close()
    # then: answered at once (overtaken, it waited out its 5 s: 503), the dashboards too
    assert ready.status_code == 200, ready.text
    assert waited < 1.0
    assert answered > clients
    await _given_back(fresh)
    # and once the load is over, no connection in the pool is left promised: the next
    # kept reads take one at once
    pool: Any = fresh.pool
    assert [r for r in pool._pool._queue._queue if r.info.get(_PROMISED)] == []

"""One caller cannot take every pooled connection (review 2, A): each live query holds
one for its whole run, so a caller runs at most MAX_QUERIES_PER_CALLER at once, over
HTTP and WebSocket together; one more is BUSY at once, and others are answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.shared import held_connections
from app.graphql import query
from app.graphql.extensions.query_slots import query_slots
from app.kit.ids import encode_global_id
from app.main import create_app
from tests import factories as f
from tests.asgiws import AsgiWebSocket
from tests.conftest import Database, GraphQLClient

PROGRAMS = "{ programs { totalCount } }"
BUSY = {"code": "BUSY", "limit": 2, "setting": "MAX_QUERIES_PER_CALLER", "retryAfter": 5}


class App:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"database_url": db.url})
        self.app = create_app(self.settings, engine=db.engine)
        self.engine = db.engine
        self.https: list[httpx.AsyncClient] = []

    def client(self, address: str) -> GraphQLClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.https.append(http)
        return GraphQLClient(http)

    @property
    def running(self) -> int:
        """Live queries running now, every caller's."""
        return query_slots(self.app.state.schema, self.settings).running()

    @property
    def checked_out(self) -> int:
        """Connections checked out of the pool, but those the loop holds idle between
        kept reads (app/db/shared.py `_hold`)."""
        pool: Any = self.engine.sync_engine.pool
        return int(pool.checkedout()) - held_connections(self.engine)


@pytest.fixture
async def make_app(db: Database, settings: Settings) -> AsyncIterator[Callable[..., App]]:
    built: list[App] = []

    def build(**overrides: Any) -> App:
        app = App(db, settings.model_copy(update=overrides))
        built.append(app)
        return app

    try:
        yield build
    finally:
        for app in built:
            for http in app.https:
                await http.aclose()


class Gate:
    """A test seam: loading a node reads it (through the query's snapshot, so its
    connection is checked out) and then waits until the gate opens."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at_work = 0
        self.opened = asyncio.Event()
        self._arrived = asyncio.Event()
        load_node = query.load_node

        async def held(*args: Any) -> Any:
            row = await load_node(*args)
            self.at_work += 1
            self._arrived.set()
            await self.opened.wait()
            return row

        monkeypatch.setattr(query, "load_node", held)

    async def until(self, count: int) -> None:
        async with asyncio.timeout(30):
            while self.at_work < count:
                self._arrived.clear()
                await self._arrived.wait()


async def node_query(db: Database) -> str:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
    return f'{{ node(id: "{encode_global_id("Initiative", initiative.id)}") {{ id }} }}'


async def test_a_callers_query_past_its_share_is_busy_at_once_and_others_are_answered(
    make_app: Callable[..., App], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: one address runs two queries (its share), both at work on their connections
    node = await node_query(db)
    app = make_app(max_queries_per_caller=2)
    gate = Gate(monkeypatch)
    mine, other = app.client("10.0.0.1"), app.client("10.0.0.2")
    held = [asyncio.create_task(mine.execute(node)) for _ in range(2)]
    await gate.until(2)
    assert app.checked_out == 2
    # when: it sends a third, and another caller sends one
    third = await mine.post(node)
    answered = await other.execute(PROGRAMS)
    # then: the third is refused at once (its connection never taken), retry hint and
    # setting named; the other caller is answered meanwhile
    assert third.json()["errors"][0]["extensions"] == BUSY
    assert third.headers.get("Retry-After") in (None, "5")
    assert gate.at_work == 2
    assert "errors" not in answered
    # and once its queries end, the caller's slots are back
    gate.opened.set()
    for answer in await asyncio.gather(*held):
        assert "errors" not in answer
    assert app.running == 0
    assert "errors" not in await mine.execute(node)


async def test_a_slot_comes_back_after_a_timeout_and_after_a_cancelled_request(
    make_app: Callable[..., App], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: one query per caller; a node query never finishes on its own
    node = await node_query(db)
    app = make_app(max_queries_per_caller=1, execution_timeout_seconds=0.5)
    Gate(monkeypatch)
    mine = app.client("10.0.0.1")
    # when: a query is stopped by the execution limit
    stopped = await mine.execute(node)
    # then: its slot and its connection are back, and the caller's next query runs
    assert stopped["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert (app.running, app.checked_out) == (0, 0)
    assert "errors" not in await mine.execute(PROGRAMS)

    # given: a longer limit; the caller's one query is at work
    monkeypatch.undo()
    app = make_app(max_queries_per_caller=1)
    gate = Gate(monkeypatch)
    mine = app.client("10.0.0.1")
    request = asyncio.create_task(mine.execute(node))
    await gate.until(1)
    assert (app.running, app.checked_out) == (1, 1)
    # when: the client gives up (its request is cancelled)
    request.cancel()
    with suppress(asyncio.CancelledError):
        await request
    # then: the slot and the connection are back, and the next query runs
    assert (app.running, app.checked_out) == (0, 0)
    assert "errors" not in await mine.execute(PROGRAMS)


async def test_queries_over_a_websocket_count_against_the_same_caller(
    make_app: Callable[..., App], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an address runs two queries over one WebSocket, both at work
    node = await node_query(db)
    app = make_app(max_queries_per_caller=2)
    gate = Gate(monkeypatch)
    ws = await AsgiWebSocket(app.app, address="10.0.0.1").open()
    try:
        held = [asyncio.create_task(ws.result(node)) for _ in range(1)]
        await gate.until(1)
        held.append(asyncio.create_task(ws.result(node)))
        await gate.until(2)
        # when: a third over a second WebSocket, a fourth over HTTP, from that address
        second = await AsgiWebSocket(app.app, address="10.0.0.1").open()
        third = await second.result(node)
        fourth = (await app.client("10.0.0.1").post(node)).json()
        answered = await app.client("10.0.0.2").execute(PROGRAMS)
        # then: both refused at once; another caller is answered
        assert third["errors"][0]["extensions"] == BUSY
        assert fourth["errors"][0]["extensions"] == BUSY
        assert "errors" not in answered
        # and once its queries end, the caller runs queries over a WebSocket again
        gate.opened.set()
        for answer in await asyncio.gather(*held):
            assert "errors" not in answer
        assert app.running == 0
        assert "errors" not in await second.result(PROGRAMS)
        await second.close()
    finally:
        await ws.close()

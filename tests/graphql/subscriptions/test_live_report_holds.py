"""A live report holds its snapshot (or a partner's view) only while it is built and its
fields resolved, never while it waits for its subscriber to read it (review 2, B): a
slow reader would otherwise hold a pooled connection, or a view, for as long as it
pleased (up to WS_SEND_TIMEOUT_SECONDS per event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from app import models as m
from app.config import Settings
from app.graphql.extensions.views import view_pool
from app.main import create_app
from tests import factories as f
from tests.asgiws import AsgiWebSocket
from tests.conftest import Database

REPORT = """subscription {
  budgetSummaryUpdates(groupBy: [INITIATIVE]) {
    total { count disbursed { amount } }
    groups { key { initiative { code } } measures { count } }
    ratesUsed { currency exchangeRate { rate } }
  }
}"""


class Checkouts:
    """The engine's pooled connections checked out now, by the task that took them; the
    hub's own reads of the trail (tasks "events-...") are left out."""

    def __init__(self, db: Database) -> None:
        self.pool = db.engine.sync_engine.pool
        self.out: dict[int, str] = {}

    def _checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        task = asyncio.current_task()
        self.out[id(record)] = task.get_name() if task is not None else ""

    def _checkin(self, _dbapi: Any, record: Any) -> None:
        self.out.pop(id(record), None)

    def __enter__(self) -> Checkouts:
        event.listen(self.pool, "checkout", self._checkout)
        event.listen(self.pool, "checkin", self._checkin)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.pool, "checkout", self._checkout)
        event.remove(self.pool, "checkin", self._checkin)

    @property
    def held(self) -> int:
        return sum(1 for name in self.out.values() if not name.startswith("events-"))


@pytest.fixture
async def ledger(db: Database) -> AsyncIterator[dict[str, Any]]:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        await f.transaction(session, initiative, amount=Decimal("1.00"))
        admin = await f.api_key(session, "admin")
        partner = await f.api_key(session, "partner", initiatives=[initiative.code])
    yield {"initiative": initiative.id, "admin": admin, "partner": partner}


async def add_transaction(db: Database, initiative_id: int) -> None:
    async with db.sessions() as session, session.begin():
        initiative = await session.get(m.Initiative, initiative_id)
        assert initiative is not None
        await f.transaction(session, initiative, amount=Decimal("1.00"))


def app_for(db: Database, settings: Settings) -> Any:
    # The hub reads the trail when a commit here tells it to, not on a timer; reports
    # are recomputed at once. No webhook worker: its turns take connections of their
    # own, whenever they please, and would be counted as the report's.
    return create_app(
        settings.model_copy(
            update={
                "database_url": db.url,
                "events_broker": "memory",
                "events_poll_seconds": 3600,
                "report_coalesce_seconds": 0,
                "webhook_worker": False,
            }
        ),
        engine=db.engine,
    )


async def test_a_live_report_waiting_for_its_reader_holds_no_connection(
    db: Database, settings: Settings, ledger: dict[str, Any]
) -> None:
    # given: an admin's live report, its first event read
    app = app_for(db, settings)
    with Checkouts(db) as checkouts:
        async with app.router.lifespan_context(app):
            ws = await AsgiWebSocket(app).open(f"Bearer {ledger['admin']}")
            try:
                id = await ws.subscribe(REPORT)
                first = await ws.message_for(id)
                before = checkouts.held
                # when: the ledger changes while the subscriber reads nothing more
                ws.stop_reading()
                await add_transaction(db, ledger["initiative"])
                await ws.until_blocked()
                # then: the new report waits to be sent, holding no connection
                waiting = checkouts.held
                ws.read_again()
                second = await ws.message_for(id)
            finally:
                await ws.close()
    assert (before, waiting) == (0, 0)
    reports = [e["payload"]["data"]["budgetSummaryUpdates"] for e in (first, second)]
    totals = [r["total"]["count"] for r in reports]
    assert totals == [1, 2]
    groups = second["payload"]["data"]["budgetSummaryUpdates"]["groups"]
    assert groups[0]["key"]["initiative"]["code"] is not None


async def test_a_partners_live_report_waiting_for_its_reader_holds_no_view(
    db: Database, settings: Settings, ledger: dict[str, Any]
) -> None:
    # given: a partner's live report, its first event read
    app = app_for(db, settings)
    async with app.router.lifespan_context(app):
        pool = view_pool(app.state.schema, settings)

        def leases() -> int:
            return sum(kept.users for kept in pool._kept.values())

        ws = await AsgiWebSocket(app).open(f"Bearer {ledger['partner']}")
        try:
            id = await ws.subscribe(REPORT)
            first = await ws.message_for(id)
            before = leases()
            # when: its initiative changes while the subscriber reads nothing more
            ws.stop_reading()
            await add_transaction(db, ledger["initiative"])
            await ws.until_blocked()
            # then: the new report waits to be sent, leasing no view
            waiting = leases()
            ws.read_again()
            second = await ws.message_for(id)
        finally:
            await ws.close()
    assert (before, waiting) == (0, 0)
    reports = [e["payload"]["data"]["budgetSummaryUpdates"] for e in (first, second)]
    totals = [r["total"]["count"] for r in reports]
    assert totals == [1, 2]

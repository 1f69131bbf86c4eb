"""What a turn of the worker costs in SQL per endpoint: the claim leases and reads every
endpoint it takes in one statement, so each endpoint more adds only its own record (the
place moved, the attempts logged) and the look before each send, whatever else the turn
shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from app import models as m
from app.config import Settings
from app.events.brokers import MemoryBroker
from app.events.hub import ChangeFlag, EventHub
from app.graphql.schema import build_schema
from app.webhooks import service
from app.webhooks import worker as worker_module
from app.webhooks.worker import WebhookWorker
from tests.conftest import Database
from tests.webhooks.common import add_endpoint, fast, setup_ledger, until, write
from tests.webhooks.receiver import Receiver


@asynccontextmanager
async def counting(db: Database) -> AsyncIterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def one_turn(db: Database, settings: Settings, endpoints: int) -> int:
    """The statements of one turn delivering one event to each of `endpoints`."""
    receiver = Receiver().up()
    added: list[int] = []
    try:
        for _ in range(endpoints):
            added.append((await add_endpoint(db, settings, receiver.url))[0])
        await write(db, 1)
        hub = EventHub(db.sessions, settings, broker=MemoryBroker())
        await hub.start()
        # (until the hub has read the trail's end, a turn sees nothing to deliver)
        await until(lambda: hub.high_water is not None)
        worker = WebhookWorker(db.sessions, settings, build_schema(settings), hub)
        try:
            # As the worker's own loop does, the turn starts once the hub has found the
            # trail's end (before, it knows of no event to deliver: a turn then, which
            # came first depending on the machine's pace, delivered nothing)
            async with hub.subscription(ChangeFlag(lambda _entry: True)), counting(db) as seen:
                await worker.run_once()
        finally:
            await worker.close()
            await hub.close()
        async with db.sessions() as session:  # each got its event (else: what happened)
            tried = (await session.scalars(select(m.WebhookAttempt))).all()
        logged = [(a.endpoint_id, a.status_code, a.error) for a in tried]
        assert len(receiver.accepted()) == endpoints, logged
        return len(seen)
    finally:
        receiver.down()
        async with db.sessions() as session, session.begin():
            for endpoint_id in added:
                await service.remove(session, endpoint_id)


async def test_each_endpoint_more_in_a_turn_costs_its_own_record_only(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the hub learns of commits from its broker: no polling of the trail meanwhile;
    # and a turn records its batch only at its end, not also every FLUSH_SECONDS, which
    # on a loaded machine added a record mid-turn to some endpoints and not others)
    settings = fast(settings, webhook_concurrency=100, events_poll_seconds=3600)
    monkeypatch.setattr(worker_module, "FLUSH_SECONDS", 3600.0)
    await setup_ledger(db)
    few = await one_turn(db, settings, 3)
    many = await one_turn(db, settings, 13)
    per_endpoint = (many - few) / 10
    # Its record: the place moved (with the lease let go) and the attempts logged; the
    # look before its send (still active, still ours), when its turn took longer than
    # LOOK_EVERY to come to it (a loaded machine), hence the margin. Each endpoint used
    # to cost two more: its own lease statement and its own read.
    assert per_endpoint <= 4, (few, many)

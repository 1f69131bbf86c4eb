"""A process holds an endpoint as long as its turn lasts, whatever it waits for, and
lets go of it as soon as an admin pauses or removes it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from sqlalchemy import select

from app import models as m
from app.config import Settings
from app.webhooks import service
from tests.conftest import Database
from tests.webhooks.common import (
    add_endpoint,
    endpoint_row,
    fast,
    running,
    setup_ledger,
    until,
    write,
)
from tests.webhooks.receiver import Receiver


async def trail_end(db: Database) -> int:
    async with db.sessions() as session:
        found = await session.scalar(select(m.Change.sequence).order_by(m.Change.sequence.desc()))
        return int(found or 0)


async def test_a_receiver_slower_than_the_lease_gets_each_event_once_from_two_processes(
    db: Database, settings: Settings
) -> None:
    # given two processes, a lease of 1 s and a receiver that answers after 2 s
    settings = fast(settings, webhook_lease_seconds=1.0, webhook_timeout_seconds=5.0)
    await setup_ledger(db)
    receiver = Receiver(delay=2.0).up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url)
    await write(db, 2)
    try:
        # when both deliver
        async with running(db, settings), running(db, settings):
            await until(lambda: len(receiver.accepted()) >= 2, seconds=30)
            await asyncio.sleep(2.5)  # room for a second process (wrongly) sending again
    finally:
        receiver.down()
    # then each event was sent once, and the endpoint moved past both
    sent = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert sorted(sent.values()) == [1, 1]
    assert (await endpoint_row(db, endpoint_id)).position == await trail_end(db)


@pytest.mark.parametrize("action", ["pause", "remove"])
async def test_a_pause_or_a_removal_stops_a_running_turn_before_its_next_send(
    db: Database, settings: Settings, action: str
) -> None:
    # given a turn of 30 events under way, to a receiver taking 0.1 s each
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver(delay=0.1).up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url)
    start = (await endpoint_row(db, endpoint_id)).position
    await write(db, 30)
    try:
        async with running(db, settings):
            await until(lambda: len(receiver.received) >= 3)
            # when an admin pauses (or removes) the endpoint
            async with db.sessions() as session, session.begin():
                if action == "pause":
                    await service.pause(session, endpoint_id)
                else:
                    await service.remove(session, endpoint_id)
            stopped = time.monotonic()
            await asyncio.sleep(1.0)
    finally:
        receiver.down()
    # then no send starts after it: at most the one in flight arrives
    late = [r for r in receiver.received if r.at > stopped]
    assert len(late) <= 1
    assert len(receiver.received) < 30
    if action == "pause":
        # and the endpoint is past every event taken, which were recorded
        row = await endpoint_row(db, endpoint_id)
        assert row.status == service.PAUSED and row.lease_owner is None
        assert row.position == start + len(receiver.accepted())

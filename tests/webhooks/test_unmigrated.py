"""A database not yet migrated as far as the webhook tables: the worker says so once,
clearly, waits without more noise, and delivers once the tables are there."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app import models as m
from app.config import Settings
from tests.conftest import Database
from tests.webhooks.common import add_endpoint, fast, running, setup_ledger, until, write
from tests.webhooks.receiver import Receiver

HELD = m.WebhookHeld.__table__


async def test_a_missing_table_is_one_clear_line_then_deliveries_start(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver().up()
    endpoint_id, _secret = await add_endpoint(db, settings, receiver.url)
    caplog.set_level(logging.INFO, logger="app.webhooks.worker")
    # given a database without the newest webhook table (migrated before it)
    async with db.engine.begin() as connection:
        await connection.run_sync(HELD.drop)
    try:
        async with running(db, settings):
            await write(db, 1)
            await asyncio.sleep(0.5)  # many polls pass
            # then one line says what is wrong and what to do; nothing was sent
            lines = [r for r in caplog.records if r.name == "app.webhooks.worker"]
            assert [(r.levelno, "db upgrade" in r.getMessage()) for r in lines] == [
                (logging.WARNING, True)
            ]
            assert receiver.received == []
            # when the table comes, the worker delivers, and says so once
            async with db.engine.begin() as connection:
                await connection.run_sync(HELD.create)
            await until(lambda: len(receiver.accepted()) == 1)
    finally:
        receiver.down()
        async with db.engine.begin() as connection:
            await connection.run_sync(HELD.create, checkfirst=True)
    lines = [r for r in caplog.records if r.name == "app.webhooks.worker"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO]
    assert endpoint_id

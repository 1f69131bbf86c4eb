"""What a receiver answers is recorded, whatever bytes it holds; and a turn whose
attempt cannot be recorded waits, growing, and says why, instead of sending the same
event again at once for ever."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, text

from app import models as m
from app.config import Settings
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


async def test_an_answer_with_a_nul_byte_is_recorded_and_the_event_sent_once(
    db: Database, settings: Settings
) -> None:
    # given a receiver that accepts with an answer holding a NUL byte (which PostgreSQL
    # refuses in text)
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver(body=b"ok\x00bye").up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url)
    start = (await endpoint_row(db, endpoint_id)).position
    try:
        async with running(db, settings):
            await write(db, 1)
            await until(lambda: len(receiver.accepted()) >= 1)
            await asyncio.sleep(0.5)  # room for the same event (wrongly) sent again
    finally:
        receiver.down()
    # then it was sent once, the endpoint moved past it, and the answer is in the log
    assert len(receiver.received) == 1
    assert (await endpoint_row(db, endpoint_id)).position > start
    async with db.sessions() as session:
        attempt = (await session.scalars(select(m.WebhookAttempt))).one()
    assert attempt.status_code == 200
    assert attempt.response_excerpt == "ok\ufffdbye"


REFUSE = {
    "postgresql": [
        "CREATE FUNCTION test_refuse_attempt() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'attempts refused'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER test_refuse_attempt BEFORE INSERT ON webhook_attempts "
        "FOR EACH ROW EXECUTE FUNCTION test_refuse_attempt()",
    ],
    "sqlite": [
        "CREATE TRIGGER test_refuse_attempt BEFORE INSERT ON webhook_attempts "
        "BEGIN SELECT RAISE(ABORT, 'attempts refused'); END"
    ],
}
ALLOW = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS test_refuse_attempt ON webhook_attempts",
        "DROP FUNCTION IF EXISTS test_refuse_attempt()",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS test_refuse_attempt"],
}


async def statements(db: Database, chosen: dict[str, list[str]]) -> None:
    async with db.sessions() as session, session.begin():
        dialect = (await session.connection()).dialect.name
        for sql in chosen[dialect]:
            await session.execute(text(sql))


async def test_a_turn_that_cannot_record_its_attempt_backs_off_and_says_why(
    db: Database, settings: Settings
) -> None:
    # given a database that refuses to record attempts, and short backoffs
    settings = fast(settings, webhook_retry_first_seconds=0.3, webhook_retry_last_seconds=1.0)
    await setup_ledger(db)
    receiver = Receiver().up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url)
    start = (await endpoint_row(db, endpoint_id)).position
    await statements(db, REFUSE)
    try:
        async with running(db, settings):
            # when an event comes, which the receiver accepts, again and again
            await write(db, 1)
            await until(lambda: len(receiver.received) >= 1)
            await asyncio.sleep(2.0)
            # then the same event was sent again only after growing waits (0.3 s, then
            # at least 0.6 s, then 1 s: five in 2 s at most, not a send every few
            # milliseconds), and the endpoint says why
            assert len(receiver.received) <= 5
            row = await endpoint_row(db, endpoint_id)
            assert row.last_error is not None and "attempts refused" in row.last_error
            assert row.position == start
            # and once the database records attempts again, it is delivered and moves on
            await statements(db, ALLOW)
            for _ in range(500):
                if (await endpoint_row(db, endpoint_id)).position > start:
                    break
                await asyncio.sleep(0.02)
    finally:
        await statements(db, ALLOW)
        receiver.down()
    assert (await endpoint_row(db, endpoint_id)).position > start

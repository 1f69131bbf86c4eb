"""Deliveries to real receivers, in this process, on both databases: retries with
growing waits under one webhook-id, signatures the Standard Webhooks verifier accepts
(and a one-byte change it refuses), order across an outage, dead letters and replay."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app import models as m
from app.config import Settings
from app.db.types import utcnow
from app.webhooks import service
from tests.conftest import Database
from tests.webhooks.common import (
    add_endpoint,
    data_of,
    endpoint_row,
    fast,
    running,
    setup_ledger,
    until,
    write,
)
from tests.webhooks.receiver import Receiver


async def delivered(db: Database, endpoint_id: int) -> None:
    """Wait until the endpoint's last success is recorded."""
    for _ in range(500):
        if (await endpoint_row(db, endpoint_id)).last_success_at is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no success recorded")


async def test_three_failures_then_success_is_four_attempts_of_one_message(
    db: Database, settings: Settings
) -> None:
    # given a receiver that answers 500 three times, then 200
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver([500, 503, 500]).up()
    endpoint_id, secret = await add_endpoint(db, settings, receiver.url)
    try:
        async with running(db, settings):
            # when one change commits
            await write(db, 1)
            await until(lambda: len(receiver.accepted()) == 1)
            await delivered(db, endpoint_id)
    finally:
        receiver.down()
    # then exactly four attempts came, with growing waits between them, one message id
    got = receiver.received
    assert [r.status for r in got] == [500, 503, 500, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    waits = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert waits[0] >= 0.1 and waits[0] < waits[1] < waits[2]
    # and the body verifies with the reference verifier, the sequence and cursor inside
    last = got[-1]
    verified = Webhook(secret).verify(last.body, last.headers)
    assert verified["data"]["operation"] == "CREATE"
    assert verified["data"]["cursor"]
    async with db.sessions() as session:
        attempts = await session.scalar(
            select(func.count()).where(m.WebhookAttempt.endpoint_id == endpoint_id)
        )
    assert attempts == 4


async def test_a_one_byte_change_to_the_body_fails_verification(
    db: Database, settings: Settings
) -> None:
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver().up()
    _endpoint_id, secret = await add_endpoint(db, settings, receiver.url)
    try:
        async with running(db, settings):
            await write(db, 1)
            await until(lambda: len(receiver.accepted()) == 1)
    finally:
        receiver.down()
    got = receiver.received[0]
    Webhook(secret).verify(got.body, got.headers)  # as sent: accepted
    tampered = bytearray(got.body)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(bytes(tampered), got.headers)


async def test_a_receiver_down_then_up_gets_every_event_in_order(
    db: Database, settings: Settings
) -> None:
    # given an endpoint whose receiver is down while ten changes commit
    settings = fast(settings, webhook_retry_last_seconds=0.3, webhook_max_attempts=50)
    await setup_ledger(db)
    receiver = Receiver()
    endpoint_id, _secret = await add_endpoint(db, settings, receiver.url)
    start = (await endpoint_row(db, endpoint_id)).position
    async with running(db, settings):
        await write(db, 10)
        row = await endpoint_row(db, endpoint_id)
        # when it comes back up
        receiver.up()
        try:
            await until(lambda: len(receiver.accepted()) == 10)
            for _ in range(500):  # and the endpoint recorded so
                if (await endpoint_row(db, endpoint_id)).position == start + 10:
                    break
                await asyncio.sleep(0.02)
        finally:
            receiver.down()
    # then every event came once, in the trail's order
    sequences = [data_of(r.body)["sequence"] for r in receiver.accepted()]
    assert sequences == list(range(start + 1, start + 11))
    assert row.position == start  # nothing was passed over while it was down
    assert (await endpoint_row(db, endpoint_id)).position == start + 10


async def test_after_the_last_attempt_the_event_is_dead_lettered_and_replayable(
    db: Database, settings: Settings
) -> None:
    settings = fast(settings, webhook_max_attempts=2)
    await setup_ledger(db)
    receiver = Receiver([500, 500]).up()
    endpoint_id, _secret = await add_endpoint(db, settings, receiver.url)
    try:
        async with running(db, settings):
            await write(db, 2)
            # the first event fails twice: dead-lettered, the endpoint paused
            await until(lambda: len(receiver.received) == 2)
            row = await paused(db, endpoint_id)
            assert row.status == service.PAUSED
            assert row.paused_reason is not None and "dead-lettered" in row.paused_reason
            async with db.sessions() as session:
                letters = (await session.scalars(select(m.WebhookDeadLetter))).all()
            assert [d.attempts for d in letters] == [2]
            # when an admin replays: the dead letter first, then what followed, in order
            async with db.sessions() as session, session.begin():
                await service.replay(session, endpoint_id, None)
            await until(lambda: len(receiver.accepted()) == 2)
    finally:
        receiver.down()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert [data_of(r.body)["sequence"] for r in receiver.accepted()] == sorted(
        data_of(r.body)["sequence"] for r in receiver.accepted()
    )


async def paused(db: Database, endpoint_id: int) -> m.WebhookEndpoint:
    for _ in range(500):
        row = await endpoint_row(db, endpoint_id)
        if row.status == service.PAUSED:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError("the endpoint was not paused")


async def test_redirects_are_not_followed(db: Database, settings: Settings) -> None:
    settings = fast(settings, webhook_max_attempts=1)
    await setup_ledger(db)
    elsewhere = Receiver().up()
    receiver = Receiver([302], location=elsewhere.url).up()
    endpoint_id, _secret = await add_endpoint(db, settings, receiver.url)
    try:
        async with running(db, settings):
            await write(db, 1)
            await until(lambda: len(receiver.received) == 1)
            await paused(db, endpoint_id)
    finally:
        receiver.down()
        elsewhere.down()
    assert elsewhere.received == []
    async with db.sessions() as session:
        attempt = await session.scalar(
            select(m.WebhookAttempt).where(m.WebhookAttempt.endpoint_id == endpoint_id)
        )
    assert attempt is not None and attempt.status_code == 302
    # the answer's body is kept to its first KB, not whole
    assert attempt.response_excerpt is not None and len(attempt.response_excerpt) == 1024
    assert attempt.at <= utcnow()

"""A delivery's `webhook-id`: one per event and endpoint, whatever path it goes by
(first attempt, held retry, dead letter, replay), unique when a partner's stream is
renumbered, and telling a partner nothing of the trail beyond its own events."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select, update

from app import models as m
from app.config import Settings
from app.errors import DomainError, ErrorCode
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
from tests.webhooks.receiver import Received, Receiver


async def paused(db: Database, endpoint_id: int) -> None:
    for _ in range(1000):
        if (await endpoint_row(db, endpoint_id)).status == service.PAUSED:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the endpoint was not paused")


async def trail_end(db: Database) -> int:
    async with db.sessions() as session:
        found = await session.scalar(select(m.Change.sequence).order_by(m.Change.sequence.desc()))
        return int(found or 0)


def says_nothing(webhook_id: str, endpoint_id: int) -> None:
    """The id is the endpoint's and a digest: no number of the trail or the stream."""
    assert re.fullmatch(rf"msg_{endpoint_id}_[0-9a-f]{{24}}", webhook_id), webhook_id


def transactions(receiver: Receiver) -> list[Received]:
    return [r for r in receiver.accepted() if data_of(r.body)["entityType"] == "TRANSACTION"]


async def test_a_partners_held_retry_keeps_the_first_attempts_webhook_id(
    db: Database, settings: Settings
) -> None:
    # given a partner's endpoint ordered per initiative, and changes outside its scope
    # first (so that the trail's numbers and the partner's differ)
    settings = fast(settings, webhook_retry_last_seconds=0.3)
    await setup_ledger(db)
    receiver = Receiver([500]).up()
    endpoint_id, _ = await add_endpoint(
        db, settings, receiver.url, key="hook-partner", ordering="initiative"
    )
    await write(db, 4, "B-2")
    try:
        async with running(db, settings):
            # when its event fails once, is held, and is taken on the retry
            await write(db, 1, "A-1")
            await until(lambda: len(receiver.accepted()) == 1)
    finally:
        receiver.down()
    # then both attempts came under one id, which names neither the trail's sequence
    # nor the partner's
    got = receiver.received
    assert [r.status for r in got] == [500, 200]
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert data_of(got[0].body)["sequence"] == data_of(got[1].body)["sequence"]
    says_nothing(got[0].headers["webhook-id"], endpoint_id)


async def test_a_partners_dead_letter_and_its_replay_keep_the_webhook_id(
    db: Database, settings: Settings
) -> None:
    # given a partner's endpoint whose only event was dead-lettered
    settings = fast(settings, webhook_max_attempts=1)
    await setup_ledger(db)
    receiver = Receiver([500]).up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url, key="hook-partner")
    await write(db, 4, "B-2")
    try:
        async with running(db, settings):
            await write(db, 1, "A-1")
            await paused(db, endpoint_id)
            async with db.sessions() as session:
                letter = (await session.scalars(select(m.WebhookDeadLetter))).one()
            # when an admin replays the dead letters
            async with db.sessions() as session, session.begin():
                await service.replay(session, endpoint_id, None)
            await until(lambda: len(receiver.accepted()) == 1)
    finally:
        receiver.down()
    # then the replay came under the id of the first attempt, which the dead letter shows
    first, replayed = receiver.received
    assert first.headers["webhook-id"] == replayed.headers["webhook-id"] == letter.message_id
    assert data_of(first.body)["sequence"] == data_of(replayed.body)["sequence"]
    says_nothing(letter.message_id, endpoint_id)


async def widen_partner(db: Database) -> None:
    """The partner key may now see B-2 too: its stream is numbered anew."""
    async with db.sessions() as session, session.begin():
        key = await session.scalar(select(m.ApiKey).where(m.ApiKey.name == "hook-partner"))
        b2 = await session.scalar(select(m.Initiative.id).where(m.Initiative.code == "B-2"))
        assert key is not None and b2 is not None
        session.add(m.ApiKeyInitiative(api_key_id=key.id, initiative_id=b2))


async def test_ids_stay_unique_when_a_partners_stream_is_renumbered(
    db: Database, settings: Settings
) -> None:
    # given a partner's endpoint that took two A-1 events, B-2's being out of its scope
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver().up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url, key="hook-partner")
    try:
        async with running(db, settings):
            for code in ("B-2", "A-1", "B-2", "A-1"):
                await write(db, 1, code)
            await until(lambda: len(receiver.accepted()) == 2)
            # when the key may see B-2 as well, and an admin replays the new stream
            # from its start
            await widen_partner(db)
            async with db.sessions() as session, session.begin():
                await service.replay(session, endpoint_id, "Y2hhbmdlOjA=")
            await until(lambda: len(transactions(receiver)) == 2 + 4)
    finally:
        receiver.down()
    # then each event kept its id, and no id names two events
    events: dict[str, set[str]] = {}
    for r in receiver.accepted():
        events.setdefault(r.headers["webhook-id"], set()).add(data_of(r.body)["entityId"])
    assert all(len(v) == 1 for v in events.values())
    got = transactions(receiver)
    assert len({r.headers["webhook-id"] for r in got}) == 4
    assert [r.headers["webhook-id"] for r in got[:2]] == [
        r.headers["webhook-id"] for r in got[3::2]
    ]


async def test_resume_from_now_recovers_an_endpoint_whose_stream_was_refused(
    db: Database, settings: Settings
) -> None:
    # given a partner's endpoint, paused when its key's initiatives changed (its cursor
    # names a stream that is no more)
    settings = fast(settings)
    await setup_ledger(db)
    receiver = Receiver().up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url, key="hook-partner")
    try:
        async with running(db, settings):
            await write(db, 1, "A-1")
            await until(lambda: len(receiver.accepted()) == 1)
            await widen_partner(db)
            await write(db, 1, "A-1")
            await paused(db, endpoint_id)
            reason = (await endpoint_row(db, endpoint_id)).paused_reason
            assert reason is not None and "refused" in reason
            # when an admin resumes it from now, with no cursor to give
            async with db.sessions() as session, session.begin():
                resumed = await service.resume(session, endpoint_id, from_now=True)
                assert resumed.status == service.ACTIVE
            await write(db, 1, "B-2")
            await until(lambda: len(receiver.accepted()) == 2)
            await asyncio.sleep(0.3)  # room for anything else that might (wrongly) come
    finally:
        receiver.down()
    # then what comes after is delivered, in the key's new stream, and nothing before
    # now was sent again
    got = receiver.accepted()
    assert len(got) == 2
    assert data_of(got[1].body)["entityType"] == "TRANSACTION"
    assert data_of(got[1].body)["sequence"] > data_of(got[0].body)["sequence"]
    assert got[0].headers["webhook-id"] != got[1].headers["webhook-id"]
    row = await endpoint_row(db, endpoint_id)
    assert row.status == service.ACTIVE and row.position == await trail_end(db)


async def test_resume_from_now_drops_what_was_held(db: Database, settings: Settings) -> None:
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    async with db.sessions() as session, session.begin():
        session.add(
            m.WebhookHeld(
                endpoint_id=endpoint_id, lane=0, sequence=1, cursor_before="x", attempts=2
            )
        )
        await session.execute(
            update(m.WebhookEndpoint)
            .where(m.WebhookEndpoint.id == endpoint_id)
            .values(status=service.PAUSED, position=0)
        )
    await write(db, 2)
    async with db.sessions() as session, session.begin():
        await service.resume(session, endpoint_id, from_now=True)
    async with db.sessions() as session:
        assert (await session.scalars(select(m.WebhookHeld))).all() == []
    assert (await endpoint_row(db, endpoint_id)).position == await trail_end(db)


async def test_resume_from_now_is_refused_for_an_endpoint_that_is_not_paused(
    db: Database, settings: Settings
) -> None:
    # given an active endpoint with events it has not sent yet
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    await write(db, 2)
    before = await endpoint_row(db, endpoint_id)
    # when an admin resumes it from now, then it is refused: skipping is for a stopped one
    with pytest.raises(DomainError) as refused:
        async with db.sessions() as session, session.begin():
            await service.resume(session, endpoint_id, from_now=True)
    assert refused.value.code == ErrorCode.CONFLICT
    assert "pause it first" in str(refused.value)
    after = await endpoint_row(db, endpoint_id)
    assert (after.status, after.position, after.cursor) == (
        before.status,
        before.position,
        before.cursor,
    )

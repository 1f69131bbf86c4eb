"""Ordering per initiative, against a real receiver: a failing event of one initiative
holds back its initiative's later events and nothing else; each initiative's events
arrive in the trail's order, the held ones once the receiver takes them again; a
citation waits behind the record it cites and the document it quotes. And replaying
one delivery sends that one alone, under its webhook-id."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app import models as m
from app.config import Settings
from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.webhooks import service
from tests import factories as f
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


async def lanes_of(db: Database, after: int) -> dict[int, int | None]:
    """The trail's sequences past `after`, each with its initiative's id."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(m.Change.sequence, m.Change.initiative_id).where(m.Change.sequence > after)
        )
        return {int(s): i for s, i in rows.all()}


async def initiative_id(db: Database, code: str) -> int:
    async with db.sessions() as session:
        found = await session.scalar(select(m.Initiative.id).where(m.Initiative.code == code))
        assert found is not None
        return int(found)


def sequence_of(body: bytes) -> int:
    return int(json.loads(body)["data"]["sequence"])


async def test_a_failing_initiative_holds_back_only_its_own_events(
    db: Database, settings: Settings
) -> None:
    # given an endpoint ordered per initiative, and changes of A-1 and B-2 interleaved
    settings = fast(settings, webhook_retry_last_seconds=0.3, webhook_max_attempts=50)
    await setup_ledger(db)
    a_id = await initiative_id(db, "A-1")
    refusing = {"A-1": True}
    a_sequences: set[int] = set()

    def answer(body: bytes) -> int | None:
        # the receiver refuses A-1's events while `refusing` says so
        return 500 if refusing["A-1"] and sequence_of(body) in a_sequences else 200

    receiver = Receiver(answer=answer).up()
    endpoint_id, _secret = await add_endpoint(db, settings, receiver.url, ordering="initiative")
    start = (await endpoint_row(db, endpoint_id)).position
    for _ in range(3):
        await write(db, 1, "A-1")
        await write(db, 1, "B-2")
    lanes = await lanes_of(db, start)
    a_sequences |= {s for s, i in lanes.items() if i == a_id}
    b_sequences = sorted(s for s in lanes if s not in a_sequences)
    assert len(a_sequences) == 3 and len(b_sequences) == 3
    try:
        async with running(db, settings):
            # when A-1's first event fails again and again
            def b_all_taken() -> bool:
                taken = [sequence_of(r.body) for r in receiver.accepted()]
                return sorted(taken) == b_sequences

            await until(b_all_taken)
            await until(lambda: len(receiver.received) >= 3 + 3)  # a few retries of A-1's
            # then B-2's events all came, in order, while A-1's first kept failing and
            # none of A-1's later events was sent
            refused = [sequence_of(r.body) for r in receiver.received if r.status == 500]
            assert set(refused) == {min(a_sequences)}
            assert [sequence_of(r.body) for r in receiver.accepted()] == b_sequences
            # and the endpoint is past them all, with A-1's three held
            row = await endpoint_row(db, endpoint_id)
            assert row.status == service.ACTIVE and row.position == max(lanes)
            # when the receiver takes A-1's events again
            refusing["A-1"] = False
            await until(lambda: len(receiver.accepted()) == 6)
            for _ in range(500):
                async with db.sessions() as session:
                    if not (await session.scalars(select(m.WebhookHeld))).all():
                        break
                await asyncio.sleep(0.02)
    finally:
        receiver.down()
    # then A-1's came, in A-1's order, each once, the first under its first webhook-id
    accepted = [sequence_of(r.body) for r in receiver.accepted()]
    assert [s for s in accepted if s in a_sequences] == sorted(a_sequences)
    assert len(accepted) == len(set(accepted)) == 6
    first_a = [
        r.headers["webhook-id"]
        for r in receiver.received
        if sequence_of(r.body) == min(a_sequences)
    ]
    assert len(set(first_a)) == 1 and len(first_a) >= 2
    async with db.sessions() as session:
        assert (await session.scalars(select(m.WebhookHeld))).all() == []


async def test_replaying_one_delivery_sends_that_one_alone(
    db: Database, settings: Settings
) -> None:
    # given an endpoint whose first of three events was dead-lettered, and then resumed
    settings = fast(settings, webhook_max_attempts=2)
    await setup_ledger(db)
    receiver = Receiver([500, 500]).up()
    endpoint_id, _secret = await add_endpoint(db, settings, receiver.url)
    try:
        async with running(db, settings):
            await write(db, 3)
            await until(lambda: len(receiver.received) == 2)
            for _ in range(500):
                if (await endpoint_row(db, endpoint_id)).status == service.PAUSED:
                    break
                await asyncio.sleep(0.02)
            async with db.sessions() as session, session.begin():
                await service.resume(session, endpoint_id)
            await until(lambda: len(receiver.accepted()) == 2)
            async with db.sessions() as session:
                letter = (await session.scalars(select(m.WebhookDeadLetter))).one()
            # when an admin replays that one delivery
            async with db.sessions() as session, session.begin():
                await service.replay(session, endpoint_id, None, letter.message_id)
            await until(lambda: len(receiver.accepted()) == 3)
            await asyncio.sleep(0.3)  # room for anything else that might (wrongly) come
    finally:
        receiver.down()
    # then exactly that event came once more, under the same webhook-id; nothing else
    got = receiver.received
    assert len(got) == 5
    assert got[-1].headers["webhook-id"] == got[0].headers["webhook-id"] == letter.message_id
    assert data_of(got[-1].body)["sequence"] == letter.sequence
    assert [data_of(r.body)["sequence"] for r in got[2:4]] == [
        letter.sequence + 1,
        letter.sequence + 2,
    ]
    async with db.sessions() as session:
        replayed = await session.get(m.WebhookDeadLetter, letter.id)
        assert replayed is not None and replayed.replayed_at is not None
        assert (await session.scalars(select(m.WebhookHeld))).all() == []
    assert (await endpoint_row(db, endpoint_id)).status == service.ACTIVE


async def dead_letter_of(db: Database, endpoint_id: int, sequence: int) -> str:
    """An old dead letter of the endpoint's event `sequence` (as left by a dead-letter
    and a resume), with the cursor just before that event, as the worker writes it.
    (Not the endpoint's cursor: once a worker has moved the endpoint past the event,
    that names the place after it, and a replay from there renders the next event.)"""
    endpoint = await endpoint_row(db, endpoint_id)
    message = f"msg_{endpoint_id}_{sequence}"
    async with db.sessions() as session, session.begin():
        principal = await service.principal_of(session, endpoint)
        assert principal is not None
        cursor_before = await service.cursor_at(session, principal, sequence - 1)
        session.add(
            m.WebhookDeadLetter(
                endpoint_id=endpoint_id,
                message_id=message,
                sequence=sequence,
                cursor_before=cursor_before,
                attempts=8,
                last_error="HTTP 500",
                created_at=utcnow(),
            )
        )
    return message


async def test_replaying_one_delivery_leaves_an_active_endpoint_to_the_process_holding_it(
    db: Database, settings: Settings
) -> None:
    # given an active endpoint another process holds, in the backoff of its third attempt
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    lease_until = utcnow() + timedelta(minutes=5)
    retry_at = utcnow() + timedelta(minutes=1)
    async with db.sessions() as session, session.begin():
        row = await session.get(m.WebhookEndpoint, endpoint_id)
        assert row is not None
        row.lease_owner, row.lease_until = "other:1", lease_until
        row.attempts, row.next_attempt_at = 3, retry_at
    message = await dead_letter_of(db, endpoint_id, 1)
    # when an admin replays one of its dead letters
    async with db.sessions() as session, session.begin():
        await service.replay(session, endpoint_id, None, message)
    # then the replay is held for sending, and the endpoint's lease and retries are as
    # they were (no second process may claim it)
    after = await endpoint_row(db, endpoint_id)
    assert (after.lease_owner, after.lease_until) == ("other:1", lease_until)
    assert (after.attempts, after.next_attempt_at) == (3, retry_at)
    assert after.status == service.ACTIVE
    async with db.sessions() as session:
        held = (await session.scalars(select(m.WebhookHeld))).all()
    assert [(h.lane, h.sequence, h.next_attempt_at) for h in held] == [(-1, 1, None)]


async def test_resume_keeps_a_lease_that_has_not_expired(db: Database, settings: Settings) -> None:
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    lease_until = utcnow() + timedelta(minutes=5)
    async with db.sessions() as session, session.begin():
        row = await session.get(m.WebhookEndpoint, endpoint_id)
        assert row is not None
        row.lease_owner, row.lease_until = "other:1", lease_until
    async with db.sessions() as session, session.begin():
        await service.resume(session, endpoint_id)
    after = await endpoint_row(db, endpoint_id)
    assert (after.lease_owner, after.lease_until) == ("other:1", lease_until)


async def test_a_replay_while_two_processes_deliver_sends_nothing_else_twice(
    db: Database, settings: Settings
) -> None:
    # given an endpoint delivered by two healthy processes, with an old dead letter
    settings = fast(settings, webhook_lease_seconds=30.0)
    await setup_ledger(db)
    receiver = Receiver(delay=0.05).up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url)
    try:
        async with running(db, settings), running(db, settings):
            await write(db, 1)
            await until(lambda: len(receiver.accepted()) == 1)
            first = sequence_of(receiver.accepted()[0].body)
            message = await dead_letter_of(db, endpoint_id, first)
            await write(db, 40)
            await until(lambda: len(receiver.accepted()) >= 5)
            # when an admin replays that delivery while the endpoint is being delivered
            async with db.sessions() as session, session.begin():
                await service.replay(session, endpoint_id, None, message)
            distinct = lambda: len({sequence_of(r.body) for r in receiver.accepted()})  # noqa: E731
            await until(lambda: distinct() == 41, 60)
            await until(lambda: len(receiver.accepted()) >= 42, 60)
            await asyncio.sleep(0.5)  # room for anything else that might (wrongly) come
    finally:
        receiver.down()
    # then the replayed delivery came twice, every other once
    got = Counter(sequence_of(r.body) for r in receiver.accepted())
    assert got[first] == 2
    assert {s: n for s, n in got.items() if n > 1 and s != first} == {}


async def test_replaying_one_delivery_keeps_the_backoff_of_the_other_held_ones(
    db: Database, settings: Settings
) -> None:
    # given an endpoint ordered per initiative, a lane of it held in its 7th backoff
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(
        db, fast(settings), "http://127.0.0.1:9/x", ordering="initiative"
    )
    later = utcnow() + timedelta(hours=1)
    endpoint = await endpoint_row(db, endpoint_id)
    async with db.sessions() as session, session.begin():
        session.add(
            m.WebhookHeld(
                endpoint_id=endpoint_id,
                lane=7,
                sequence=10,
                cursor_before=endpoint.cursor,
                attempts=7,
                next_attempt_at=later,
                created_at=utcnow(),
            )
        )
    message = await dead_letter_of(db, endpoint_id, 3)
    # when an admin replays another delivery
    async with db.sessions() as session, session.begin():
        await service.replay(session, endpoint_id, None, message)
    # then that lane still waits its backoff, on its 7th attempt; the replay is due now
    async with db.sessions() as session:
        held = (await session.scalars(select(m.WebhookHeld).order_by(m.WebhookHeld.lane))).all()
    assert [(h.lane, h.sequence, h.attempts, h.next_attempt_at) for h in held] == [
        (-1, 3, 0, None),
        (7, 10, 7, later),
    ]


async def test_failing_initiatives_longer_than_the_lease_are_sent_by_one_process(
    db: Database, settings: Settings
) -> None:
    # given an endpoint ordered per initiative, one event in each of five initiatives,
    # the receiver refusing the first four and taking a while to answer each: together
    # longer than the lease
    settings = fast(
        settings,
        webhook_lease_seconds=1.0,
        webhook_max_attempts=50,
        webhook_retry_first_seconds=30.0,
    )
    await setup_ledger(db)
    codes = [f"L-{i}" for i in range(5)]
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code in codes:
            await f.initiative(session, program, code=code)
    endpoint_id, _ = await add_endpoint(db, settings, "http://127.0.0.1:9/x", ordering="initiative")
    start = (await endpoint_row(db, endpoint_id)).position
    for code in codes:
        await write(db, 1, code)
    taken = await initiative_id(db, codes[-1])
    ok = {s for s, i in (await lanes_of(db, start)).items() if i == taken}
    receiver = Receiver(delay=0.35, answer=lambda b: 200 if sequence_of(b) in ok else 500).up()
    async with db.sessions() as session, session.begin():
        row = await session.get(m.WebhookEndpoint, endpoint_id)
        assert row is not None
        row.url = receiver.url
    # when two healthy processes deliver
    try:
        async with running(db, settings), running(db, settings):
            await until(lambda: len(receiver.accepted()) >= 1)
            await asyncio.sleep(2.0)  # room for a second process (wrongly) starting over
    finally:
        receiver.down()
    # then each event was tried once (the refused ones wait their 30 s backoff), the
    # accepted one was not sent again, and the endpoint moved past all five
    tried = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert sorted(tried.values()) == [1, 1, 1, 1, 1]
    assert [sequence_of(r.body) for r in receiver.accepted()] == sorted(ok)
    assert (await endpoint_row(db, endpoint_id)).position == start + 5


async def test_the_database_refuses_an_ordering_it_does_not_know(
    db: Database, settings: Settings
) -> None:
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            await session.execute(
                update(m.WebhookEndpoint)
                .where(m.WebhookEndpoint.id == endpoint_id)
                .values(ordering="lane")
            )
    assert (await endpoint_row(db, endpoint_id)).ordering == "endpoint"


@pytest.mark.postgres_only  # SQLite runs one writer at a time: two replays cannot interleave
async def test_two_replays_of_one_delivery_at_once_one_is_refused_as_a_conflict(
    db: Database, settings: Settings
) -> None:
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    message = await dead_letter_of(db, endpoint_id, 1)

    async def second() -> None:
        async with db.sessions() as session, session.begin():
            await service.replay(session, endpoint_id, None, message)

    # given a replay of a delivery, not yet committed, and a second replay of it waiting
    async with db.sessions() as session, session.begin():
        await service.replay(session, endpoint_id, None, message)
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)
    # then once the first commits, the second is refused with a typed error
    with pytest.raises(DomainError) as refused:
        await waiting
    assert refused.value.code == ErrorCode.CONFLICT
    async with db.sessions() as session:
        assert len((await session.scalars(select(m.WebhookHeld))).all()) == 1


async def last_sequence(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.max(m.Change.sequence))) or 0)


async def cite_a_transaction(db: Database) -> dict[str, int]:
    """A transaction of A-1, a source document, a citation of the transaction quoting
    it, then a transaction of B-2, one commit each: each one's sequence in the trail."""
    written: dict[str, int] = {}
    await write(db, 1, "A-1")
    written["record"] = await last_sequence(db)
    async with db.sessions() as session, session.begin():
        transaction = await session.scalar(
            select(m.Transaction).order_by(m.Transaction.id.desc()).limit(1)
        )
        assert transaction is not None
        record_id = transaction.id
        session.add(m.SourceDocument(ref="doc-cited", title="Annual report"))
    written["document"] = await last_sequence(db)
    async with db.sessions() as session, session.begin():
        document = await session.scalar(select(m.SourceDocument))
        assert document is not None
        session.add(
            m.Citation(
                source_document_id=document.id,
                subject_type=m.SubjectType.TRANSACTION,
                subject_id=record_id,
                quote="paid in full",
            )
        )
    written["citation"] = await last_sequence(db)
    await write(db, 1, "B-2")
    written["other"] = await last_sequence(db)
    assert list(written.values()) == sorted(set(written.values()))
    return written


@pytest.mark.parametrize("failing", ["record", "document"])
async def test_a_citation_never_arrives_before_what_it_cites_while_that_is_held_back(
    db: Database, settings: Settings, failing: str
) -> None:
    # given an endpoint ordered per initiative; a transaction of A-1, a source document,
    # a citation of that transaction quoting it, and a transaction of B-2, in that order
    settings = fast(settings, webhook_retry_last_seconds=0.3, webhook_max_attempts=50)
    await setup_ledger(db)
    refusing = {"on": True}
    written: dict[str, int] = {}

    def answer(body: bytes) -> int:
        # the receiver refuses the `failing` one (the record or the document) for a while
        return 500 if refusing["on"] and sequence_of(body) == written[failing] else 200

    receiver = Receiver(answer=answer).up()
    endpoint_id, _ = await add_endpoint(db, settings, receiver.url, ordering="initiative")
    written |= await cite_a_transaction(db)
    try:
        async with running(db, settings):
            # when the cited record's lane (or the document's) is held back by failures,
            # while the other lanes go on (B-2's transaction, after the citation, came)
            def other_came() -> bool:
                return written["other"] in {sequence_of(r.body) for r in receiver.accepted()}

            await until(other_came)
            await until(
                lambda: sum(sequence_of(r.body) == written[failing] for r in receiver.received) >= 3
            )
            # then the citation was not sent
            assert written["citation"] not in {sequence_of(r.body) for r in receiver.received}
            # when the receiver takes the failing one again
            refusing["on"] = False
            await until(lambda: len(receiver.accepted()) == 4)
            await asyncio.sleep(0.3)  # room for anything else that might (wrongly) come
    finally:
        receiver.down()
    # then the citation came once, after what it cites and quotes
    accepted = [sequence_of(r.body) for r in receiver.accepted()]
    assert sorted(accepted) == sorted(written.values())
    assert accepted.index(written["citation"]) > accepted.index(written["record"])
    assert accepted.index(written["citation"]) > accepted.index(written["document"])
    assert [sequence_of(r.body) for r in receiver.received].count(written["citation"]) == 1
    assert (await endpoint_row(db, endpoint_id)).status == service.ACTIVE

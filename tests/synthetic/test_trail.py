"""What `generate` bulk-loads into the trail: one create entry per row that restores it, a
rolled-back run leaving the trail as it was, a repeat writing nothing, and later runs and
edits continuing the chain."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.audit.records import audited_tables, decode_state
from app.audit.service import verify
from app.db.base import Base
from app.errors import DomainError, ErrorCode
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from tests import factories as f
from tests.conftest import Database
from tests.synthetic.common import (
    AFTER_2025,
    SIZES,
    chain_breaks,
    count_rows,
    generate_into,
    read_trail,
    read_trail_end,
)


async def test_a_second_run_with_the_same_arguments_writes_nothing(db: Database) -> None:
    # given
    await generate_into(db)
    before = await count_rows(db)
    trail_before = await read_trail_end(db)
    # when
    with pytest.raises(DomainError) as refused:
        await generate_into(db)
    # then
    assert refused.value.code == ErrorCode.ALREADY_EXISTS
    assert refused.value.details == {"ref": SIZES.ref}
    assert await count_rows(db) == before
    assert await read_trail_end(db) == trail_before


async def test_every_generated_row_has_one_create_entry_that_restores_it(db: Database) -> None:
    # when
    result = await generate_into(db, now=AFTER_2025)
    # then: one entry per row, the rows' whole state, in one chain that holds
    entries, head = await read_trail(db)
    assert len(entries) == result.total == result.entries
    assert chain_breaks(entries) == []
    assert head == (entries[-1].sequence, entries[-1].hash, entries[-1].occurred_at)
    by_row = {(e.entity_type, e.entity_id): e for e in entries}
    assert len(by_row) == len(entries)
    async with db.sessions() as session:
        for name, model in audited_tables().items():
            table = model.__table__
            for row in (await session.execute(select(table))).mappings():
                entry = by_row.pop((name, row["id"]))
                assert entry.after is not None
                assert decode_state(table, json.loads(entry.after)) == dict(row), name
                assert row["version"] == 1
                assert row["created_at"] == row["updated_at"] == AFTER_2025
                expected_initiative = row["id"] if name == "initiatives" else None
                assert entry.initiative_id == row.get("initiative_id", expected_initiative)
    assert by_row == {}  # no entry for a row that is not there
    assert {(e.operation, e.before, e.actor_name, e.actor_role) for e in entries} == {
        ("create", None, "generator", "system")
    }
    assert {e.reason for e in entries} == {f"synthetic data, seed 7 ({SIZES.ref})"}
    assert len({e.occurred_at for e in entries}) == 1
    # parents before children, so a replay in sequence order inserts them in order
    ranks = {table.name: n for n, table in enumerate(Base.metadata.sorted_tables)}
    assert [ranks[e.entity_type] for e in entries] == sorted(ranks[e.entity_type] for e in entries)


async def test_a_rolled_back_run_leaves_the_trail_as_it_was(db: Database) -> None:
    # given: the trail has an entry already
    async with db.sessions() as session, session.begin():
        await f.beneficiary_group(session, code="seniors", name="Older people")
    before = await read_trail_end(db)
    # when
    async with db.sessions() as session:
        await generate(session, SIZES)
        await session.rollback()
    # then
    assert await read_trail_end(db) == before
    assert before[0] == 1


async def test_a_second_run_and_later_edits_continue_the_chain(db: Database) -> None:
    # given: an edit, a run, another edit
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.16"))
    first = await generate_into(db)
    async with db.sessions() as session, session.begin():
        await f.beneficiary_group(session, code="group-between-runs")
    # when
    second = await generate_into(db, Sizes(10, 120, 1500, seed=8))
    async with db.sessions() as session, session.begin():
        await f.beneficiary_group(session, code="group-after-runs")
    # then: one gapless chain through all of them, the head at its end
    entries, head = await read_trail(db)
    assert len(entries) == 1 + first.total + 1 + second.total + 1
    assert chain_breaks(entries) == []
    async with db.sessions() as session:
        verification = await verify(session)
    assert verification.intact and verification.checked == len(entries)
    assert head[:2] == (entries[-1].sequence, entries[-1].hash)
    runs = [e.reason for e in entries]
    assert runs[1 : 1 + first.total] == [f"synthetic data, seed 7 ({SIZES.ref})"] * first.total
    assert entries[-1].actor_name == "test-setup"
    times = [e.occurred_at for e in entries]
    assert times == sorted(times)

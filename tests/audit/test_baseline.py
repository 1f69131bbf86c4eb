"""The baseline: rows written before the trail began get one `create` entry each, so the
trail (and every `asOf` view rebuilt from it) knows them.

Such rows are made here as an upgrade finds them: the demo is loaded, its rows are
copied out, the tables and the trail are emptied, and the rows go back through Core
inserts, which the ORM recorder does not see.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner, Result

from app import models as m
from app.audit.baseline import BASELINE_ACTOR, BASELINE_REASON, record_untracked
from app.audit.records import SYSTEM_ROLE, audited_tables, decode_state
from app.audit.service import verify
from app.cli import cli
from app.config import get_settings
from app.db.base import Base
from app.demo.loader import load_demo
from app.models import ChainHead, Change
from app.views.views import open_view
from tests import factories as f
from tests.conftest import Database, GraphQLClient, empty_tables

COUNTS = """
query Counts($asOf: DateTime) {
  initiatives(first: 50, asOf: $asOf) { totalCount nodes { id code version } }
  transactions(first: 100, asOf: $asOf) {
    totalCount
    nodes { id version amount { amount currency } }
  }
  budgetLines(asOf: $asOf) { totalCount }
  milestones(asOf: $asOf) { totalCount }
  beneficiaryFigures(asOf: $asOf) { totalCount }
}
"""

runner = CliRunner()


async def _baseline_command() -> Result:
    # The command runs its own event loop (asyncio.run), so it runs in a thread here.
    return await asyncio.to_thread(runner.invoke, cli, ["audit", "baseline"])


def _audited_in_order() -> list[Any]:
    audited = audited_tables()
    return [t for t in Base.metadata.sorted_tables if t.name in audited]


async def _rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every audited row, by table, in id order, as Core reads it."""
    async with db.engine.connect() as conn:
        return {
            table.name: [
                dict(row._mapping) for row in await conn.execute(select(table).order_by(table.c.id))
            ]
            for table in _audited_in_order()
        }


async def _untracked_demo(db: Database) -> dict[str, list[dict[str, Any]]]:
    """The demo's rows (and a few transactions) with an empty trail, as an upgrade
    finds a database that was in use before the trail began."""
    async with db.sessions() as session, session.begin():
        assert (await load_demo(session)).loaded
        # The demo has no transactions; a ledger in use has.
        for initiative in list(await session.scalars(select(m.Initiative).limit(2))):
            for amount in ("10.00", "2500.50"):
                await f.transaction(session, initiative, amount=Decimal(amount))
    rows = await _rows(db)
    # PostgreSQL's id sequences stay past these ids, as they were.
    await empty_tables(db.engine, restart_ids=False)
    async with db.engine.begin() as conn:
        for table in _audited_in_order():
            if rows[table.name]:
                await conn.execute(insert(table), rows[table.name])
    return rows


async def _baseline(db: Database, batch: int = 5000) -> int:
    async with db.sessions() as session, session.begin():
        return await record_untracked(
            session, actor=BASELINE_ACTOR, reason=BASELINE_REASON, batch=batch
        )


async def _entries(db: Database) -> list[Change]:
    async with db.sessions() as session:
        return list(await session.scalars(select(Change).order_by(Change.sequence)))


async def test_every_untracked_row_gets_one_create_entry_with_its_state(db: Database) -> None:
    # given
    rows = await _untracked_demo(db)
    assert await _entries(db) == []
    # when: small batches, so the rows are read a page at a time
    written = await _baseline(db, batch=7)
    # then
    entries = await _entries(db)
    total = sum(len(table_rows) for table_rows in rows.values())
    assert written == total == len(entries)
    assert [e.sequence for e in entries] == list(range(1, total + 1))
    assert {e.operation for e in entries} == {"create"}
    assert {(e.actor_name, e.actor_role) for e in entries} == {("baseline", SYSTEM_ROLE)}
    assert {e.reason for e in entries} == {BASELINE_REASON}
    assert len({e.occurred_at for e in entries}) == 1
    assert all(e.before is None for e in entries)
    # parents before children: tables appear in dependency order
    order = [t.name for t in _audited_in_order()]
    positions = [order.index(e.entity_type) for e in entries]
    assert positions == sorted(positions)
    by_key = {(e.entity_type, e.entity_id): e for e in entries}
    assert len(by_key) == total
    for table in _audited_in_order():
        for row in rows[table.name]:
            entry = by_key[(table.name, row["id"])]
            assert decode_state(table, json.loads(entry.after or "{}")) == row
    # each entry names its initiative, as the recorder's would
    transactions = {row["id"]: row for row in rows["transactions"]}
    assert transactions
    assert all(
        e.initiative_id == transactions[e.entity_id]["initiative_id"]
        for e in entries
        if e.entity_type == "transactions"
    )
    assert all(e.initiative_id == e.entity_id for e in entries if e.entity_type == "initiatives")


async def test_the_trail_is_intact_and_the_head_follows(db: Database) -> None:
    # given
    await _untracked_demo(db)
    # when
    written = await _baseline(db)
    # then
    async with db.sessions() as session:
        result = await verify(session)
        head = await session.get(ChainHead, 1)
        last = await session.scalar(select(Change).order_by(Change.sequence.desc()).limit(1))
    assert result.intact, result.first_break
    assert result.checked == written
    assert head is not None and last is not None
    assert (head.last_sequence, head.last_hash) == (last.sequence, last.hash)
    assert head.last_occurred_at == last.occurred_at


async def test_as_of_now_equals_live_after_the_baseline(
    db: Database, client: GraphQLClient
) -> None:
    # given: before the baseline, "as of now" knows none of the rows
    await _untracked_demo(db)
    before = await client.data(COUNTS, {"asOf": datetime.now(UTC).isoformat()})
    # when
    await _baseline(db)
    await asyncio.sleep(0.002)
    now = datetime.now(UTC)
    # then
    live = await client.data(COUNTS)
    replayed = await client.data(COUNTS, {"asOf": now.isoformat()})
    assert before["initiatives"]["totalCount"] == 0
    assert live["initiatives"]["totalCount"] > 0
    assert live["transactions"]["totalCount"] > 0
    assert replayed == live


async def test_every_table_rebuilt_as_of_now_equals_the_live_table(db: Database) -> None:
    # given
    await _untracked_demo(db)
    await _baseline(db)
    live = await _rows(db)
    # when: the view's connection reads its shadow tables, rebuilt from the trail
    view = await open_view(db.engine, moment=datetime.now(UTC))
    try:
        rebuilt = {
            table.name: [
                dict(row._mapping)
                for row in await view.connection.execute(select(table).order_by(table.c.id))
            ]
            for table in _audited_in_order()
        }
    finally:
        await view.close()
    # then
    assert rebuilt == live
    assert all(live[name] for name in ("initiatives", "budget_lines", "transactions"))


async def test_a_second_run_writes_nothing(db: Database) -> None:
    # given
    await _untracked_demo(db)
    first = await _baseline(db)
    # when
    second = await _baseline(db)
    # then
    assert first > 0
    assert second == 0
    assert len(await _entries(db)) == first


async def test_rows_with_entries_are_not_recorded_again(db: Database) -> None:
    # given: untracked rows, then ORM writes (recorded): a new programme, and an update
    # to one untracked transaction
    rows = await _untracked_demo(db)
    changed_id = rows["transactions"][0]["id"]
    async with db.sessions() as session:
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        await f.transaction(session, initiative)
        changed = await session.get(m.Transaction, changed_id)
        assert changed is not None
        changed.amount = Decimal("1.23")
        await session.commit()
    recorded = len(await _entries(db))
    # when
    written = await _baseline(db)
    # then
    entries = await _entries(db)
    per_row = Counter((e.entity_type, e.entity_id) for e in entries)
    total_rows = sum(len(table_rows) for table_rows in (await _rows(db)).values())
    assert written == total_rows - recorded
    assert set(per_row.values()) == {1}
    assert len(per_row) == total_rows
    assert [
        e.operation
        for e in entries
        if e.entity_id == changed_id and e.entity_type == "transactions"
    ] == ["update"]
    async with db.sessions() as session:
        assert (await verify(session)).intact


async def test_a_fresh_trail_needs_no_baseline(db: Database) -> None:
    # given: everything written since the trail began
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    entries = len(await _entries(db))
    # when
    written = await _baseline(db)
    # then
    assert entries > 0
    assert written == 0
    assert len(await _entries(db)) == entries


async def test_the_command_prints_how_many_it_wrote(cli_database: Database) -> None:
    # given
    rows = await _untracked_demo(cli_database)
    total = sum(len(table_rows) for table_rows in rows.values())
    # when
    first = await _baseline_command()
    again = await _baseline_command()
    # then
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"baseline: {total} entries written for rows the trail had not recorded\n"
    )
    assert again.exit_code == 0, again.output
    assert again.stdout == "baseline: 0 entries written for rows the trail had not recorded\n"
    assert len(await _entries(cli_database)) == total


async def test_the_command_on_an_unmigrated_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a database file no migration has touched
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        # when
        command = await _baseline_command()
    finally:
        get_settings.cache_clear()
    # then
    assert command.exit_code == 2
    assert "run `pledge-ledger db upgrade` first" in command.stderr
    assert "Traceback" not in command.output

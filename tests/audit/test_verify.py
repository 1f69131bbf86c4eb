"""The trail proves itself: append-only guards, and `audit verify` names the first break.

Tampering lifts the guards first, as someone with direct database access would; the
`db` fixture puts them back whatever happens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from app.audit.chain import entry_hash
from app.audit.guards import MESSAGE
from app.audit.records import audited_tables
from app.config import get_settings
from app.demo.loader import load_demo
from app.models import ChainHead, Change
from tests import factories as f
from tests.audit.verifying import (
    VERIFICATION,
    finding,
    some_changes,
    tamper,
    verify_command,
    verify_trail,
)
from tests.conftest import Database, GraphQLClient


async def test_an_untouched_trail_is_intact(db: Database) -> None:
    # given
    entries = await some_changes(db)
    async with db.sessions() as session:
        await load_demo(session)
        await session.commit()
    async with db.sessions() as session:
        last = await session.scalar(select(Change).order_by(Change.sequence.desc()).limit(1))
    # when
    result = await verify_trail(db, batch=7)
    # then
    assert last is not None and last.sequence > entries
    assert result.intact and result.first_break is None
    assert (result.checked, result.last_sequence, result.last_hash) == (
        last.sequence,
        last.sequence,
        last.hash,
    )


async def test_an_empty_trail_is_intact(db: Database) -> None:
    # when
    result = await verify_trail(db)
    # then
    assert result.intact
    assert (result.checked, result.last_sequence) == (0, 0)


async def test_the_guards_refuse_to_update_or_delete_entries(db: Database) -> None:
    # given
    await some_changes(db)
    # when / then
    for statement in (
        update(Change).where(Change.sequence == 1).values(reason="rewritten"),
        delete(Change).where(Change.sequence == 1),
    ):
        with pytest.raises(DBAPIError, match=MESSAGE):
            async with db.engine.begin() as conn:
                await conn.execute(statement)
    async with db.sessions() as session:
        first = await session.get(Change, 1)
    assert first is not None and first.reason is None
    assert (await verify_trail(db)).intact


async def test_a_changed_after_fails_verification_at_that_entry(
    cli_database: Database, client: GraphQLClient
) -> None:
    # given
    db = cli_database
    await some_changes(db)
    async with db.sessions() as session:
        update_entry = await session.scalar(select(Change).where(Change.operation == "update"))
        auditor = await f.api_key(session, "auditor")
        await session.commit()
    assert update_entry is not None
    forged = json.loads(update_entry.after or "{}") | {"amount": "1.00"}
    await tamper(
        db,
        update(Change)
        .where(Change.sequence == update_entry.sequence)
        .values(after=json.dumps(forged)),
    )
    # when
    result = await verify_trail(db, batch=2)
    command = await verify_command()
    answer = await client.with_key(auditor).data(VERIFICATION)
    # then
    sequence = update_entry.sequence
    assert not result.intact
    assert result.first_break is not None
    assert result.first_break.sequence == sequence
    assert result.first_break.problem == "its content does not match its hash"
    assert (result.checked, result.last_sequence) == (sequence - 1, sequence - 1)
    assert command.exit_code == 1
    assert finding(command) == f"broken at entry {sequence}: its content does not match its hash"
    assert answer["auditVerification"] == {
        "intact": False,
        "checkedEntries": sequence - 1,
        "lastSequence": sequence - 1,
        "lastHash": result.last_hash,
        "firstBroken": {"sequence": sequence, "problem": "its content does not match its hash"},
    }


async def test_rehashing_a_changed_entry_moves_the_break_to_the_next(db: Database) -> None:
    # given
    await some_changes(db)
    async with db.sessions() as session:
        entry = await session.get(Change, 2)
    assert entry is not None
    entry.reason = "forged"
    await tamper(
        db,
        update(Change).where(Change.sequence == 2).values(reason="forged", hash=entry_hash(entry)),
    )
    # when
    result = await verify_trail(db)
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == 3
    assert result.first_break.problem == "its previous hash does not match the entry before it"


async def test_a_removed_middle_entry_is_named(cli_database: Database) -> None:
    # given
    db = cli_database
    entries = await some_changes(db)
    missing = entries // 2
    await tamper(db, delete(Change).where(Change.sequence == missing))
    # when
    result = await verify_trail(db, batch=2)
    command = await verify_command()
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == missing
    assert f"entry {missing} is missing" in result.first_break.problem
    assert command.exit_code == 1
    assert finding(command).startswith(f"broken at entry {missing}: entry {missing} is missing")


async def test_a_removed_last_entry_is_caught_by_the_chain_head(cli_database: Database) -> None:
    # given
    db = cli_database
    entries = await some_changes(db)
    await tamper(db, delete(Change).where(Change.sequence == entries))
    # when
    result = await verify_trail(db)
    command = await verify_command()
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == entries
    assert result.first_break.problem == (
        f"entry {entries} is missing: the chain head says the trail ends at {entries}, "
        f"but its last entry is {entries - 1}"
    )
    assert result.checked == entries - 1
    assert command.exit_code == 1
    assert f"broken at entry {entries}: entry {entries} is missing" in command.stderr


async def test_a_chain_head_moved_back_is_caught(db: Database) -> None:
    # given
    entries = await some_changes(db)
    async with db.engine.begin() as conn:
        await conn.execute(update(ChainHead).values(last_sequence=entries - 1))
    # when
    result = await verify_trail(db)
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == entries
    assert "beyond the chain head" in result.first_break.problem


async def test_the_command_reports_an_intact_trail(cli_database: Database) -> None:
    # given
    entries = await some_changes(cli_database)
    async with cli_database.sessions() as session:
        last_hash = await session.scalar(select(Change.hash).where(Change.sequence == entries))
    # when
    command = await verify_command()
    # then
    assert command.exit_code == 0, command.output
    tables = len(audited_tables())
    assert command.stdout == (
        f"intact: {entries} entries, last sequence {entries}\nlast hash: {last_hash}\n"
        # a sponsor, its programme, an initiative and the transaction not archived
        f"tables: 4 records in {tables} tables match the trail up to entry {entries}\n"
    )


async def test_the_trail_has_no_gaps_after_a_rolled_back_write(db: Database) -> None:
    # given
    await some_changes(db)
    async with db.sessions() as session:
        await f.organization(session)
        await session.rollback()
    async with db.sessions() as session:
        await f.organization(session)
        await session.commit()
    # when
    async with db.sessions() as session:
        sequences = list(await session.scalars(select(Change.sequence).order_by(Change.sequence)))
        count = await session.scalar(text("SELECT count(*) FROM changes"))
    # then
    assert sequences == list(range(1, len(sequences) + 1))
    assert count == len(sequences)
    assert (await verify_trail(db)).intact


async def test_the_command_on_an_unmigrated_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a database file no migration has touched
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        # when
        command = await verify_command()
    finally:
        get_settings.cache_clear()
    # then: a plain message and its own exit status, not a traceback
    assert command.exit_code == 2
    assert "run `pledge-ledger db upgrade` first" in command.stderr
    assert "Traceback" not in command.output

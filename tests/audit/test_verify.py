"""The trail proves itself: append-only guards, and `audit verify` names the first break.

Tampering lifts the guards first, as someone with direct database access would; the
`db` fixture puts them back whatever happens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

from app import models as m
from app.audit.chain import entry_hash
from app.audit.guards import MESSAGE, create_guards, drop_guards
from app.audit.records import audited_tables
from app.audit.service import Verification, compare_tables, verify
from app.cli import cli
from app.config import get_settings
from app.demo.loader import load_demo
from app.models import ChainHead, Change
from tests import factories as f
from tests.conftest import Database, GraphQLClient

VERIFICATION = """
{
  auditVerification {
    intact checkedEntries lastSequence lastHash firstBroken { sequence problem }
  }
}"""

runner = CliRunner()


@pytest.fixture
def cli_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The command line pointed at the test's database (DATABASE_URL)."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        yield db
    finally:
        get_settings.cache_clear()


async def _verify_command() -> Result:
    # The command runs its own event loop (asyncio.run), so it runs in a thread here.
    return await asyncio.to_thread(runner.invoke, cli, ["audit", "verify"])


def finding(command: Result) -> str:
    """What the command reports on stderr after naming the database it checked."""
    named, *rest = command.stderr.splitlines()
    assert named.startswith("database: "), command.stderr
    return "\n".join(rest)


async def _some_changes(db: Database) -> int:
    """Creates, updates and an archive through ORM sessions; returns the entry count."""
    async with db.sessions() as session:
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        first = await f.transaction(session, initiative)
        second = await f.transaction(session, initiative)
        await session.commit()
    async with db.sessions() as session:
        row = await session.get(m.Transaction, first.id)
        assert row is not None
        row.amount = Decimal("250.00")
        await session.commit()
    async with db.sessions() as session:
        gone = await session.get(m.Transaction, second.id)
        await session.delete(gone)
        await session.commit()
    async with db.sessions() as session:
        return int(
            await session.scalar(select(Change.sequence).order_by(Change.sequence.desc()).limit(1))
            or 0
        )


async def _tamper(db: Database, *statements: object) -> None:
    """Run statements on the trail with the guards lifted, then put the guards back."""
    async with db.engine.begin() as conn:
        await conn.run_sync(drop_guards)
        for statement in statements:
            await conn.execute(statement)  # type: ignore[call-overload]
        await conn.run_sync(create_guards)


async def _verify(db: Database, batch: int = 5000) -> Verification:
    async with db.sessions() as session:
        return await verify(session, batch=batch)


async def test_an_untouched_trail_is_intact(db: Database) -> None:
    # given
    entries = await _some_changes(db)
    async with db.sessions() as session:
        await load_demo(session)
        await session.commit()
    async with db.sessions() as session:
        last = await session.scalar(select(Change).order_by(Change.sequence.desc()).limit(1))
    # when
    result = await _verify(db, batch=7)
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
    result = await _verify(db)
    # then
    assert result.intact
    assert (result.checked, result.last_sequence) == (0, 0)


async def test_the_guards_refuse_to_update_or_delete_entries(db: Database) -> None:
    # given
    await _some_changes(db)
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
    assert (await _verify(db)).intact


async def test_a_changed_after_fails_verification_at_that_entry(
    cli_database: Database, client: GraphQLClient
) -> None:
    # given
    db = cli_database
    await _some_changes(db)
    async with db.sessions() as session:
        update_entry = await session.scalar(select(Change).where(Change.operation == "update"))
        auditor = await f.api_key(session, "auditor")
        await session.commit()
    assert update_entry is not None
    forged = json.loads(update_entry.after or "{}") | {"amount": "1.00"}
    await _tamper(
        db,
        update(Change)
        .where(Change.sequence == update_entry.sequence)
        .values(after=json.dumps(forged)),
    )
    # when
    result = await _verify(db, batch=2)
    command = await _verify_command()
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
    await _some_changes(db)
    async with db.sessions() as session:
        entry = await session.get(Change, 2)
    assert entry is not None
    entry.reason = "forged"
    await _tamper(
        db,
        update(Change).where(Change.sequence == 2).values(reason="forged", hash=entry_hash(entry)),
    )
    # when
    result = await _verify(db)
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == 3
    assert result.first_break.problem == "its previous hash does not match the entry before it"


async def test_a_removed_middle_entry_is_named(cli_database: Database) -> None:
    # given
    db = cli_database
    entries = await _some_changes(db)
    missing = entries // 2
    await _tamper(db, delete(Change).where(Change.sequence == missing))
    # when
    result = await _verify(db, batch=2)
    command = await _verify_command()
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == missing
    assert f"entry {missing} is missing" in result.first_break.problem
    assert command.exit_code == 1
    assert finding(command).startswith(f"broken at entry {missing}: entry {missing} is missing")


async def test_a_removed_last_entry_is_caught_by_the_chain_head(cli_database: Database) -> None:
    # given
    db = cli_database
    entries = await _some_changes(db)
    await _tamper(db, delete(Change).where(Change.sequence == entries))
    # when
    result = await _verify(db)
    command = await _verify_command()
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
    entries = await _some_changes(db)
    async with db.engine.begin() as conn:
        await conn.execute(update(ChainHead).values(last_sequence=entries - 1))
    # when
    result = await _verify(db)
    # then
    assert result.first_break is not None
    assert result.first_break.sequence == entries
    assert "beyond the chain head" in result.first_break.problem


async def test_the_command_reports_an_intact_trail(cli_database: Database) -> None:
    # given
    entries = await _some_changes(cli_database)
    async with cli_database.sessions() as session:
        last_hash = await session.scalar(select(Change.hash).where(Change.sequence == entries))
    # when
    command = await _verify_command()
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
    await _some_changes(db)
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
    assert (await _verify(db)).intact


async def test_the_command_on_an_unmigrated_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a database file no migration has touched
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        # when
        command = await _verify_command()
    finally:
        get_settings.cache_clear()
    # then: a plain message and its own exit status, not a traceback
    assert command.exit_code == 2
    assert "run `pledge-ledger db upgrade` first" in command.stderr
    assert "Traceback" not in command.output


async def _small_ledger(db: Database) -> tuple[m.Transaction, list[m.Milestone]]:
    """A transaction and three milestones, written through ORM sessions (so in the trail)."""
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        transaction = await f.transaction(session, initiative, amount=Decimal("100.00"))
        milestones = [await f.milestone(session, initiative) for _ in range(3)]
    return transaction, milestones


async def _edit_around_the_trail(
    db: Database, kind: str, transaction: m.Transaction, milestones: list[m.Milestone]
) -> tuple[str, int, str | None]:
    """An edit as someone with database access would make it, past the ORM and so past
    the trail; returns the (table, id, column) it changed (no column: a whole record)."""
    async with db.engine.begin() as conn:
        if kind == "update":
            await conn.execute(
                update(m.Transaction)
                .where(m.Transaction.id == transaction.id)
                .values(amount=m.Transaction.amount + Decimal("1000000.00"))
            )
            return "transactions", transaction.id, "amount"
        if kind == "delete":
            await conn.execute(delete(m.Milestone).where(m.Milestone.id == milestones[1].id))
            return "milestones", milestones[1].id, None
        inserted = await conn.execute(
            insert(m.Organization)
            .values(ref="ghost", name="Ghost", kind=m.OrganizationKind.COMPANY)
            .returning(m.Organization.id)
        )
        return "organizations", inserted.scalar_one(), None


TABLES = """
{ auditVerification { intact tables { match records firstDifference { table key columns } } } }
"""


@pytest.mark.parametrize("kind", ["update", "delete", "insert"])
async def test_a_table_edited_around_the_trail_fails_verification_naming_the_record(
    cli_database: Database, client: GraphQLClient, kind: str
) -> None:
    # given
    db = cli_database
    transaction, milestones = await _small_ledger(db)
    async with db.sessions() as session, session.begin():
        auditor = client.with_key(await f.api_key(session, "auditor"))
    untouched = await compare_tables(db.engine)
    table, pk, column = await _edit_around_the_trail(db, kind, transaction, milestones)
    # when
    result = await compare_tables(db.engine)
    command = await _verify_command()
    answer = (await auditor.data(TABLES))["auditVerification"]
    # then
    assert untouched.first_difference is None
    assert untouched.records == 7  # sponsor, programme, initiative, transaction, 3 milestones
    found = result.first_difference
    assert found is not None
    assert (found.table, found.id, found.columns[0] if found.columns else None) == (
        table,
        pk,
        column,
    )
    assert command.exit_code == 1
    assert finding(command).startswith(f"the tables differ from the trail: {table} {pk}")
    assert answer["intact"] is True  # the chain holds: only the tables show the edit
    assert answer["tables"]["match"] is False
    assert answer["tables"]["firstDifference"] == {
        "table": table,
        "key": pk,
        "columns": [column, "updated_at"] if column else [],
    }
    if kind == "update":
        assert "amount is 1000100.00 in the table, 100.00 in the trail" in command.stderr
    elif kind == "delete":
        assert "the trail has this record, the table does not" in command.stderr
    else:
        assert "the table has this record, the trail does not" in command.stderr


UNREADABLE = """
{ auditVerification { tables { match firstDifference { table key columns detail } } } }
"""


@pytest.mark.parametrize(
    ("table", "column", "stored"),
    [("exchange_rates", "rate", "abc"), ("milestones", "planned_date", "garbage")],
)
async def test_a_value_its_column_cannot_read_is_a_difference_naming_it(
    cli_database: Database, client: GraphQLClient, table: str, column: str, stored: str
) -> None:
    # given: a rate and a milestone in the trail, then one cell set by hand to a value
    # its type cannot read (each made `audit verify` end in a 170-line traceback, and
    # auditVerification answer INTERNAL)
    db = cli_database
    _, milestones = await _small_ledger(db)
    async with db.sessions() as session, session.begin():
        rate = await f.exchange_rate(session)
        auditor = client.with_key(await f.api_key(session, "auditor"))
    pk = rate.id if table == "exchange_rates" else milestones[0].id
    edit = text(f"UPDATE {table} SET {column} = '{stored}' WHERE id = {pk}")
    if db.backend == "postgresql":
        # then: PostgreSQL's column types refuse such a value; nothing to read
        with pytest.raises(DBAPIError):
            async with db.engine.begin() as conn:
                await conn.execute(edit)
        return
    async with db.engine.begin() as conn:
        await conn.execute(edit)
    # when
    command = await _verify_command()
    answer = (await auditor.data(UNREADABLE))["auditVerification"]["tables"]
    # then: a difference like any other, naming the table, record, column and the value
    # as stored, with the exit status of a difference
    said = f"{column} holds '{stored}' in the table, which cannot be read as its type; "
    assert command.exit_code == 1
    assert "Traceback" not in command.output
    assert finding(command).startswith(f"the tables differ from the trail: {table} {pk}: {said}")
    assert answer["match"] is False
    found = answer["firstDifference"]
    assert (found["table"], found["key"], found["columns"]) == (table, pk, [column])
    assert found["detail"].startswith(said)

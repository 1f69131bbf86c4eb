"""Rows edited around the trail (a direct UPDATE, or a value its column cannot read) fail
verification, naming the record."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete, insert, text, update
from sqlalchemy.exc import DBAPIError

from app import models as m
from app.audit.service import compare_tables
from tests import factories as f
from tests.audit.verifying import finding, verify_command
from tests.conftest import Database, GraphQLClient


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
    command = await verify_command()
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
    command = await verify_command()
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

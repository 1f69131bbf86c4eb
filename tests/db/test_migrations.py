"""Migrations and models agree, migrate both ways, and keep money and time exact.

Every test here gets its own empty database (a fresh SQLite file, or a freshly created
PostgreSQL database) because the tests migrate it themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, String, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app import models as m
from app.audit.service import compare_tables, verify
from app.db.base import NAMING_CONVENTION, Base
from app.db.migrate import current_revision, downgrade, head_revision, upgrade
from app.db.session import SessionFactory
from app.demo.loader import load_demo
from app.engines import ledger_engine, ledger_sessions
from tests import factories
from tests.conftest import (
    BACKENDS,
    TEST_ACTOR,
    create_postgres_database,
    drop_postgres_database,
)

APP_TABLES = {table.name for table in Base.metadata.sorted_tables}
# The revision before the audit trail, and the one before money had three decimals.
BEFORE_AUDIT_TRAIL = "be5aad7e7353"
MONEY_IN_HUNDREDTHS = "5c1e0d7f3a92"


@dataclass
class FreshDatabase:
    backend: str
    engine: AsyncEngine
    sessions: SessionFactory


@pytest.fixture(params=BACKENDS)
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FreshDatabase]:
    """An empty, unmigrated database of the backend, dropped afterwards."""
    backend: str = request.param
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = await create_postgres_database("pledge_migrations")
    engine = ledger_engine(url)
    try:
        yield FreshDatabase(backend, engine, ledger_sessions(engine, actor=TEST_ACTOR))
    finally:
        await engine.dispose()
        if backend == "postgresql":
            await drop_postgres_database(url)


def _diff(sync: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names: list[str] = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def test_the_migrations_create_exactly_the_models(fresh: FreshDatabase) -> None:
    # when
    await upgrade(fresh.engine)
    # then: autogenerate finds nothing to do, types included
    async with fresh.engine.connect() as conn:
        diff = await conn.run_sync(_diff, Base.metadata)
    assert diff == [], f"models and migrations disagree on {fresh.backend}: {diff}"
    assert await current_revision(fresh.engine) == head_revision()


async def test_the_comparison_would_notice_a_changed_column_type(fresh: FreshDatabase) -> None:
    """Guards the test above against passing vacuously (e.g. compare_type ignored)."""
    # given: the models, with one column's type changed
    await upgrade(fresh.engine)
    changed = MetaData(naming_convention=NAMING_CONVENTION)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["programs"].c.ref.type = String(80)
    # when
    async with fresh.engine.connect() as conn:
        diff = await conn.run_sync(_diff, changed)
    # then
    # (column changes come grouped: one list of tuples per column)
    assert len(diff) == 1, diff
    [[(op, _schema, table, column, *_)]] = diff
    assert (op, table, column) == ("modify_type", "programs", "ref")


async def test_downgrade_to_base_and_upgrade_again(fresh: FreshDatabase) -> None:
    # given
    await upgrade(fresh.engine)
    assert await _table_names(fresh.engine) >= APP_TABLES
    # when
    await downgrade(fresh.engine, "base")
    # then: no application table survives (alembic keeps its own, empty, version table)
    assert await _table_names(fresh.engine) - {"alembic_version"} == set()
    assert await current_revision(fresh.engine) is None
    # when
    await upgrade(fresh.engine)
    # then
    assert await _table_names(fresh.engine) >= APP_TABLES
    assert await current_revision(fresh.engine) == head_revision()


async def test_a_database_holding_the_demo_goes_back_a_migration_and_up_again(
    fresh: FreshDatabase,
) -> None:
    # given: the demo loaded (tables with rows that others point at)
    await upgrade(fresh.engine)
    async with fresh.sessions() as session, session.begin():
        await load_demo(session)
    before = await _counts(fresh)
    # when: back before the audit trail (SQLite rebuilds tables to do so), and up again
    await downgrade(fresh.engine, BEFORE_AUDIT_TRAIL)
    await upgrade(fresh.engine)
    # then: every row is still there, and references are still enforced
    assert await _counts(fresh) == before
    with pytest.raises(IntegrityError):
        async with fresh.sessions() as session, session.begin():
            session.add(
                m.Initiative(
                    program_id=999,
                    code="X",
                    position=1,
                    title="x",
                    status=m.InitiativeStatus.PIPELINE,
                )
            )


async def _counts(fresh: FreshDatabase) -> dict[str, int]:
    async with fresh.engine.connect() as conn:
        return {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("programs", "initiatives", "budget_lines", "citations")
        }


async def test_data_written_after_a_second_upgrade_reads_back_exactly(
    fresh: FreshDatabase,
) -> None:
    # given: a database that went up, down and up again
    await upgrade(fresh.engine)
    await downgrade(fresh.engine, "base")
    await upgrade(fresh.engine)
    beijing = timezone(timedelta(hours=8))
    announced_at = datetime(2021, 9, 3, 18, 30, 15, 123456, tzinfo=beijing)
    # when
    async with fresh.sessions() as session, session.begin():
        program = await factories.program(
            session, pledged_amount=Decimal("100000000000.01"), created_at=announced_at
        )
        program_id = program.id
    async with fresh.sessions() as session:
        stored = await session.get(m.Program, program_id)
    # then
    assert stored is not None
    assert stored.pledged_amount == Decimal("100000000000.01")
    assert str(stored.pledged_amount) == "100000000000.010"  # the column's scale
    assert stored.created_at == announced_at
    assert stored.created_at.tzinfo == UTC
    assert stored.created_at == datetime(2021, 9, 3, 10, 30, 15, 123456, tzinfo=UTC)


async def test_sql_sums_of_money_are_exact(fresh: FreshDatabase) -> None:
    # given
    await upgrade(fresh.engine)
    amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("99999999999.99"), Decimal("0.01")]
    async with fresh.sessions() as session, session.begin():
        initiative = await factories.initiative(session, await factories.program(session))
        for amount in amounts:
            await factories.budget_line(session, initiative, amount=amount)
    # when
    async with fresh.sessions() as session:
        total = await session.scalar(select(func.sum(m.BudgetLine.amount)))
        largest = await session.scalar(select(func.max(m.BudgetLine.amount)))
        small = await session.scalar(
            select(func.sum(m.BudgetLine.amount)).where(m.BudgetLine.amount < Decimal("1"))
        )
    # then: no binary float anywhere on the way
    assert isinstance(total, Decimal)
    assert total == sum(amounts) == Decimal("100000000000.30")
    assert str(total) == "100000000000.300"
    assert largest == Decimal("99999999999.99")
    assert small == Decimal("0.31")


@pytest.mark.parametrize("amount", ["0.0001", "12.3456", "99999999999.9999"])
async def test_more_decimal_places_than_the_scale_are_refused(
    fresh: FreshDatabase, amount: str
) -> None:
    # given
    await upgrade(fresh.engine)
    async with fresh.sessions() as session, session.begin():
        initiative = await factories.initiative(session, await factories.program(session))
    # when
    with pytest.raises(StatementError) as raised:
        async with fresh.sessions() as session, session.begin():
            await factories.budget_line(session, initiative, amount=Decimal(amount))
    # then: refused, not rounded to the thousandth
    assert isinstance(raised.value.orig, ValueError)
    assert "more than 3 decimal places" in str(raised.value.orig)
    async with fresh.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.BudgetLine)) == 0


async def test_the_largest_amount_the_column_declares_is_stored_exactly(
    fresh: FreshDatabase,
) -> None:
    # given: the largest amount NUMERIC(18, 3) holds (and SQLite's 64-bit thousandths too)
    await upgrade(fresh.engine)
    largest = Decimal("999999999999999.999")
    async with fresh.sessions() as session, session.begin():
        initiative = await factories.initiative(session, await factories.program(session))
        line = await factories.budget_line(session, initiative, amount=largest)
        line_id = line.id
    # when
    async with fresh.sessions() as session:
        stored = await session.get(m.BudgetLine, line_id)
    # then
    assert stored is not None
    assert stored.amount == largest


async def test_an_amount_beyond_the_declared_precision_is_refused_on_every_backend(
    fresh: FreshDatabase,
) -> None:
    # given
    await upgrade(fresh.engine)
    async with fresh.sessions() as session, session.begin():
        initiative = await factories.initiative(session, await factories.program(session))
    # when: one digit more than NUMERIC(18, 3) holds
    with pytest.raises(StatementError) as raised:
        async with fresh.sessions() as session, session.begin():
            await factories.budget_line(session, initiative, amount=Decimal("1000000000000000.000"))
    # then: the same clear refusal on SQLite and PostgreSQL, and nothing written
    assert isinstance(raised.value.orig, ValueError)
    assert "does not fit 18 digits" in str(raised.value.orig)
    async with fresh.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.BudgetLine)) == 0


async def test_a_new_record_was_last_changed_when_it_was_created(fresh: FreshDatabase) -> None:
    await upgrade(fresh.engine)
    async with fresh.sessions() as session, session.begin():
        program = await factories.program(session)
    assert program.created_at == program.updated_at
    assert program.created_at.tzinfo is not None


# ---- money from hundredths to thousandths (revision 3d9175aeb81a) ----------------------

MONEY_COLUMNS = (
    ("programs", "pledged_amount"),
    ("budget_lines", "amount"),
    ("transactions", "amount"),
)


async def _stored_money(fresh: FreshDatabase) -> dict[tuple[str, int], Any]:
    """Every money value exactly as the database stores it (SQLite: the integer count)."""
    found: dict[tuple[str, int], Any] = {}
    async with fresh.engine.connect() as conn:
        for table, column in MONEY_COLUMNS:
            rows = await conn.execute(text(f"SELECT id, {column} FROM {table}"))
            found.update({(table, int(id_)): value for id_, value in rows})
    return found


async def _money_read(fresh: FreshDatabase) -> dict[tuple[str, int], Decimal]:
    """Every money value as the service reads it."""
    async with fresh.sessions() as session:
        programs = (await session.scalars(select(m.Program))).all()
        lines = (await session.scalars(select(m.BudgetLine))).all()
        transactions = (await session.scalars(select(m.Transaction))).all()
    return {
        **{("programs", p.id): p.pledged_amount for p in programs},
        **{("budget_lines", b.id): b.amount for b in lines},
        **{("transactions", t.id): t.amount for t in transactions},
    }


async def _ledger_with_money(fresh: FreshDatabase, *amounts: tuple[str, str]) -> None:
    """A programme pledging the largest amount in cents 15 integer digits hold, with a
    budget line per (amount, currency) and a transaction of minus each."""
    async with fresh.sessions() as session, session.begin():
        program = await factories.program(
            session, pledged_amount=Decimal("999999999999999.99"), pledged_currency="CNY"
        )
        initiative = await factories.initiative(session, program)
        for amount, currency in amounts:
            line = await factories.budget_line(
                session, initiative, amount=Decimal(amount), currency=currency
            )
            await factories.transaction(
                session, initiative, amount=-Decimal(amount) or Decimal(1), currency=currency
            )
            line.description = "changed once, so the trail has a before state too"


async def _trail_and_tables_agree(fresh: FreshDatabase) -> None:
    async with fresh.sessions() as session:
        assert (await verify(session)).intact
    assert (await compare_tables(fresh.engine)).first_difference is None


IN_CENTS = (("12.50", "CNY"), ("100", "JPY"), ("7.25", "KWD"), ("0.01", "USD"), ("0", "CNY"))


async def test_money_goes_back_to_hundredths_and_up_to_thousandths_unchanged(
    fresh: FreshDatabase,
) -> None:
    # given: money written at three decimals, none of them finer than a cent
    await upgrade(fresh.engine)
    await _ledger_with_money(fresh, *IN_CENTS)
    values = await _money_read(fresh)
    assert len(values) == 1 + 2 * len(IN_CENTS)
    # when: back to the revision before
    await downgrade(fresh.engine, MONEY_IN_HUNDREDTHS)
    # then: stored as that revision stored money (SQLite: a count of hundredths)
    assert await current_revision(fresh.engine) == MONEY_IN_HUNDREDTHS
    hundredths = await _stored_money(fresh)
    if fresh.backend == "sqlite":
        assert hundredths == {key: int(v.scaleb(2)) for key, v in values.items()}
    else:
        assert {k: str(v) for k, v in hundredths.items()} == {
            key: str(v.quantize(Decimal("0.01"))) for key, v in values.items()
        }
    # when: up again
    await upgrade(fresh.engine)
    # then: every amount reads as it was, stored in thousandths, and the trail (written
    # before the round trip) still proves the tables
    assert await current_revision(fresh.engine) == head_revision()
    assert await _money_read(fresh) == values
    thousandths = await _stored_money(fresh)
    if fresh.backend == "sqlite":
        assert thousandths == {key: int(v.scaleb(3)) for key, v in values.items()}
    else:
        assert {k: str(v) for k, v in thousandths.items()} == {
            key: str(v.quantize(Decimal("0.001"))) for key, v in values.items()
        }
    await _trail_and_tables_agree(fresh)


async def test_the_audit_trail_of_money_in_fils_proves_the_tables(fresh: FreshDatabase) -> None:
    # given: amounts with a third decimal beside amounts in cents, each changed once
    await upgrade(fresh.engine)
    await _ledger_with_money(fresh, ("12.345", "KWD"), ("0.001", "KWD"), ("12.50", "CNY"))
    # then: the trail rebuilds every table as it is (as `asOf` rebuilds a past moment)
    await _trail_and_tables_agree(fresh)


async def test_going_back_to_hundredths_refuses_an_amount_with_a_third_decimal(
    fresh: FreshDatabase,
) -> None:
    # given: one amount of fils
    await upgrade(fresh.engine)
    await _ledger_with_money(fresh, ("12.345", "KWD"), ("12.50", "CNY"))
    values = await _money_read(fresh)
    # when
    with pytest.raises(RuntimeError, match=r"third decimal.*nothing was changed"):
        await downgrade(fresh.engine, MONEY_IN_HUNDREDTHS)
    # then: refused, never rounded: nothing changed
    assert await current_revision(fresh.engine) == head_revision()
    assert await _money_read(fresh) == values
    await _trail_and_tables_agree(fresh)


async def test_going_back_to_hundredths_refuses_a_third_decimal_in_the_trail(
    fresh: FreshDatabase,
) -> None:
    # given: a line of 12.345 KWD, since changed to 12.34 (the trail keeps 12.345)
    await upgrade(fresh.engine)
    await _ledger_with_money(fresh, ("12.345", "KWD"))
    async with fresh.sessions() as session, session.begin():
        for row in (await session.scalars(select(m.BudgetLine))).all():
            row.amount = Decimal("12.34")
        for row in (await session.scalars(select(m.Transaction))).all():
            row.amount = Decimal("-12.34")
    values = await _money_read(fresh)
    # when
    with pytest.raises(RuntimeError, match=r"audit trail recorded budget_lines\.amount"):
        await downgrade(fresh.engine, MONEY_IN_HUNDREDTHS)
    # then
    assert await current_revision(fresh.engine) == head_revision()
    assert await _money_read(fresh) == values


async def test_moving_to_thousandths_refuses_an_amount_of_16_integer_digits(
    fresh: FreshDatabase,
) -> None:
    # given: a database at hundredths whose pledge has 16 integer digits, which
    # NUMERIC(18, 2) held and NUMERIC(18, 3) cannot
    await upgrade(fresh.engine)
    await _ledger_with_money(fresh, ("12.50", "CNY"))
    await downgrade(fresh.engine, MONEY_IN_HUNDREDTHS)
    async with fresh.engine.begin() as conn:
        await conn.execute(text("UPDATE programs SET pledged_amount = pledged_amount * 10"))
    before = await _stored_money(fresh)
    # when
    with pytest.raises(RuntimeError, match=r"programs\.pledged_amount .* 16 integer digits"):
        await upgrade(fresh.engine)
    # then: nothing changed
    assert await current_revision(fresh.engine) == MONEY_IN_HUNDREDTHS
    assert await _stored_money(fresh) == before

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
from app.db.base import NAMING_CONVENTION, Base
from app.db.migrate import current_revision, downgrade, head_revision, upgrade
from app.db.session import SessionFactory, create_engine, create_session_factory
from app.demo.loader import load_demo
from tests import factories
from tests.conftest import (
    BACKENDS,
    TEST_ACTOR,
    create_postgres_database,
    drop_postgres_database,
)

APP_TABLES = {table.name for table in Base.metadata.sorted_tables}


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
    engine = create_engine(url)
    try:
        yield FreshDatabase(backend, engine, create_session_factory(engine, actor=TEST_ACTOR))
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
    await downgrade(fresh.engine, "-1")
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
    assert str(stored.pledged_amount) == "100000000000.01"
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
    assert str(total) == "100000000000.30"
    assert largest == Decimal("99999999999.99")
    assert small == Decimal("0.31")


@pytest.mark.parametrize("amount", ["0.001", "12.345", "99999999999.999"])
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
    # then: refused, not rounded to the cent
    assert isinstance(raised.value.orig, ValueError)
    assert "more than 2 decimal places" in str(raised.value.orig)
    async with fresh.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.BudgetLine)) == 0


async def test_the_largest_amount_the_column_declares_is_stored_exactly(
    fresh: FreshDatabase,
) -> None:
    # given: the largest amount NUMERIC(18, 2) holds (and SQLite's 64-bit cents hold too)
    await upgrade(fresh.engine)
    largest = Decimal("9999999999999999.99")
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
    # when: one digit more than NUMERIC(18, 2) holds
    with pytest.raises(StatementError) as raised:
        async with fresh.sessions() as session, session.begin():
            await factories.budget_line(session, initiative, amount=Decimal("10000000000000000.00"))
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

"""What the `generate` tests share: a run at a fixed clock, and reading back what it
wrote: row counts, the trail and its end, and a snapshot of a run's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.audit.chain import check_entry
from app.audit.records import audited_tables
from app.db.base import Base
from app.synthetic.generator import Sizes
from app.synthetic.service import GenerateResult, generate
from tests.conftest import Database

SIZES = Sizes(initiatives=10, budget_lines=120, transactions=1500, seed=7)
# A run's clock, fixed so that what "today" caps does not depend on when tests run.
AFTER_2025 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

PER_INITIATIVE = (
    m.Participation,
    m.BeneficiaryFigure,
    m.BeneficiaryShare,
    m.Milestone,
    m.BudgetLine,
    m.Transaction,
)


async def generate_into(db: Database, sizes: Sizes = SIZES, **kw: Any) -> GenerateResult:
    async with db.sessions() as session, session.begin():
        return await generate(session, sizes, **kw)


async def count_rows(db: Database) -> dict[str, int]:
    """Rows of every ledger table (the trail is looked at by `read_trail`)."""
    async with db.sessions() as session:
        return {
            name: await session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in audited_tables().items()
        }


async def read_trail(db: Database) -> tuple[list[m.Change], tuple[int, str, datetime | None]]:
    """Every entry in sequence order, and the chain head (last sequence, hash, time)."""
    async with db.sessions() as session:
        entries = list(await session.scalars(select(m.Change).order_by(m.Change.sequence)))
        head = (await session.execute(select(m.ChainHead).where(m.ChainHead.id == 1))).scalar_one()
    return entries, (head.last_sequence, head.last_hash, head.last_occurred_at)


async def read_trail_end(db: Database) -> tuple[int, tuple[int, str, datetime | None]]:
    """How many entries there are, and the chain head: what a write that left no trail
    leaves as it was."""
    entries, head = await read_trail(db)
    return len(entries), head


def chain_breaks(entries: list[m.Change]) -> list[Any]:
    """Where the chain, recomputed from the first entry, does not hold."""
    breaks = []
    previous = m.GENESIS_HASH
    for expected, entry in enumerate(entries, start=1):
        if (problem := check_entry(entry, expected, previous)) is not None:
            breaks.append(problem)
        previous = entry.hash
    return breaks


async def program_id_of(session: AsyncSession, ref: str) -> int:
    return (await session.execute(select(m.Program.id).where(m.Program.ref == ref))).scalar_one()


async def initiative_ids_of(session: AsyncSession, ref: str) -> dict[int, int]:
    """Initiative id → position, for one run's programme."""
    program = await program_id_of(session, ref)
    stmt = select(m.Initiative.id, m.Initiative.position).where(m.Initiative.program_id == program)
    return {id_: position for id_, position in (await session.execute(stmt)).all()}


async def rows_of(session: AsyncSession, model: type[Base], ref: str) -> list[RowMapping]:
    """One run's rows of a per-initiative table, in the order they were written."""
    table = model.__table__
    ids = await initiative_ids_of(session, ref)
    stmt = select(table).where(table.c.initiative_id.in_(ids)).order_by(table.c.id)
    return list((await session.execute(stmt)).mappings())


async def snapshot_of(session: AsyncSession, ref: str) -> dict[str, list[tuple[Any, ...]]]:
    """A run's rows without ids, timestamps or its ref: references become positions,
    codes and indexes, so two runs compare row for row."""
    initiatives = await initiative_ids_of(session, ref)
    lines = await rows_of(session, m.BudgetLine, ref)
    groups = {g.id: g.code for g in await session.scalars(select(m.BeneficiaryGroup))}
    orgs = {o.id: o.ref for o in await session.scalars(select(m.Organization))}
    keys: dict[str, dict[Any, Any]] = {
        "initiative_id": initiatives,
        "budget_line_id": {line["id"]: n for n, line in enumerate(lines)},
        "group_id": groups,
        **dict.fromkeys(("sponsor_id", "provider_id", "receiver_id", "organization_id"), orgs),
    }

    def plain(row: RowMapping) -> tuple[Any, ...]:
        values = []
        for name, value in row.items():
            if name in ("id", "program_id", "created_at", "updated_at"):
                continue
            if name in keys:
                value = keys[name].get(value)
            if isinstance(value, str):
                value = value.replace(ref, "<ref>")
            values.append(value)
        return tuple(values)

    async def plain_rows(stmt: Any) -> list[tuple[Any, ...]]:
        return [plain(row) for row in (await session.execute(stmt)).mappings()]

    program = await program_id_of(session, ref)
    snapshot = {
        "programs": await plain_rows(select(m.Program.__table__).where(m.Program.id == program)),
        "initiatives": await plain_rows(
            select(m.Initiative.__table__)
            .where(m.Initiative.program_id == program)
            .order_by(m.Initiative.id)
        ),
        "exchange_rates": await plain_rows(
            select(m.ExchangeRate.__table__).order_by(m.ExchangeRate.id)
        ),
    }
    for model in PER_INITIATIVE:
        snapshot[model.__tablename__] = [plain(r) for r in await rows_of(session, model, ref)]
    return snapshot


async def snapshot_of_a_run(db: Database, sizes: Sizes) -> dict[str, list[tuple[Any, ...]]]:
    """Generate, read back, roll back: the database is left as it was."""
    async with db.sessions() as session:
        await generate(session, sizes, now=AFTER_2025)
        snapshot = await snapshot_of(session, sizes.ref)
        await session.rollback()
    return snapshot

"""`pledge-ledger generate`: deterministic synthetic programmes, bulk-loaded with their
trail entries, on both backends."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from app import models as m
from app.audit.chain import check_entry
from app.audit.records import audited_tables, decode_state
from app.audit.service import verify
from app.cli import cli
from app.config import get_settings
from app.db.base import Base
from app.errors import DomainError, ErrorCode
from app.synthetic.generator import Sizes
from app.synthetic.service import GenerateResult, check_sizes, generate
from tests import factories as f
from tests.conftest import Database
from tests.money_oracle import StoredRate, pick_rate

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


async def _generate(db: Database, sizes: Sizes = SIZES, **kw: Any) -> GenerateResult:
    async with db.sessions() as session, session.begin():
        return await generate(session, sizes, **kw)


async def _row_counts(db: Database) -> dict[str, int]:
    """Rows of every ledger table (the trail is looked at by `_trail`)."""
    async with db.sessions() as session:
        return {
            name: await session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in audited_tables().items()
        }


async def _trail(db: Database) -> tuple[list[m.Change], tuple[int, str, datetime | None]]:
    """Every entry in sequence order, and the chain head (last sequence, hash, time)."""
    async with db.sessions() as session:
        entries = list(await session.scalars(select(m.Change).order_by(m.Change.sequence)))
        head = (await session.execute(select(m.ChainHead).where(m.ChainHead.id == 1))).scalar_one()
    return entries, (head.last_sequence, head.last_hash, head.last_occurred_at)


async def _trail_end(db: Database) -> tuple[int, tuple[int, str, datetime | None]]:
    """How many entries there are, and the chain head: what a write that left no trail
    leaves as it was."""
    entries, head = await _trail(db)
    return len(entries), head


def _chain_breaks(entries: list[m.Change]) -> list[Any]:
    """Where the chain, recomputed from the first entry, does not hold."""
    breaks = []
    previous = m.GENESIS_HASH
    for expected, entry in enumerate(entries, start=1):
        if (problem := check_entry(entry, expected, previous)) is not None:
            breaks.append(problem)
        previous = entry.hash
    return breaks


async def _program_id(session: AsyncSession, ref: str) -> int:
    return (await session.execute(select(m.Program.id).where(m.Program.ref == ref))).scalar_one()


async def _initiative_ids(session: AsyncSession, ref: str) -> dict[int, int]:
    """Initiative id → position, for one run's programme."""
    program = await _program_id(session, ref)
    stmt = select(m.Initiative.id, m.Initiative.position).where(m.Initiative.program_id == program)
    return {id_: position for id_, position in (await session.execute(stmt)).all()}


async def _rows(session: AsyncSession, model: type[Base], ref: str) -> list[RowMapping]:
    """One run's rows of a per-initiative table, in the order they were written."""
    table = model.__table__
    ids = await _initiative_ids(session, ref)
    stmt = select(table).where(table.c.initiative_id.in_(ids)).order_by(table.c.id)
    return list((await session.execute(stmt)).mappings())


async def _snapshot(session: AsyncSession, ref: str) -> dict[str, list[tuple[Any, ...]]]:
    """A run's rows without ids, timestamps or its ref: references become positions,
    codes and indexes, so two runs compare row for row."""
    initiatives = await _initiative_ids(session, ref)
    lines = await _rows(session, m.BudgetLine, ref)
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

    program = await _program_id(session, ref)
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
        snapshot[model.__tablename__] = [plain(r) for r in await _rows(session, model, ref)]
    return snapshot


async def _snapshot_of_a_run(db: Database, sizes: Sizes) -> dict[str, list[tuple[Any, ...]]]:
    """Generate, read back, roll back: the database is left as it was."""
    async with db.sessions() as session:
        await generate(session, sizes, now=AFTER_2025)
        snapshot = await _snapshot(session, sizes.ref)
        await session.rollback()
    return snapshot


async def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows(
    db: Database,
) -> None:
    # when
    first = await _snapshot_of_a_run(db, SIZES)
    again = await _snapshot_of_a_run(db, SIZES)
    other = await _snapshot_of_a_run(db, Sizes(10, 120, 1500, seed=8))
    # then
    assert first == again
    assert len(first["transactions"]) == 1500
    for table in ("initiatives", "budget_lines", "transactions", "milestones"):
        assert first[table] != other[table], table
    # rates are the same for every seed: runs share them
    assert first["exchange_rates"] == other["exchange_rates"]
    # every run was rolled back, what COPY wrote included, entries and the head too
    assert set((await _row_counts(db)).values()) == {0}
    assert await _trail_end(db) == (0, (0, m.GENESIS_HASH, None))


async def test_the_counts_asked_for_are_stored(db: Database) -> None:
    # when
    result = await _generate(db)
    # then
    counts = await _row_counts(db)
    assert {table: counts[table] for table in result.rows} == result.rows
    assert result.program_ref == "synthetic-7-10-120-1500"
    async with db.sessions() as session:
        assert len(await _initiative_ids(session, SIZES.ref)) == 10
        assert len(await _rows(session, m.BudgetLine, SIZES.ref)) == 120
        assert len(await _rows(session, m.Transaction, SIZES.ref)) == 1500
        program = (
            await session.execute(select(m.Program).where(m.Program.ref == SIZES.ref))
        ).scalar_one()
    assert program.pledged_currency == "CNY"
    assert counts["organizations"] == 6  # the sponsor and its partners


async def test_two_seeds_coexist_and_share_groups_and_rates(db: Database) -> None:
    # given: a group and a rate that are there before, under the same keys
    async with db.sessions() as session, session.begin():
        await f.beneficiary_group(session, code="seniors", name="Older people")
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.16"))
    # when
    await _generate(db)
    second = await _generate(db, Sizes(10, 120, 1500, seed=8))
    # then: nothing is stored twice; what was there stays as it was
    assert second.rows["beneficiary_groups"] == 0
    assert second.rows["exchange_rates"] == 0
    async with db.sessions() as session:
        seniors = (
            await session.scalars(
                select(m.BeneficiaryGroup.name).where(m.BeneficiaryGroup.code == "seniors")
            )
        ).all()
        first_rate = (
            await session.execute(
                select(m.ExchangeRate.rate, m.ExchangeRate.source).where(
                    m.ExchangeRate.base == "CNY",
                    m.ExchangeRate.quote == "USD",
                    m.ExchangeRate.rate_date == date(2021, 1, 1),
                )
            )
        ).all()
        programs = await session.scalar(select(func.count()).select_from(m.Program))
    assert seniors == ["Older people"]
    assert first_rate == [(Decimal("0.1600000000"), "test rate")]
    assert programs == 2


async def test_every_amount_converts_to_usd_and_cny_on_its_value_date(db: Database) -> None:
    # given
    await _generate(db)
    # when
    async with db.sessions() as session:
        rates = [
            StoredRate(r.base, r.quote, r.rate, r.rate_date, r.source, r.id)
            for r in (await session.scalars(select(m.ExchangeRate))).all()
        ]
        used: set[tuple[str, date]] = set()
        for model in (m.BudgetLine, m.Transaction):
            used |= {
                (r["currency"], r["value_date"]) for r in await _rows(session, model, SIZES.ref)
            }
    # then: no amount lacks a rate, and the rates are of realistic size
    assert {currency for currency, _ in used} == {"CNY", "USD", "EUR", "HKD"}
    for currency, day in used:
        for target in ("USD", "CNY"):
            quote = pick_rate(rates, currency, target, day)  # raises RATE_NOT_FOUND
            assert quote.rate_date <= day
        if currency == "CNY":
            assert Decimal("0.13") < pick_rate(rates, "CNY", "USD", day).rate < Decimal("0.17")
    assert all(rate.rate == rate.rate.quantize(Decimal("1e-10")) for rate in rates)
    assert min(rate.rate_date for rate in rates) == date(2021, 1, 1)


async def test_money_is_mostly_cny_with_positive_budgets(db: Database) -> None:
    # given
    await _generate(db)
    # when
    async with db.sessions() as session:
        lines = await _rows(session, m.BudgetLine, SIZES.ref)
        transactions = await _rows(session, m.Transaction, SIZES.ref)
    # then
    assert all(line["amount"] > 0 for line in lines)
    for rows in (lines, transactions):
        assert sum(r["currency"] == "CNY" for r in rows) > len(rows) / 2
        assert all(r["amount"] == r["amount"].quantize(Decimal("0.01")) for r in rows)
    types = {t["type"] for t in transactions}
    assert {
        m.TransactionType.OUTGOING_COMMITMENT,
        m.TransactionType.DISBURSEMENT,
        m.TransactionType.EXPENDITURE,
        m.TransactionType.INCOMING_FUNDS,
    } <= types
    assert any(t["amount"] < 0 for t in transactions)  # reductions


async def test_shares_add_up_to_at_most_100_per_initiative(db: Database) -> None:
    # given
    await _generate(db)
    # when
    async with db.sessions() as session:
        initiatives = await _initiative_ids(session, SIZES.ref)
        shares = await _rows(session, m.BeneficiaryShare, SIZES.ref)
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for share in shares:
        assert share["percentage"] > 0
        totals[share["initiative_id"]] += share["percentage"]
    # then: some add up to exactly 100, some to less, some initiatives have none
    assert all(total <= 100 for total in totals.values())
    assert Decimal(100) in totals.values()
    assert any(total < 100 for total in totals.values())
    assert len(totals) < len(initiatives)


async def test_transactions_are_dated_2021_to_2025_and_never_after_today(db: Database) -> None:
    # given: a run "today" in mid-2024
    today = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
    # when
    await _generate(db, now=today)
    # then
    async with db.sessions() as session:
        transactions = await _rows(session, m.Transaction, SIZES.ref)
        lines = {line["id"]: line for line in await _rows(session, m.BudgetLine, SIZES.ref)}
    days = [t["transaction_date"] for t in transactions]
    assert date(2021, 1, 1) <= min(days) and max(days) <= date(2024, 6, 15)
    assert all(t["value_date"] == t["transaction_date"] for t in transactions)
    linked = [t for t in transactions if t["budget_line_id"] is not None]
    assert len(linked) > len(transactions) / 2
    for t in linked:
        line = lines[t["budget_line_id"]]
        assert line["initiative_id"] == t["initiative_id"]
        assert line["period_start"] <= t["transaction_date"] <= line["period_end"]


async def test_revised_lines_restate_a_period_that_has_an_original(db: Database) -> None:
    # given
    await _generate(db)
    # when
    async with db.sessions() as session:
        lines = await _rows(session, m.BudgetLine, SIZES.ref)
    originals = {
        (line["initiative_id"], line["period_start"], line["period_end"])
        for line in lines
        if line["type"] == m.BudgetType.ORIGINAL
    }
    revised = [line for line in lines if line["type"] == m.BudgetType.REVISED]
    # then
    assert revised
    for line in revised:
        assert (line["initiative_id"], line["period_start"], line["period_end"]) in originals
    for line in lines:
        start, end = line["period_start"], line["period_end"]
        assert date(2021, 1, 1) <= start <= end <= date(2025, 12, 31)
        assert (end.year - start.year) * 12 + end.month - start.month < 12
        assert line["value_date"] == start


async def test_milestones_include_slipped_and_overdue_ones(db: Database) -> None:
    # given
    await _generate(db, now=AFTER_2025)
    # when
    async with db.sessions() as session:
        milestones = await _rows(session, m.Milestone, SIZES.ref)
    done = (m.MilestoneStatus.ACHIEVED, m.MilestoneStatus.CANCELLED, m.MilestoneStatus.MISSED)
    # then
    slipped = [
        s
        for s in milestones
        if s["planned_date"] < (s["actual_date"] or s["forecast_date"] or date.min)
    ]
    overdue = [
        s for s in milestones if s["status"] not in done and s["planned_date"] < AFTER_2025.date()
    ]
    assert slipped and overdue


async def test_a_second_run_with_the_same_arguments_writes_nothing(db: Database) -> None:
    # given
    await _generate(db)
    before = await _row_counts(db)
    trail_before = await _trail_end(db)
    # when
    with pytest.raises(DomainError) as refused:
        await _generate(db)
    # then
    assert refused.value.code == ErrorCode.ALREADY_EXISTS
    assert refused.value.details == {"ref": SIZES.ref}
    assert await _row_counts(db) == before
    assert await _trail_end(db) == trail_before


async def test_every_generated_row_has_one_create_entry_that_restores_it(db: Database) -> None:
    # when
    result = await _generate(db, now=AFTER_2025)
    # then: one entry per row, the rows' whole state, in one chain that holds
    entries, head = await _trail(db)
    assert len(entries) == result.total == result.entries
    assert _chain_breaks(entries) == []
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
    before = await _trail_end(db)
    # when
    async with db.sessions() as session:
        await generate(session, SIZES)
        await session.rollback()
    # then
    assert await _trail_end(db) == before
    assert before[0] == 1


async def test_a_second_run_and_later_edits_continue_the_chain(db: Database) -> None:
    # given: an edit, a run, another edit
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.16"))
    first = await _generate(db)
    async with db.sessions() as session, session.begin():
        await f.beneficiary_group(session, code="group-between-runs")
    # when
    second = await _generate(db, Sizes(10, 120, 1500, seed=8))
    async with db.sessions() as session, session.begin():
        await f.beneficiary_group(session, code="group-after-runs")
    # then: one gapless chain through all of them, the head at its end
    entries, head = await _trail(db)
    assert len(entries) == 1 + first.total + 1 + second.total + 1
    assert _chain_breaks(entries) == []
    async with db.sessions() as session:
        verification = await verify(session)
    assert verification.intact and verification.checked == len(entries)
    assert head[:2] == (entries[-1].sequence, entries[-1].hash)
    runs = [e.reason for e in entries]
    assert runs[1 : 1 + first.total] == [f"synthetic data, seed 7 ({SIZES.ref})"] * first.total
    assert entries[-1].actor_name == "test-setup"
    times = [e.occurred_at for e in entries]
    assert times == sorted(times)


def test_sizes_out_of_range_are_refused() -> None:
    with pytest.raises(DomainError) as refused:
        check_sizes(Sizes(initiatives=0, budget_lines=10, transactions=10, seed=1))
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert refused.value.field == "initiatives"


async def test_the_command_generates_and_refuses_a_repeat(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_URL", db.url)
    get_settings.cache_clear()
    args = ["generate", "--initiatives", "4", "--budget-lines", "30"]
    args += ["--transactions", "200", "--seed", "11"]
    runner = CliRunner()
    try:
        # when: the command runs its own event loop, so it runs in a thread here
        first = await asyncio.to_thread(runner.invoke, cli, args)
        counts = await _row_counts(db)
        second = await asyncio.to_thread(runner.invoke, cli, args)
    finally:
        get_settings.cache_clear()
    # then
    assert first.exit_code == 0, (first.output, first.exception)
    assert first.stdout.startswith("generated synthetic-11-4-30-200: ")
    summary = dict(line.split()[:2] for line in first.stdout.splitlines()[1:])
    assert summary["initiatives"] == "4"
    # one trail entry per row written
    assert int(summary["changes"]) == sum(int(v) for k, v in summary.items() if k != "changes")
    assert summary["budget_lines"] == "30"
    assert summary["transactions"] == "200"
    assert counts["transactions"] == 200
    assert second.exit_code == 1
    assert "synthetic-11-4-30-200 already exists" in second.stderr
    assert await _row_counts(db) == counts

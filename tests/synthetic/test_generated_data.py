"""`pledge-ledger generate`: deterministic synthetic programmes on both backends; what they
hold (counts, currencies, shares, dates, revisions, milestones) is what was asked for
and plausible."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from app import models as m
from app.synthetic.generator import Sizes
from tests import factories as f
from tests.conftest import Database
from tests.money_oracle import StoredRate, pick_rate
from tests.synthetic.common import (
    AFTER_2025,
    SIZES,
    count_rows,
    generate_into,
    initiative_ids_of,
    read_trail_end,
    rows_of,
    snapshot_of_a_run,
)


async def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows(
    db: Database,
) -> None:
    # when
    first = await snapshot_of_a_run(db, SIZES)
    again = await snapshot_of_a_run(db, SIZES)
    other = await snapshot_of_a_run(db, Sizes(10, 120, 1500, seed=8))
    # then
    assert first == again
    assert len(first["transactions"]) == 1500
    for table in ("initiatives", "budget_lines", "transactions", "milestones"):
        assert first[table] != other[table], table
    # rates are the same for every seed: runs share them
    assert first["exchange_rates"] == other["exchange_rates"]
    # every run was rolled back, what COPY wrote included, entries and the head too
    assert set((await count_rows(db)).values()) == {0}
    assert await read_trail_end(db) == (0, (0, m.GENESIS_HASH, None))


async def test_the_counts_asked_for_are_stored(db: Database) -> None:
    # when
    result = await generate_into(db)
    # then
    counts = await count_rows(db)
    assert {table: counts[table] for table in result.rows} == result.rows
    assert result.program_ref == "synthetic-7-10-120-1500"
    async with db.sessions() as session:
        assert len(await initiative_ids_of(session, SIZES.ref)) == 10
        assert len(await rows_of(session, m.BudgetLine, SIZES.ref)) == 120
        assert len(await rows_of(session, m.Transaction, SIZES.ref)) == 1500
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
    await generate_into(db)
    second = await generate_into(db, Sizes(10, 120, 1500, seed=8))
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
    await generate_into(db)
    # when
    async with db.sessions() as session:
        rates = [
            StoredRate(r.base, r.quote, r.rate, r.rate_date, r.source, r.id)
            for r in (await session.scalars(select(m.ExchangeRate))).all()
        ]
        used: set[tuple[str, date]] = set()
        for model in (m.BudgetLine, m.Transaction):
            used |= {
                (r["currency"], r["value_date"]) for r in await rows_of(session, model, SIZES.ref)
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
    await generate_into(db)
    # when
    async with db.sessions() as session:
        lines = await rows_of(session, m.BudgetLine, SIZES.ref)
        transactions = await rows_of(session, m.Transaction, SIZES.ref)
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
    await generate_into(db)
    # when
    async with db.sessions() as session:
        initiatives = await initiative_ids_of(session, SIZES.ref)
        shares = await rows_of(session, m.BeneficiaryShare, SIZES.ref)
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
    await generate_into(db, now=today)
    # then
    async with db.sessions() as session:
        transactions = await rows_of(session, m.Transaction, SIZES.ref)
        lines = {line["id"]: line for line in await rows_of(session, m.BudgetLine, SIZES.ref)}
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
    await generate_into(db)
    # when
    async with db.sessions() as session:
        lines = await rows_of(session, m.BudgetLine, SIZES.ref)
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
    # one original per period, as IATI and the write rules have it
    assert len(originals) == len(lines) - len(revised)
    for line in lines:
        start, end = line["period_start"], line["period_end"]
        assert date(2021, 1, 1) <= start <= end <= date(2025, 12, 31)
        assert (end.year - start.year) * 12 + end.month - start.month < 12
        assert line["value_date"] == start


async def test_lines_beyond_one_original_a_month_are_revisions(db: Database) -> None:
    # given: one initiative of at most 60 months, asked for far more lines than months
    sizes = Sizes(initiatives=1, budget_lines=200, transactions=10, seed=3)
    await generate_into(db, sizes)
    # when
    async with db.sessions() as session:
        lines = await rows_of(session, m.BudgetLine, sizes.ref)
    originals = [line for line in lines if line["type"] == m.BudgetType.ORIGINAL]
    # then: all 200 are there, the originals each in a period of their own
    assert len(lines) == 200
    periods = {(line["period_start"], line["period_end"]) for line in originals}
    assert len(periods) == len(originals) <= 60
    categories = {(o["period_start"], o["period_end"]): o["category"] for o in originals}
    for line in lines:
        assert line["category"] == categories[line["period_start"], line["period_end"]]


async def test_milestones_include_slipped_and_overdue_ones(db: Database) -> None:
    # given
    await generate_into(db, now=AFTER_2025)
    # when
    async with db.sessions() as session:
        milestones = await rows_of(session, m.Milestone, SIZES.ref)
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

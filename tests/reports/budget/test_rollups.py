"""Budget rollups (app/reports/budget/rollups.py), on random programmes and both backends.

After random writes — records added, changed and archived, budgets revised, rates
written, a document imported, a synthetic programme generated, each in its own
transaction — every rollup kept equals its recomputation from the records, and the
budget summary read from the rollups equals the one read from the records, to the
minor unit, for several groupings, filters and currencies (a missing rate is the same
error either way). A live report reads the rollups; one filtered by date reads the
records; an `asOf` report reads the rollups' history (test_rollup_history.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from app import models as m
from app.audit import recorder
from app.errors import DomainError
from app.graphql.inputs import CurrencyFilter, DateFilter, StringFilter
from app.graphql.reports.budget import BudgetSummaryFilter
from app.imports.apply import run_import
from app.kit.filtering import FilterLimits
from app.reports.budget import rollups, service
from app.reports.budget.filters import BudgetScope
from app.reports.budget.repository import Dimension
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.imports.documents import ACTOR, FIELDS, as_json, small
from tests.reports.budget.programmes import (
    CURRENCIES,
    PROPERTY,
    Programme,
    cents,
    days,
    programmes,
    rates,
    store,
)

KEPT = CURRENCIES  # CNY USD EUR JPY: cents and whole yen
GROUPINGS = (
    [],
    [Dimension.INITIATIVE, Dimension.YEAR],
    [Dimension.PROGRAM, Dimension.CATEGORY],
    [Dimension.TRANSACTION_TYPE, Dimension.QUARTER],
    [Dimension.FOCUS_AREA, Dimension.REGION, Dimension.MONTH],
    [Dimension.INITIATIVE, Dimension.BENEFICIARY_GROUP],
)
FILTERS = (
    None,
    BudgetSummaryFilter(currency=CurrencyFilter(in_=["EUR", "JPY"])),
    BudgetSummaryFilter(category=StringFilter(eq="grants")),
)
WRITES = ("add", "change", "revise", "archive", "recategorise", "rate", "import", "generate")


async def build(db: Database, currencies: tuple[str, ...] = KEPT) -> None:
    async with db.sessions() as session, session.begin():
        await rollups.build(session, list(currencies))


async def kept_and_recomputed(db: Database) -> dict[str, tuple[Any, Any]]:
    async with db.sessions() as session:
        return {
            c: (await rollups.rows_of(session, c), await rollups.recomputed_rows(session, c))
            for c in await rollups.kept_currencies(session)
        }


async def _outcome(session: Any, scope: BudgetScope, dims: list[Dimension], cur: str) -> Any:
    try:
        s = await service.budget_summary(
            session, dimensions=dims, scope=scope, currency=cur, max_groups=100_000
        )
    except DomainError as error:
        return ("error", error.code, error.message)
    return (s.currency, [(g.key, g.measures) for g in s.groups], s.total, s.group_count)


async def both_paths(db: Database, dims: list[Dimension], cur: str, filter_: Any) -> list[Any]:
    """The summary from the rollups, then from the records, on one snapshot."""
    scope = BudgetScope.of(filter_, FilterLimits())
    assert scope.rollups is not None
    async with db.sessions() as session, session.begin():
        assert await rollups.readable(session, cur)
        return [
            await _outcome(session, scope, dims, cur),
            await _outcome(session, replace(scope, rollups=None), dims, cur),
        ]


async def write(db: Database, kind: str, data: st.DataObject) -> None:
    """One write of `kind`, in its own transaction, as a user's would be."""
    if kind == "import":
        report = await run_import(
            db.sessions, as_json(small()), ACTOR, dry_run=False, fields=FIELDS
        )
        assert not report.refused
        return
    async with db.sessions() as session, session.begin():
        if kind == "generate":
            seed = data.draw(st.integers(1, 10**6), label="seed")
            await generate(session, Sizes(2, 6, 40, seed))
            return
        initiatives = list(await session.scalars(select(m.Initiative)))
        txs = list(await session.scalars(select(m.Transaction).order_by(m.Transaction.id)))
        lines = list(await session.scalars(select(m.BudgetLine).order_by(m.BudgetLine.id)))
        if kind == "rate":
            base, quote = data.draw(st.permutations(CURRENCIES), label="pair")[:2]
            day = data.draw(days, label="rate day")
            rate = data.draw(rates)
            # A pair has one rate a day: a day it has (a generated one, say) is corrected.
            known = await session.scalar(
                select(m.ExchangeRate).where(
                    m.ExchangeRate.base == base,
                    m.ExchangeRate.quote == quote,
                    m.ExchangeRate.rate_date == day,
                )
            )
            if known is None:
                await f.exchange_rate(session, base=base, quote=quote, rate=rate, rate_date=day)
            else:
                known.rate = rate
        elif kind == "add" and initiatives:
            await f.transaction(
                session,
                data.draw(st.sampled_from(initiatives), label="initiative"),
                type=data.draw(st.sampled_from(list(m.TransactionType))),
                amount=data.draw(cents(-(10**9), 10**9)),
                currency=data.draw(st.sampled_from(CURRENCIES)),
                transaction_date=data.draw(days),
                value_date=data.draw(days),
            )
        elif kind == "change" and txs:
            tx = data.draw(st.sampled_from(txs), label="transaction")
            tx.amount = data.draw(cents(-(10**9), 10**9))
            tx.currency = data.draw(st.sampled_from(CURRENCIES))
            tx.value_date = data.draw(days)
            tx.transaction_date = data.draw(days)
        elif kind == "revise" and lines:
            line = data.draw(st.sampled_from(lines), label="line")
            await f.budget_line(
                session,
                await session.get_one(m.Initiative, line.initiative_id),
                period_start=line.period_start,
                period_end=line.period_end,
                type=m.BudgetType.REVISED,
                amount=data.draw(cents(0, 10**9)),
                currency=data.draw(st.sampled_from(CURRENCIES)),
                value_date=data.draw(days),
            )
        elif kind == "recategorise" and lines:
            line = data.draw(st.sampled_from(lines), label="line")
            line.category = data.draw(st.sampled_from(["grants", "works", None]))
        elif kind == "archive" and (txs or lines):
            record = data.draw(st.sampled_from([*txs, *lines]), label="archived")
            await session.delete(record)


@settings(PROPERTY, max_examples=15)
@given(programme=programmes(shares=True), data=st.data())
async def test_rollups_stay_equal_to_the_records_after_random_writes(
    db: Database, programme: Programme, data: st.DataObject
) -> None:
    await store(db, programme)
    await build(db)
    for kind in data.draw(st.lists(st.sampled_from(WRITES), min_size=1, max_size=5)):
        await write(db, kind, data)
        for currency, (kept, recomputed) in (await kept_and_recomputed(db)).items():
            assert kept == recomputed, (kind, currency)
    currency = data.draw(st.sampled_from(KEPT), label="report currency")
    asked = [(dims, None) for dims in GROUPINGS]
    asked += [(data.draw(st.sampled_from(GROUPINGS)), filter_) for filter_ in FILTERS[1:]]
    for dims, filter_ in asked:
        from_rollups, from_records = await both_paths(db, dims, currency, filter_)
        assert from_rollups == from_records, (dims, filter_)


async def test_a_write_that_fails_leaves_the_rollups_as_they_were(db: Database) -> None:
    # given: one transaction, rollups kept in USD
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.14"))
        await f.transaction(session, initiative, amount=Decimal("100.00"))
    await build(db, ("USD",))
    before = (await kept_and_recomputed(db))["USD"][0]
    # when: a write adds a transaction, then fails before it commits
    try:
        async with db.sessions() as session, session.begin():
            await f.transaction(session, initiative, amount=Decimal("50.00"))
            await session.flush()
            raise RuntimeError("the write fails")
    except RuntimeError:
        pass
    # then: the rollups are unchanged, and still the records'
    kept, recomputed = (await kept_and_recomputed(db))["USD"]
    assert kept == before == recomputed


SUMMARY = """
query ($asOf: DateTime, $filter: BudgetSummaryFilter) {
  budgetSummary(groupBy: [INITIATIVE], currency: "USD", asOf: $asOf, filter: $filter) {
    total { disbursed { amount } count }
  }
}
"""


async def test_live_reports_read_the_rollups_and_date_filters_the_records(
    db: Database, client: GraphQLClient
) -> None:
    # given: a disbursement of CNY 100.00 at 0.14, so USD 14.00, with rollups in USD
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.exchange_rate(
            session, base="CNY", quote="USD", rate=Decimal("0.14"), rate_date=date(2020, 1, 1)
        )
        await f.transaction(session, initiative, amount=Decimal("100.00"))
    await build(db, ("USD",))
    now = datetime.now(UTC).isoformat()
    # when: the kept sum is altered behind the ledger's back (what only a rollup holds)
    async with db.engine.begin() as conn:
        await conn.execute(update(m.BudgetRollup).values(amount_minor=999))
    live = await client.data(SUMMARY, {})
    as_of = await client.data(SUMMARY, {"asOf": now})
    dated = await client.data(SUMMARY, {"filter": {"date": {"gte": "2000-01-01"}}})
    # then: the live report answers from the rollups; a date filter from the records,
    # asOf from the rollups' history (which was not altered)
    assert live["budgetSummary"]["total"]["disbursed"]["amount"] == "9.99"
    assert as_of["budgetSummary"]["total"]["disbursed"]["amount"] == "14.00"
    assert dated["budgetSummary"]["total"]["disbursed"]["amount"] == "14.00"
    assert live["budgetSummary"]["total"]["count"] == 1


async def test_a_report_in_a_currency_not_kept_reads_the_records(
    db: Database, client: GraphQLClient
) -> None:
    # given: rollups kept in EUR only
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.exchange_rate(
            session, base="CNY", quote="USD", rate=Decimal("0.14"), rate_date=date(2020, 1, 1)
        )
        await f.transaction(session, initiative, amount=Decimal("100.00"))
    await build(db, ("EUR",))
    # when / then: a report in USD is the records', computed as before
    scope = BudgetScope.of(None, FilterLimits())
    async with db.sessions() as session:
        assert not await rollups.readable(session, "USD")
    data = await client.data(SUMMARY, {})
    assert data["budgetSummary"]["total"]["disbursed"]["amount"] == "14.00"
    assert scope.rollups is not None


def test_a_date_filter_at_any_depth_leaves_the_rollups_out() -> None:
    dated = BudgetSummaryFilter(date=DateFilter(gte=date(2024, 1, 1)))
    assert BudgetScope.of(dated, FilterLimits()).rollups is None
    assert BudgetScope.of(FILTERS[1], FilterLimits()).rollups is not None


async def test_summary_answers_from_rollups_through_the_api(
    db: Database, client: GraphQLClient
) -> None:
    # given: a generated programme, rollups in USD built before it (kept by `generate`)
    await build(db, ("USD",))
    async with db.sessions() as session, session.begin():
        await generate(session, Sizes(3, 12, 200, 7))
    kept, recomputed = (await kept_and_recomputed(db))["USD"]
    assert kept == recomputed and kept
    # when: the API's report by initiative and year, live and as of now (the records)
    live = (await client.data(BY_INITIATIVE_AND_YEAR, {}))["budgetSummary"]
    now = datetime.now(UTC).isoformat()
    as_of = (await client.data(BY_INITIATIVE_AND_YEAR, {"asOf": now}))["budgetSummary"]
    # then: the same figures to the cent
    assert live == as_of
    assert len(live["groups"]) > 3 and Decimal(live["total"]["disbursed"]["amount"]) != 0


BY_INITIATIVE_AND_YEAR = """
query ($asOf: DateTime) {
  budgetSummary(groupBy: [INITIATIVE, YEAR], currency: "USD", asOf: $asOf) {
    groups { key { initiative { code } year } measures { ...figures } }
    total { ...figures }
  }
}
fragment figures on BudgetMeasures {
  budgetOriginal { amount } budgetCurrent { amount } committed { amount } disbursed { amount }
  spent { amount } count budgetLineCount transactionCount
}
"""


async def test_a_write_checks_its_pledge_against_its_own_records(db: Database) -> None:
    # given: a programme pledged CNY 1,000.00 with a budget of 600.00, rollups in CNY
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_amount=Decimal("1000.00"))
        initiative = await f.initiative(session, program)
        await f.budget_line(session, initiative, amount=Decimal("600.00"))
    await build(db, ("CNY",))
    # when: a write adds a budget of 500.00 and reads the current budget before commit
    async with db.sessions() as session, session.begin():
        await recorder.lock_chain(session)
        await f.budget_line(
            session,
            initiative,
            amount=Decimal("500.00"),
            period_start=date(2023, 1, 1),
            period_end=date(2023, 12, 31),
        )
        budgets = await service.current_budgets(session, Dimension.PROGRAM, [program.id], "CNY")
        # then: it sees its own line (the rollups hold it only once it commits)
        assert budgets == {program.id: Decimal("1100.00")}
    async with db.sessions() as session:
        after = await service.current_budgets(session, Dimension.PROGRAM, [program.id], "CNY")
        assert await rollups.readable(session, "CNY")
    assert after == {program.id: Decimal("1100.00")}


@pytest.mark.postgres_only
async def test_building_rollups_leaves_postgresql_statistics_of_their_rows(db: Database) -> None:
    # given: records of a few initiatives
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(3):
            initiative = await f.initiative(session, program)
            for day in range(1, 6):
                await f.transaction(session, initiative, transaction_date=date(2024, 1, day))
    # when: rollups are built (a bulk write)
    await build(db, ("EUR",))
    # then: the planner knows how many rows there are, as ANALYZE tells it
    async with db.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(m.BudgetRollup))
        planned = await session.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'budget_rollups'")
        )
    assert rows and planned == rows

"""The rollups' history (app/reports/budget/rollups.py): an `asOf` report reads the
rollups of its moment, on random programmes and both backends.

The oracle is the slow obvious version: the rollups recomputed from the records of a
view of the ledger as of a moment (its shadows, rebuilt from the trail). After random
writes — records added, changed and archived, budgets revised, rates written, a
document imported, a synthetic programme generated — the history's rows valid at the
end of every write equal that recomputation, and an `asOf` report read from them
equals the same report read from the view's records.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from app import models as m
from app.db.session import ROLLUP_HISTORY
from app.kit.filtering import FilterLimits
from app.reports.budget import rollups, service
from app.reports.budget.filters import BudgetScope
from app.reports.budget.repository import Dimension
from app.views.views import View, open_view
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.reports.budget.programmes import PROPERTY, Programme, programmes, store
from tests.reports.budget.test_rollups import (
    BY_INITIATIVE_AND_YEAR,
    GROUPINGS,
    KEPT,
    WRITES,
    build,
    write,
)


async def trail_end(db: Database) -> tuple[int, datetime]:
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(m.Change.sequence, m.Change.occurred_at)
                .order_by(m.Change.sequence.desc())
                .limit(1)
            )
        ).one()
        return int(row.sequence), row.occurred_at


async def report(view: View, dims: list[Dimension], currency: str, *, records: bool) -> Any:
    scope = BudgetScope.of(None, FilterLimits())
    if records:
        scope = replace(scope, rollups=None)
    async with view.sessions() as session, session.begin():
        try:
            s = await service.budget_summary(
                session, dimensions=dims, scope=scope, currency=currency, max_groups=100_000
            )
        except Exception as error:  # a missing rate: the same error either way
            return ("error", type(error).__name__, str(error))
        return (s.currency, [(g.key, g.measures) for g in s.groups], s.total, s.group_count)


@settings(PROPERTY, max_examples=8)
@given(programme=programmes(shares=True), data=st.data())
async def test_the_history_at_every_write_equals_the_records_as_of_then(
    db: Database, programme: Programme, data: st.DataObject
) -> None:
    # given: rollups kept in every currency, then random writes, each its own transaction
    await store(db, programme)
    await build(db)
    ends = [await trail_end(db)]
    for kind in data.draw(st.lists(st.sampled_from(WRITES), min_size=1, max_size=5)):
        await write(db, kind, data)
        ends.append(await trail_end(db))
    dims = data.draw(st.sampled_from(GROUPINGS), label="grouping")
    for sequence, moment in ends:
        view = await open_view(db.engine, moment=moment)
        try:
            # then: the history's rows then are the records' then, in every currency kept
            assert view.sequence == sequence
            assert view.connection.info.get(ROLLUP_HISTORY) == sequence
            for currency in KEPT:
                async with view.sessions() as session:
                    assert await rollups.readable(session, currency)
                    shown = await rollups.rows_of(session, currency)  # the view's shadow
                    recomputed = await rollups.recomputed_rows(session, currency)
                async with db.sessions() as session:
                    kept = await rollups.rows_at(session, currency, sequence)
                assert kept == shown == recomputed, (sequence, currency)
            # and the asOf report from them is the one from the view's records
            currency = data.draw(st.sampled_from(KEPT), label="report currency")
            from_history = await report(view, dims, currency, records=False)
            from_records = await report(view, dims, currency, records=True)
            assert from_history == from_records, (sequence, dims, currency)
        finally:
            await view.close()


async def _one_transaction(db: Database, amount: str) -> m.Initiative:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.14"))
        await f.transaction(session, initiative, amount=Decimal(amount))
    return initiative


SUMMARY = """
query ($asOf: DateTime) {
  budgetSummary(groupBy: [INITIATIVE], currency: "USD", asOf: $asOf) {
    total { disbursed { amount } count }
  }
}
"""


async def test_an_as_of_report_reads_the_rollups_of_its_moment(
    db: Database, client: GraphQLClient
) -> None:
    # given: CNY 100.00 at 0.14 (USD 14.00), rollups in USD, then CNY 50.00 more
    initiative = await _one_transaction(db, "100.00")
    await build(db, ("USD",))
    _, before = await trail_end(db)
    async with db.sessions() as session, session.begin():
        await f.transaction(session, initiative, amount=Decimal("50.00"))
    # when: the history's row of that moment is altered behind the ledger's back
    async with db.engine.begin() as conn:
        await conn.execute(
            update(m.BudgetRollupHistory)
            .where(m.BudgetRollupHistory.until_sequence.is_not(None))
            .values(amount_minor=999)
        )
    then = await client.data(SUMMARY, {"asOf": before.isoformat()})
    now = await client.data(SUMMARY, {"asOf": datetime.now(UTC).isoformat()})
    # then: the report as of then reads it (what only the history holds); as of now the
    # current rows
    assert then["budgetSummary"]["total"]["disbursed"]["amount"] == "9.99"
    assert now["budgetSummary"]["total"]["disbursed"]["amount"] == "21.00"
    assert now["budgetSummary"]["total"]["count"] == 2


async def test_a_moment_before_the_build_reads_the_records(db: Database) -> None:
    # given: a transaction, then rollups built later
    await _one_transaction(db, "100.00")
    _, moment = await trail_end(db)
    async with db.sessions() as session, session.begin():
        await f.initiative(session, await f.program(session))  # the trail moves on
    await build(db, ("USD",))
    # when: a view as of before the build
    view = await open_view(db.engine, moment=moment)
    try:
        # then: no history holds it: the report reads the records, and is right
        assert view.connection.info.get(ROLLUP_HISTORY) is None
        async with view.sessions() as session:
            assert not await rollups.readable(session, "USD")
        summary = await report(view, [], "USD", records=False)
        assert summary[2].disbursed == 1400
    finally:
        await view.close()


async def test_a_moment_inside_a_write_reads_the_records(db: Database) -> None:
    # given: rollups in USD, then one write of two flushes dated apart
    initiative = await _one_transaction(db, "100.00")
    await build(db, ("USD",))
    async with db.sessions() as session, session.begin():
        await f.transaction(session, initiative, amount=Decimal("10.00"))
        await session.flush()
        first = await session.scalar(select(func.max(m.Change.occurred_at)))
        assert first is not None
        # Its second flush is dated later (the trail's clock is the wall clock).
        while datetime.now(UTC) <= first + timedelta(milliseconds=2):
            pass
        await f.transaction(session, initiative, amount=Decimal("20.00"))
    # when: a view as of the moment between the flushes
    view = await open_view(db.engine, moment=first)
    try:
        # then: the history does not hold it (its rows change only at the write's end):
        # the records answer, with the first flush's transaction in
        assert view.connection.info.get(ROLLUP_HISTORY) is None
        summary = await report(view, [], "USD", records=False)
        assert summary[2].disbursed == 1540
    finally:
        await view.close()


async def test_forgetting_a_currency_drops_its_history(db: Database) -> None:
    # given: rollups in USD with history
    await _one_transaction(db, "100.00")
    await build(db, ("USD",))
    # when
    async with db.sessions() as session, session.begin():
        await rollups.forget(session, ["USD"])
    # then
    async with db.sessions() as session:
        left = await session.scalar(select(func.count()).select_from(m.BudgetRollupHistory))
    assert left == 0


async def test_as_of_reports_from_the_history_answer_as_live_through_the_api(
    db: Database, client: GraphQLClient
) -> None:
    # given: a generated programme, rollups in USD built before it (kept by `generate`)
    from app.synthetic.generator import Sizes
    from app.synthetic.service import generate

    await build(db, ("USD",))
    async with db.sessions() as session, session.begin():
        await generate(session, Sizes(3, 12, 200, 7))
    _, moment = await trail_end(db)
    # when
    live = (await client.data(BY_INITIATIVE_AND_YEAR, {}))["budgetSummary"]
    as_of = (await client.data(BY_INITIATIVE_AND_YEAR, {"asOf": moment.isoformat()}))[
        "budgetSummary"
    ]
    # then: the same figures to the cent
    assert live == as_of and len(live["groups"]) > 3


async def test_a_currency_built_again_while_a_view_is_open_reads_the_records(
    db: Database,
) -> None:
    # given: CNY 100.00 at 0.14 (USD 14.00), rollups in USD, a view as of then
    await _one_transaction(db, "100.00")
    await build(db, ("USD",))
    _, moment = await trail_end(db)
    view = await open_view(db.engine, moment=moment)
    try:
        assert (await report(view, [], "USD", records=False))[2].disbursed == 1400
        # when: the ledger moves on, and USD is dropped and built again meanwhile
        async with db.sessions() as session, session.begin():
            await f.program(session)
        async with db.sessions() as session, session.begin():
            await rollups.forget(session, ["USD"])
        await build(db, ("USD",))
        # then: its history starts after the view's moment: not kept there, the report
        # reads the records, as it was
        async with view.sessions() as session:
            assert not await rollups.readable(session, "USD")
        assert await report(view, [], "USD", records=False) == await report(
            view, [], "USD", records=True
        )
        assert (await report(view, [], "USD", records=False))[2].disbursed == 1400
    finally:
        await view.close()


async def test_a_currency_dropped_while_a_view_sums_it_reads_the_records(
    db: Database, monkeypatch: Any
) -> None:
    # given: rollups in USD, a view as of then
    await _one_transaction(db, "100.00")
    await build(db, ("USD",))
    _, moment = await trail_end(db)
    view = await open_view(db.engine, moment=moment)
    summarize = rollups.summarize

    async def dropped_first(*args: Any, **kwargs: Any) -> Any:
        # when: USD is dropped after the report found it kept, before it sums
        async with db.sessions() as session, session.begin():
            await rollups.forget(session, ["USD"])
        return await summarize(*args, **kwargs)

    try:
        monkeypatch.setattr(rollups, "summarize", dropped_first)
        summary = await report(view, [], "USD", records=False)
        # then: not zero: the records answer
        assert summary[2].disbursed == 1400
    finally:
        await view.close()


async def history_rows(db: Database) -> tuple[int, int]:
    """(rows of the history, of them open)."""
    H = m.BudgetRollupHistory
    async with db.sessions() as session:
        every = await session.scalar(select(func.count()).select_from(H))
        open_ = await session.scalar(
            select(func.count()).select_from(H).where(H.until_sequence.is_(None))
        )
    return int(every or 0), int(open_ or 0)


async def test_a_write_adds_to_the_history_only_the_rows_it_changes(db: Database) -> None:
    # given: an initiative with budget lines in two categories and transactions in
    # three months, in CNY at 0.14 from 2021, rollups in USD
    initiative = await _one_transaction(db, "100.00")
    async with db.sessions() as session, session.begin():
        line = await f.budget_line(session, initiative, category="a")
        await f.budget_line(session, initiative, category="b")
        for month in (4, 5):
            await f.transaction(session, initiative, transaction_date=date(2022, month, 1))
    await build(db, ("USD",))
    every, open_ = await history_rows(db)
    assert every == open_ >= 5
    # when: a rate dated after every record (it converts none of them)
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, rate=Decimal("0.2"), rate_date=date(2099, 1, 1))
    # then: no rollup changed, no row added
    assert await history_rows(db) == (every, open_)
    # when: one budget line's amount (its whole initiative is recomputed)
    async with db.sessions() as session, session.begin():
        changed = await session.get(m.BudgetLine, line.id)
        assert changed is not None
        changed.amount += Decimal("1.00")
    # then: its one row closed and one opened; the history's open rows are the rollups
    assert await history_rows(db) == (every + 1, open_)
    sequence, _ = await trail_end(db)
    async with db.sessions() as session:
        assert await rollups.rows_at(session, "USD", sequence) == await rollups.rows_of(
            session, "USD"
        )

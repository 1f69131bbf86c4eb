"""Every date and moment the API accepts lies in one range, 1900-01-01 to 2199-12-31.

Outside it, a value is refused with INVALID_ARGUMENT wherever it comes in: a mutation's
input, a filter, a report's argument, `asOf` and the change log's window. Nothing is
written. Before the range, PostgreSQL stored 0001-01-01 and 9999-12-31 as -infinity and
infinity (and reports by year broke for everyone), and moments near year 1 or 9999
overflowed when converted to UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE_TRANSACTION = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } errors { field code } }
}"""
CREATE_BUDGET_LINE = """
mutation($input: CreateBudgetLineInput!) {
  createBudgetLine(input: $input) { budgetLine { id } errors { field code } }
}"""
CREATE_RATE = """
mutation($input: CreateExchangeRateInput!) {
  createExchangeRate(input: $input) { exchangeRate { id } errors { field code } }
}"""
MILESTONES = "query($day: Date) { milestones(filter: {plannedDate: {lte: $day}}) { totalCount } }"
TIMELINE = """
query($day: Date) {
  timelineReport(asOfDate: $day) { asOfDate lateMilestones { totalCount } }
}"""
AS_OF = "query($at: DateTime) { transactions(asOf: $at) { totalCount } }"
CHANGES = "query($from: DateTime) { changes(filter: {occurredFrom: $from}) { edges { cursor } } }"
BY_YEAR = """
{ budgetSummary(groupBy: [YEAR]) { groups { key { year } measures { budgetCurrent { amount } } } } }
"""

# The documented range (docs/changes.md, the Date and DateTime scalars' descriptions).
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2199, 12, 31)
EARLY_DAY = "0001-01-01"
LATE_DAY = "9999-12-31"
# Year 1 at +14:00 is still year 0 in UTC: no Python datetime can hold it.
EARLY_MOMENT = "0001-01-01T00:00:00+14:00"


@dataclass
class Callers:
    initiative: m.Initiative
    editor: GraphQLClient
    admin: GraphQLClient
    auditor: GraphQLClient
    reader: GraphQLClient

    @property
    def initiative_id(self) -> str:
        return encode_global_id("Initiative", self.initiative.id)


@pytest.fixture
async def callers(db: Database, client: GraphQLClient) -> Callers:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.milestone(session, initiative, planned_date=date(2024, 3, 1))
        keys = [await f.api_key(session, role) for role in ("editor", "admin", "auditor")]
    editor, admin, auditor = (client.with_key(k) for k in keys)
    return Callers(initiative, editor, admin, auditor, client)


async def written(db: Database) -> tuple[int, int, int]:
    """(transactions, budget lines, exchange rates)."""
    async with db.sessions() as session:
        return tuple(  # type: ignore[return-value]
            [
                await session.scalar(select(func.count()).select_from(model)) or 0
                for model in (m.Transaction, m.BudgetLine, m.ExchangeRate)
            ]
        )


def transaction(c: Callers, **changes: Any) -> dict[str, Any]:
    return {
        "initiativeId": c.initiative_id,
        "type": "DISBURSEMENT",
        "date": "2023-05-01",
        "amount": "10.00",
        "currency": "CNY",
        **changes,
    }


def budget_line(c: Callers, **changes: Any) -> dict[str, Any]:
    return {
        "initiativeId": c.initiative_id,
        "periodStart": "2024-01-01",
        "periodEnd": "2024-12-31",
        "type": "ORIGINAL",
        "status": "COMMITTED",
        "amount": "10.00",
        "currency": "CNY",
        **changes,
    }


def rate(**changes: Any) -> dict[str, Any]:
    return {
        "base": "USD",
        "quote": "CNY",
        "rate": "7.1",
        "rateDate": "2023-01-01",
        "source": "reference rate",
        **changes,
    }


def refused(error: dict[str, Any], value: str) -> None:
    assert error["extensions"]["code"] == "INVALID_ARGUMENT", error
    assert value in error["message"]
    assert "1900-01-01" in error["message"] and "2199-12-31" in error["message"]


@pytest.mark.parametrize(
    ("who", "operation", "variables"),
    [
        ("editor", CREATE_TRANSACTION, lambda c: {"input": transaction(c, date=EARLY_DAY)}),
        ("editor", CREATE_TRANSACTION, lambda c: {"input": transaction(c, valueDate=EARLY_DAY)}),
        (
            "editor",
            CREATE_BUDGET_LINE,
            lambda c: {"input": budget_line(c, periodStart=EARLY_DAY, periodEnd=LATE_DAY)},
        ),
        ("editor", CREATE_BUDGET_LINE, lambda c: {"input": budget_line(c, periodEnd=LATE_DAY)}),
        ("admin", CREATE_RATE, lambda c: {"input": rate(rateDate=EARLY_DAY)}),
        ("reader", MILESTONES, lambda c: {"day": LATE_DAY}),
        ("reader", TIMELINE, lambda c: {"day": LATE_DAY}),
        ("reader", TIMELINE, lambda c: {"day": EARLY_DAY}),
    ],
)
async def test_a_day_outside_the_range_is_refused_and_nothing_is_written(
    db: Database, callers: Callers, who: str, operation: str, variables: Any
) -> None:
    # given
    before = await written(db)
    sent = variables(callers)
    day = EARLY_DAY if EARLY_DAY in str(sent) else LATE_DAY
    # when
    error = await getattr(callers, who).error(operation, sent)
    # then
    refused(error, day)
    assert await written(db) == before


async def test_a_day_outside_the_range_in_the_query_text_is_refused(callers: Callers) -> None:
    # when
    in_text = await callers.reader.error(
        f'{{ timelineReport(asOfDate: "{LATE_DAY}") {{ lateMilestones {{ totalCount }} }} }}'
    )
    nested = await callers.reader.error(
        f'{{ milestones(filter: {{or: [{{plannedDate: {{gte: "{EARLY_DAY}"}}}}]}}) '
        "{ totalCount } }"
    )
    # then
    refused(in_text, LATE_DAY)
    refused(nested, EARLY_DAY)


async def test_a_moment_that_no_calendar_can_hold_is_refused_not_an_internal_error(
    callers: Callers,
) -> None:
    # when
    as_of = await callers.reader.error(AS_OF, {"at": EARLY_MOMENT})
    as_of_in_text = await callers.reader.error(
        f'{{ transactions(asOf: "{EARLY_MOMENT}") {{ totalCount }} }}'
    )
    window = await callers.auditor.error(CHANGES, {"from": EARLY_MOMENT})
    late = await callers.auditor.error(CHANGES, {"from": "9999-12-31T23:00:00-14:00"})
    # then
    for error in (as_of, as_of_in_text, window):
        refused(error, EARLY_MOMENT)
    assert as_of["extensions"]["field"] == "asOf"
    refused(late, "9999-12-31T23:00:00-14:00")


async def test_the_first_and_last_day_of_the_range_are_accepted_and_reported(
    db: Database, callers: Callers
) -> None:
    # given: a budget line spanning the whole range, and a rate on its first day
    first, last = EARLIEST_DATE.isoformat(), LATEST_DATE.isoformat()
    created = await callers.editor.data(
        CREATE_BUDGET_LINE, {"input": budget_line(callers, periodStart=first, periodEnd=last)}
    )
    rated = await callers.admin.data(CREATE_RATE, {"input": rate(rateDate=first)})
    # when
    by_year = await callers.reader.data(BY_YEAR)
    timeline = await callers.reader.data(TIMELINE, {"day": last})
    counted = await callers.reader.data(MILESTONES, {"day": last})
    # then
    assert created["createBudgetLine"]["errors"] == []
    assert rated["createExchangeRate"]["errors"] == []
    groups = by_year["budgetSummary"]["groups"]
    assert [(g["key"]["year"], g["measures"]["budgetCurrent"]["amount"]) for g in groups] == [
        (1900, "10.00")
    ]
    assert timeline["timelineReport"] == {"asOfDate": last, "lateMilestones": {"totalCount": 1}}
    assert counted["milestones"]["totalCount"] == 1
    assert await written(db) == (0, 1, 1)

"""Partners see only the initiatives on their key: in lists, `node`, aggregates,
figures, reports and CSV downloads, now and as of a past moment."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app import models as m
from app.audit.records import audited_tables
from app.db.session import StatementCounter
from app.demo.loader import load_demo
from app.kit.ids import encode_global_id
from app.views.views import open_view, view_engine
from tests import factories as f
from tests.conftest import Database, GraphQLClient

LISTS = """
query Lists($filter: InitiativeFilter, $asOf: DateTime) {
  initiatives(first: 50, filter: $filter, asOf: $asOf) { totalCount nodes { code } }
  transactions(first: 100, filter: {initiative: $filter}, asOf: $asOf) {
    totalCount
    nodes { id amount { amount } }
    aggregate(currency: "CNY") { count sum { amount { amount } } }
  }
  budgetLines(first: 100, filter: {initiative: $filter}, asOf: $asOf) {
    totalCount
    aggregate(currency: "CNY") { count sum { amount { amount } } }
  }
  milestones(first: 100, filter: {initiative: $filter}, asOf: $asOf) { totalCount }
  beneficiaryFigures(first: 100, filter: {initiative: $filter}, asOf: $asOf) { totalCount }
}
"""

PROGRAMS = """
query { programs { totalCount nodes { ref initiatives(first: 50) { nodes { code } } } } }
"""

_MEASURES = """
fragment M on BudgetMeasures {
  budgetOriginal { amount currency } budgetCurrent { amount } committed { amount }
  disbursed { amount } spent { amount } variance { amount } count
}
"""

PROGRAM_FIGURES = (
    """
query { program { figures { ...M } committed { amount } disbursed { amount } spent { amount } } }
"""
    + _MEASURES
)

REPORTS = (
    """
query Reports($filter: InitiativeFilter, $asOf: DateTime) {
  budgetSummary(groupBy: [INITIATIVE, CATEGORY], filter: {initiative: $filter}, asOf: $asOf) {
    groupCount
    groups { key { initiative { code } category } measures { ...M } }
    total { ...M }
  }
  timelineReport(asOfDate: "2024-06-30", filter: $filter, asOf: $asOf) {
    milestonesByStatus { status count }
    initiatives(first: 50) { totalCount nodes { initiative { code } milestoneCount } }
    lateMilestones(first: 50) { totalCount nodes { milestone { title } daysLate } }
  }
  reachReport(filter: $filter, asOf: $asOf) {
    rows(first: 100) { totalCount nodes { initiative { code } reached } }
    totals { group { code } unit figureCount target reached }
  }
}
"""
    + _MEASURES
)

NODE = """
query Node($id: ID!) { node(id: $id) { id } }
"""

INITIATIVE = """
query Initiative($code: String) { initiative(code: $code) { code } }
"""


async def setup(db: Database) -> tuple[list[str], str]:
    """The demo with transactions on every initiative, and a partner key for two of
    them; returns every initiative code and the key's secret."""
    async with db.sessions() as session, session.begin():
        await load_demo(session)
        initiatives = (await session.scalars(select(m.Initiative).order_by(m.Initiative.id))).all()
        for n, initiative in enumerate(initiatives, start=1):
            await f.transaction(session, initiative, amount=Decimal(n * 100))
            await f.transaction(
                session, initiative, type=m.TransactionType.EXPENDITURE, amount=Decimal(n)
            )
        codes = [i.code for i in initiatives]
        secret = await f.api_key(session, "partner", initiatives=codes[1:3])
    return codes, secret


def only(codes: list[str]) -> dict[str, Any]:
    return {"code": {"in": codes}}


async def test_a_partner_sees_only_its_initiatives_in_lists(
    db: Database, client: GraphQLClient
) -> None:
    # given
    codes, secret = await setup(db)
    partner = client.with_key(secret)
    # when
    seen = await partner.data(LISTS)
    expected = await client.data(LISTS, {"filter": only(codes[1:3])})
    # then
    assert [n["code"] for n in seen["initiatives"]["nodes"]] == codes[1:3]
    assert seen == expected
    assert seen["transactions"]["totalCount"] == 4


async def test_a_partner_sees_the_programmes_of_its_initiatives_only_with_them(
    db: Database, client: GraphQLClient
) -> None:
    # given
    codes, secret = await setup(db)
    async with db.sessions() as session, session.begin():
        other = await f.program(session)
        await f.initiative(session, other)
    # when
    seen = await client.with_key(secret).data(PROGRAMS)
    # then
    assert seen["programs"]["totalCount"] == 1
    assert [n["code"] for n in seen["programs"]["nodes"][0]["initiatives"]["nodes"]] == codes[1:3]


async def test_a_partner_cannot_reach_other_records_by_id_or_code(
    db: Database, client: GraphQLClient
) -> None:
    # given
    codes, secret = await setup(db)
    partner = client.with_key(secret)
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(m.Transaction.id, m.Initiative.code)
                .join(m.Initiative, m.Initiative.id == m.Transaction.initiative_id)
                .order_by(m.Transaction.id)
            )
        ).all()
    mine = next(r.id for r in rows if r.code == codes[1])
    theirs = next(r.id for r in rows if r.code == codes[0])
    # when
    found = await partner.data(NODE, {"id": encode_global_id("Transaction", mine)})
    hidden = await partner.data(NODE, {"id": encode_global_id("Transaction", theirs)})
    by_code = await partner.data(INITIATIVE, {"code": codes[0]})
    # then
    assert found["node"] is not None
    assert hidden["node"] is None
    assert by_code["initiative"] is None


async def test_a_partners_figures_and_reports_cover_its_initiatives_only(
    db: Database, client: GraphQLClient
) -> None:
    # given
    codes, secret = await setup(db)
    partner = client.with_key(secret)
    # when
    reports = await partner.data(REPORTS)
    figures = await partner.data(PROGRAM_FIGURES)
    # then
    expected = await client.data(REPORTS, {"filter": only(codes[1:3])})
    assert reports == expected
    total = expected["budgetSummary"]["total"]
    assert figures["program"]["figures"] == total
    assert figures["program"]["disbursed"] == total["disbursed"]


async def test_a_partners_csv_download_covers_its_initiatives_only(
    db: Database, client: GraphQLClient
) -> None:
    # given
    codes, secret = await setup(db)
    async with db.sessions() as session, session.begin():
        auditor = await f.api_key(session, "auditor")
    filter_ = json.dumps({"initiative": only(codes[1:3])})
    # when
    seen = await client.http.get(
        "/reports/budget-summary.csv",
        params={"groupBy": "INITIATIVE"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    expected = await client.http.get(
        "/reports/budget-summary.csv",
        params={"groupBy": "INITIATIVE", "filter": filter_},
        headers={"Authorization": f"Bearer {auditor}"},
    )
    # then
    assert seen.status_code == 200, seen.text
    assert seen.text == expected.text
    assert codes[0] not in seen.text


async def test_a_partner_as_of_a_moment_sees_its_initiatives_as_they_were(
    db: Database, client: GraphQLClient
) -> None:
    # given
    codes, secret = await setup(db)
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    async with db.sessions() as session, session.begin():
        for initiative in (await session.scalars(select(m.Initiative))).all():
            await f.transaction(session, initiative, amount=Decimal("999.00"))
    variables = {"asOf": moment.isoformat()}
    # when
    seen = await client.with_key(secret).data(LISTS, variables)
    reports = await client.with_key(secret).data(REPORTS, variables)
    # then
    assert seen == await client.data(LISTS, {**variables, "filter": only(codes[1:3])})
    assert reports == await client.data(REPORTS, {**variables, "filter": only(codes[1:3])})
    assert seen["transactions"]["totalCount"] == 4


async def test_a_partner_view_copies_a_fixed_number_of_statements(db: Database) -> None:
    # given
    await setup(db)
    async with db.sessions() as session:
        ids = frozenset((await session.scalars(select(m.Initiative.id).limit(2))).all())
        visible = await session.scalar(
            select(func.count())
            .select_from(m.Transaction)
            .where(m.Transaction.initiative_id.in_(ids))
        )
    # when
    with StatementCounter(view_engine(db.engine)) as counter:
        view = await open_view(db.engine, initiatives=ids)
        try:
            async with view.sessions() as session:
                seen = await session.scalar(select(func.count()).select_from(m.Transaction))
        finally:
            await view.close()
    # then
    assert seen == visible
    assert counter.count <= 6 * len(audited_tables())

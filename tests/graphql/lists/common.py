"""What the list tests share: the queries a frontend sends, records made to page, filter
and order, and the expected codes computed from them.

Every expectation is computed from the records the test itself creates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient

Status = m.InitiativeStatus


INITIATIVES_PAGE = """
query Page(
  $first: Int, $after: String, $last: Int, $before: String,
  $filter: InitiativeFilter, $orderBy: [InitiativeOrder!]
) {
  initiatives(
    first: $first, after: $after, last: $last, before: $before,
    filter: $filter, orderBy: $orderBy
  ) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id code title status } }
  }
}
"""

INITIATIVE_CODES = """
query Codes($filter: InitiativeFilter) {
  initiatives(filter: $filter, first: 100) { totalCount nodes { code } }
}
"""

BUDGET_AMOUNTS = """
query Amounts($filter: BudgetLineFilter) {
  budgetLines(filter: $filter, first: 100, orderBy: [{field: AMOUNT, direction: ASC}]) {
    totalCount
    nodes { amount { amount currency } }
  }
}
"""

PROGRAM_INITIATIVES = """
query ProgramInitiatives($first: Int, $after: String) {
  programs(first: 100) {
    nodes {
      ref
      initiatives(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage endCursor }
        nodes { code }
      }
    }
  }
}
"""

INITIATIVE_BUDGET_LINES = """
query BudgetLinePages($after: String) {
  initiatives(first: 100) {
    nodes {
      code
      budgetLines(first: 1, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { periodStart amount { amount } }
      }
    }
  }
}
"""

MILESTONES_ORDERED = """
query Milestones($orderBy: [MilestoneOrder!]) {
  milestones(first: 100, orderBy: $orderBy) { nodes { title plannedDate } }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Initiative { code title }
    ... on BudgetLine { periodStart amount { amount currency } }
    ... on Transaction { date description amount { amount currency } }
    ... on Milestone { title plannedDate }
    ... on BeneficiaryGroup { code name }
    ... on Organization { ref name }
    ... on Program { ref name }
  }
}
"""


async def make_initiatives(db: Database, count: int, **kw: Any) -> list[m.Initiative]:
    """`count` initiatives of one programme, in position (= default list) order."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        return [await f.initiative(session, program, **kw) for _ in range(count)]


def codes_of(edges: Sequence[dict[str, Any]]) -> list[str]:
    return [edge["node"]["code"] for edge in edges]


async def fetch_page(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    return (await client.data(INITIATIVES_PAGE, variables))["initiatives"]  # type: ignore[no-any-return]


async def forward_pages(client: GraphQLClient, size: int, **variables: Any) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        page = await fetch_page(client, first=size, after=after, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 100, "paging does not end"


async def backward_pages(
    client: GraphQLClient, size: int, **variables: Any
) -> list[dict[str, Any]]:
    pages, before = [], None
    while True:
        page = await fetch_page(client, last=size, before=before, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasPreviousPage"]:
            return pages
        before = page["pageInfo"]["startCursor"]
        assert len(pages) < 100, "paging does not end"


async def codes_matching(client: GraphQLClient, filter_: dict[str, Any]) -> list[str]:
    result = (await client.data(INITIATIVE_CODES, {"filter": filter_}))["initiatives"]
    codes = [node["code"] for node in result["nodes"]]
    assert result["totalCount"] == len(codes)
    return codes


@dataclass(frozen=True)
class Spec:
    title: str
    status: m.InitiativeStatus
    region: str
    planned_start: date | None
    focus_area: str | None


# Titles hold a literal % and _ beside look-alikes a LIKE wildcard would also match.
SPECS = (
    Spec("Rural 100% Solar", Status.IMPLEMENTATION, "CN-ZJ", date(2022, 1, 1), "energy"),
    Spec("Rural 1000 Solar", Status.PIPELINE, "CN", date(2022, 3, 1), None),
    Spec("Clean_Water", Status.IMPLEMENTATION, "CN-GS", date(2022, 6, 1), "water"),
    Spec("CleanXWater", Status.CLOSED, "CN-ZJ", None, "water"),
    Spec("Digital Literacy", Status.IMPLEMENTATION, "CN", date(2023, 1, 1), None),
    Spec("Village Clinics", Status.SUSPENDED, "CN-YN", date(2022, 9, 30), "health"),
)


async def make_catalogue(db: Database) -> list[m.Initiative]:
    """One initiative per SPECS entry, in that order."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        return [
            await f.initiative(
                session,
                program,
                title=s.title,
                status=s.status,
                region=s.region,
                planned_start=s.planned_start,
                focus_area=s.focus_area,
            )
            for s in SPECS
        ]


def codes_where(rows: Sequence[m.Initiative], keep: Callable[[m.Initiative], bool]) -> list[str]:
    return [row.code for row in rows if keep(row)]


def nested_not(levels: int, innermost: dict[str, Any]) -> dict[str, Any]:
    """A filter `levels` deep: `not` inside `not` ... around `innermost`."""
    filter_ = innermost
    for _ in range(levels - 1):
        filter_ = {"not": filter_}
    return filter_

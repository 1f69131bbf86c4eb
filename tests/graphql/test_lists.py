"""Lists as a frontend uses them: Relay paging, filters, ordering and `node(id:)` refetch.

Every expectation is computed from the records the test itself creates.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from app import models as m
from app.config import Settings
from app.kit.ids import encode_global_id
from app.kit.pagination import encode_cursor
from tests import factories as f
from tests.conftest import Database, GraphQLClient

Status = m.InitiativeStatus

# --- queries -----------------------------------------------------------------------------

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


# --- helpers -----------------------------------------------------------------------------


async def _initiatives(db: Database, count: int, **kw: Any) -> list[m.Initiative]:
    """`count` initiatives of one programme, in position (= default list) order."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        return [await f.initiative(session, program, **kw) for _ in range(count)]


def _codes(edges: Sequence[dict[str, Any]]) -> list[str]:
    return [edge["node"]["code"] for edge in edges]


async def _page(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    return (await client.data(INITIATIVES_PAGE, variables))["initiatives"]  # type: ignore[no-any-return]


async def _forward_pages(
    client: GraphQLClient, size: int, **variables: Any
) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        page = await _page(client, first=size, after=after, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 100, "paging does not end"


async def _backward_pages(
    client: GraphQLClient, size: int, **variables: Any
) -> list[dict[str, Any]]:
    pages, before = [], None
    while True:
        page = await _page(client, last=size, before=before, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasPreviousPage"]:
            return pages
        before = page["pageInfo"]["startCursor"]
        assert len(pages) < 100, "paging does not end"


async def _codes_matching(client: GraphQLClient, filter_: dict[str, Any]) -> list[str]:
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


async def _catalogue(db: Database) -> list[m.Initiative]:
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


def _where(rows: Sequence[m.Initiative], keep: Callable[[m.Initiative], bool]) -> list[str]:
    return [row.code for row in rows if keep(row)]


def _nested_not(levels: int, innermost: dict[str, Any]) -> dict[str, Any]:
    """A filter `levels` deep: `not` inside `not` ... around `innermost`."""
    filter_ = innermost
    for _ in range(levels - 1):
        filter_ = {"not": filter_}
    return filter_


# --- 1. paging forward -------------------------------------------------------------------


async def test_paging_forward_visits_every_item_once_in_order(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await _initiatives(db, 25)
    # when
    pages = await _forward_pages(client, 10)
    # then
    visited = [code for page in pages for code in _codes(page["edges"])]
    assert visited == [row.code for row in rows]
    assert [len(page["edges"]) for page in pages] == [10, 10, 5]


async def test_page_info_is_right_on_first_middle_and_last_page(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _initiatives(db, 25)
    # when
    first, middle, last = await _forward_pages(client, 10)
    # then
    for page, has_previous, has_next in (
        (first, False, True),
        (middle, True, True),
        (last, True, False),
    ):
        info = page["pageInfo"]
        assert (info["hasPreviousPage"], info["hasNextPage"]) == (has_previous, has_next)
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]


async def test_total_count_is_the_whole_filtered_count_on_every_page(
    db: Database, client: GraphQLClient
) -> None:
    # given: 25 initiatives in implementation, 3 in the pipeline
    rows = await _initiatives(db, 25)
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(3):
            await f.initiative(session, program, status=Status.PIPELINE)
    only = {"status": {"eq": "IMPLEMENTATION"}}
    # when
    pages = await _forward_pages(client, 10, filter=only)
    # then
    assert {page["totalCount"] for page in pages} == {len(rows)}
    assert sum(len(page["edges"]) for page in pages) == len(rows)


# --- 2. paging backward ------------------------------------------------------------------


async def test_paging_backward_gives_the_forward_pages_in_reverse(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await _initiatives(db, 25)
    forward = await _forward_pages(client, 5)
    # when
    backward = await _backward_pages(client, 5)
    # then
    assert [_codes(p["edges"]) for p in reversed(backward)] == [_codes(p["edges"]) for p in forward]
    assert backward[0]["pageInfo"]["hasNextPage"] is False
    assert all(page["pageInfo"]["hasNextPage"] for page in backward[1:])
    assert {page["totalCount"] for page in backward} == {len(rows)}


async def test_last_alone_gives_the_tail(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _initiatives(db, 25)
    # when
    page = await _page(client, last=3)
    # then
    assert _codes(page["edges"]) == [row.code for row in rows[-3:]]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["totalCount"] == len(rows)


# --- 3. page sizes and cursors -----------------------------------------------------------


async def test_default_page_size_applies_without_first_or_last(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await _initiatives(db, settings.default_page_size + 5)
    # when
    page = await _page(client)
    # then
    assert _codes(page["edges"]) == [row.code for row in rows[: settings.default_page_size]]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == len(rows)


async def test_first_up_to_the_maximum_is_accepted(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await _initiatives(db, 3)
    # when
    page = await _page(client, first=settings.max_page_size)
    # then
    assert _codes(page["edges"]) == [row.code for row in rows]


async def test_first_over_the_maximum_is_refused_and_names_the_limit(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    await _initiatives(db, 1)
    # when
    error = await client.error(INITIATIVES_PAGE, {"first": settings.max_page_size + 1})
    # then
    assert error["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"
    assert str(settings.max_page_size) in error["message"]


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_a_negative_page_size_is_refused(
    db: Database, client: GraphQLClient, argument: str
) -> None:
    # given
    await _initiatives(db, 1)
    # when
    error = await client.error(INITIATIVES_PAGE, {argument: -1})
    # then
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_first_and_last_together_are_refused(db: Database, client: GraphQLClient) -> None:
    # given
    await _initiatives(db, 1)
    # when
    error = await client.error(INITIATIVES_PAGE, {"first": 2, "last": 2})
    # then
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("argument", ["after", "before"])
@pytest.mark.parametrize("cursor", ["garbage", "", "!!!", "cG9zOmFiYw==", "cG9zOi0x"])
async def test_a_garbage_cursor_is_refused(
    db: Database, client: GraphQLClient, argument: str, cursor: str
) -> None:
    # given: some cursor-looking strings ("pos:abc" and "pos:-1" in base64) and plain junk
    await _initiatives(db, 1)
    # when
    error = await client.error(INITIATIVES_PAGE, {argument: cursor})
    # then
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert error["extensions"]["field"] == argument


async def test_an_id_is_not_a_cursor(db: Database, client: GraphQLClient) -> None:
    # given
    await _initiatives(db, 2)
    some_id = (await _page(client))["edges"][0]["node"]["id"]
    # when
    error = await client.error(INITIATIVES_PAGE, {"after": some_id})
    # then
    assert error["extensions"]["code"] == "INVALID_CURSOR"


async def test_a_cursor_past_the_end_gives_an_empty_page_with_the_total(
    db: Database, client: GraphQLClient
) -> None:
    # given: a cursor at the end of a 25-item list, used on a 5-item filtered list
    rows = await _initiatives(db, 25)
    end = (await _page(client, first=100))["pageInfo"]["endCursor"]
    few = {"code": {"in": [row.code for row in rows[:5]]}}
    # when
    page = await _page(client, first=10, after=end, filter=few)
    # then
    assert page["edges"] == []
    assert page["totalCount"] == 5
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_first_zero_gives_no_items_but_the_total_count(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await _initiatives(db, 25)
    # when
    page = await _page(client, first=0)
    # then
    assert page["edges"] == []
    assert page["totalCount"] == len(rows)


@pytest.mark.parametrize(("size", "more"), [("first", "hasNextPage"), ("last", "hasPreviousPage")])
async def test_a_zero_page_of_a_non_empty_list_says_there_is_more(
    db: Database, client: GraphQLClient, size: str, more: str
) -> None:
    # given
    await _initiatives(db, 3)
    # when
    page = await _page(client, **{size: 0})
    # then
    assert page["pageInfo"][more] is True


async def test_a_cursor_no_list_could_have_issued_is_invalid(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _initiatives(db, 3)
    far = encode_cursor(10**30)
    # when
    error = await client.error(INITIATIVES_PAGE, {"first": 10, "after": far})
    # then: refused as a cursor, before it reaches the database
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert "SELECT" not in error["message"]


# --- 4. nested connections ---------------------------------------------------------------


async def test_nested_initiatives_page_per_programme(db: Database, client: GraphQLClient) -> None:
    # given: two programmes whose initiatives interleave, and one without any
    async with db.sessions() as session, session.begin():
        programs = [await f.program(session) for _ in range(3)]
        own: dict[str, list[str]] = {p.ref: [] for p in programs}
        for i in range(7):
            parent = programs[i % 2]
            own[parent.ref].append((await f.initiative(session, parent)).code)
    # when
    nodes = (await client.data(PROGRAM_INITIATIVES, {"first": 2}))["programs"]["nodes"]
    # then
    assert [node["ref"] for node in nodes] == [p.ref for p in programs]
    for node in nodes:
        codes = own[node["ref"]]
        page = node["initiatives"]
        assert [n["code"] for n in page["nodes"]] == codes[:2]
        assert page["totalCount"] == len(codes)
        assert page["pageInfo"]["hasNextPage"] is (len(codes) > 2)


async def test_nested_initiatives_next_page_per_programme(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        programs = [await f.program(session) for _ in range(2)]
        own: dict[str, list[str]] = {p.ref: [] for p in programs}
        for i in range(7):
            parent = programs[i % 2]
            own[parent.ref].append((await f.initiative(session, parent)).code)
    first = (await client.data(PROGRAM_INITIATIVES, {"first": 2}))["programs"]["nodes"]
    after = first[0]["initiatives"]["pageInfo"]["endCursor"]
    # when
    second = (await client.data(PROGRAM_INITIATIVES, {"first": 2, "after": after}))["programs"]
    # then
    for node in second["nodes"]:
        codes = own[node["ref"]]
        assert [n["code"] for n in node["initiatives"]["nodes"]] == codes[2:4]
        assert node["initiatives"]["totalCount"] == len(codes)
        assert node["initiatives"]["pageInfo"]["hasPreviousPage"] is True


async def test_nested_budget_lines_page_per_initiative(db: Database, client: GraphQLClient) -> None:
    # given: three lines for one initiative, two for the other, created interleaved
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a, b = await f.initiative(session, program), await f.initiative(session, program)
        years = {a.code: [2024, 2022, 2023], b.code: [2025, 2021]}
        for i in range(3):
            for row in (a, b):
                if i < len(years[row.code]):
                    start = date(years[row.code][i], 1, 1)
                    amount = Decimal(years[row.code][i]) + Decimal(row.position)
                    await f.budget_line(
                        session,
                        row,
                        period_start=start,
                        period_end=date(start.year, 12, 31),
                        amount=amount,
                    )
    expected = {code: [f"{y}-01-01" for y in sorted(ys)] for code, ys in years.items()}
    # when: one line per page, every initiative at once, while any has more
    seen: dict[str, list[str]] = {a.code: [], b.code: []}
    totals: dict[str, set[int]] = {a.code: set(), b.code: set()}
    after: str | None = None
    for _ in range(10):
        nodes = (await client.data(INITIATIVE_BUDGET_LINES, {"after": after}))["initiatives"]
        for node in nodes["nodes"]:
            lines = node["budgetLines"]
            seen[node["code"]] += [line["periodStart"] for line in lines["nodes"]]
            totals[node["code"]].add(lines["totalCount"])
        more = [
            n["budgetLines"]["pageInfo"]
            for n in nodes["nodes"]
            if n["budgetLines"]["pageInfo"]["hasNextPage"]
        ]
        if not more:
            break
        after = more[0]["endCursor"]  # the same position in every initiative's own list
    # then: each initiative saw its own lines in order, and its own total on every page
    assert seen == expected
    assert totals == {code: {len(ys)} for code, ys in years.items()}


# --- 5. filters --------------------------------------------------------------------------


async def test_filter_eq(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    target = rows[2].code
    # when
    codes = await _codes_matching(client, {"code": {"eq": target}})
    # then
    assert codes == [target]


async def test_filter_in(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    wanted = [rows[4].code, rows[0].code, "NO-SUCH-CODE"]
    # when
    codes = await _codes_matching(client, {"code": {"in": wanted}})
    # then
    assert codes == _where(rows, lambda r: r.code in wanted)


async def test_filter_not_in(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    # when
    codes = await _codes_matching(client, {"status": {"notIn": ["IMPLEMENTATION", "CLOSED"]}})
    # then
    expected = _where(rows, lambda r: r.status not in (Status.IMPLEMENTATION, Status.CLOSED))
    assert codes == expected
    assert expected


async def test_filter_date_range_includes_both_bounds(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    low, high = SPECS[1].planned_start, SPECS[5].planned_start
    assert low is not None and high is not None
    # when
    codes = await _codes_matching(
        client, {"plannedStart": {"gte": low.isoformat(), "lte": high.isoformat()}}
    )
    # then
    expected = _where(
        rows, lambda r: r.planned_start is not None and low <= r.planned_start <= high
    )
    assert codes == expected
    assert rows[1].code in codes and rows[5].code in codes


async def test_filter_decimal_range_on_amounts(db: Database, client: GraphQLClient) -> None:
    # given
    amounts = [Decimal(a) for a in ("49.99", "50.00", "100.00", "149.99", "150.00", "1000.00")]
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        for amount in amounts:
            await f.budget_line(session, initiative, amount=amount)
    # when
    result = await client.data(
        BUDGET_AMOUNTS, {"filter": {"amount": {"gte": "50.00", "lt": "150.00"}}}
    )
    # then
    got = [Decimal(n["amount"]["amount"]) for n in result["budgetLines"]["nodes"]]
    assert got == [a for a in amounts if Decimal("50.00") <= a < Decimal("150.00")]
    assert result["budgetLines"]["totalCount"] == len(got)


async def test_filter_contains_ignores_case(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    # when
    codes = await _codes_matching(client, {"title": {"contains": "rURAL"}})
    # then
    assert codes == _where(rows, lambda r: "rural" in r.title.lower())
    assert len(codes) == 2


async def test_filter_contains_takes_percent_literally(db: Database, client: GraphQLClient) -> None:
    # given: "Rural 100% Solar" and "Rural 1000 Solar"
    rows = await _catalogue(db)
    # when
    codes = await _codes_matching(client, {"title": {"contains": "0% s"}})
    # then
    assert codes == _where(rows, lambda r: "0% s" in r.title.lower())
    assert len(codes) == 1


async def test_filter_contains_takes_underscore_literally(
    db: Database, client: GraphQLClient
) -> None:
    # given: "Clean_Water" and "CleanXWater"
    rows = await _catalogue(db)
    # when
    codes = await _codes_matching(client, {"title": {"contains": "N_w"}})
    # then
    assert codes == _where(rows, lambda r: "n_w" in r.title.lower())
    assert len(codes) == 1


async def test_filter_starts_with_ignores_case_and_wildcards(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await _catalogue(db)
    # when
    codes = await _codes_matching(client, {"title": {"startsWith": "CLEAN_"}})
    # then
    assert codes == _where(rows, lambda r: r.title.lower().startswith("clean_"))
    assert len(codes) == 1


@pytest.mark.parametrize("is_null", [True, False])
async def test_filter_is_null(db: Database, client: GraphQLClient, is_null: bool) -> None:
    # given
    rows = await _catalogue(db)
    # when
    codes = await _codes_matching(client, {"focusArea": {"isNull": is_null}})
    # then
    assert codes == _where(rows, lambda r: (r.focus_area is None) is is_null)
    assert codes


async def test_filter_and_or_not_combined(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    filter_ = {
        "or": [
            {"status": {"eq": "PIPELINE"}},
            {
                "and": [
                    {"region": {"startsWith": "CN-"}},
                    {"not": {"title": {"contains": "water"}}},
                ]
            },
        ]
    }
    # when
    codes = await _codes_matching(client, filter_)
    # then
    expected = _where(
        rows,
        lambda r: (
            r.status == Status.PIPELINE
            or (r.region.startswith("CN-") and "water" not in r.title.lower())
        ),
    )
    assert codes == expected
    assert 1 < len(expected) < len(rows)


async def test_filter_initiatives_by_beneficiary_group(db: Database, client: GraphQLClient) -> None:
    # given: the first initiative has two figures (two units) for the same group
    rows = await _catalogue(db)
    async with db.sessions() as session, session.begin():
        youth, elderly = await f.beneficiary_group(session), await f.beneficiary_group(session)
        await f.beneficiary_figure(session, rows[0], youth, unit="people")
        await f.beneficiary_figure(session, rows[0], youth, unit="households")
        await f.beneficiary_figure(session, rows[2], youth)
        await f.beneficiary_figure(session, rows[4], elderly)
    served = {rows[0].id, rows[2].id}
    # when
    codes = await _codes_matching(client, {"beneficiaryGroup": {"code": {"eq": youth.code}}})
    # then: once each, however many figures
    assert codes == _where(rows, lambda r: r.id in served)


async def test_filter_initiatives_by_budget_line_amount(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await _catalogue(db)
    lines = {
        rows[0].id: ["10.00", "500.00"],
        rows[1].id: ["20.00"],
        rows[3].id: ["300.00", "400.00"],
    }
    async with db.sessions() as session, session.begin():
        for row in rows:
            for amount in lines.get(row.id, []):
                await f.budget_line(session, row, amount=Decimal(amount))
    # when
    codes = await _codes_matching(client, {"budgetLine": {"amount": {"gt": "250.00"}}})
    # then
    assert codes == _where(
        rows, lambda r: any(Decimal(a) > Decimal("250.00") for a in lines.get(r.id, []))
    )
    assert len(codes) == 2


async def test_filter_transactions_by_initiative(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _catalogue(db)
    async with db.sessions() as session, session.begin():
        descriptions = {}
        for i, row in enumerate(rows[:3]):
            for n in range(i + 1):
                tx = await f.transaction(session, row, description=f"{row.code}/{n}")
                descriptions[tx.description] = row.code
    target = rows[2].code
    # when
    result = await client.data(
        """
        query($filter: TransactionFilter) {
          transactions(filter: $filter, first: 100) {
            totalCount nodes { description initiative { code } }
          }
        }
        """,
        {"filter": {"initiative": {"code": {"eq": target}}}},
    )
    # then
    nodes = result["transactions"]["nodes"]
    assert sorted(n["description"] for n in nodes) == sorted(
        d for d, code in descriptions.items() if code == target
    )
    assert {n["initiative"]["code"] for n in nodes} == {target}
    assert result["transactions"]["totalCount"] == len(nodes)


async def test_filter_beneficiary_groups_by_initiative_status(
    db: Database, client: GraphQLClient
) -> None:
    # given: groups served by implementing, pipeline-only, both, and no initiatives
    rows = await _catalogue(db)
    implementing, pipeline = rows[0], rows[1]
    assert implementing.status == Status.IMPLEMENTATION and pipeline.status == Status.PIPELINE
    async with db.sessions() as session, session.begin():
        groups = [await f.beneficiary_group(session, name=f"Group {c}") for c in "ABCD"]
        await f.beneficiary_figure(session, implementing, groups[0])
        await f.beneficiary_figure(session, pipeline, groups[1])
        await f.beneficiary_figure(session, implementing, groups[2])
        await f.beneficiary_figure(session, pipeline, groups[2])
    # when
    result = await client.data(
        """
        query($filter: BeneficiaryGroupFilter) {
          beneficiaryGroups(filter: $filter) { totalCount nodes { code } }
        }
        """,
        {"filter": {"initiative": {"status": {"eq": "IMPLEMENTATION"}}}},
    )
    # then
    codes = [n["code"] for n in result["beneficiaryGroups"]["nodes"]]
    assert codes == [groups[0].code, groups[2].code]
    assert result["beneficiaryGroups"]["totalCount"] == 2


async def test_filter_by_global_ids(db: Database, client: GraphQLClient) -> None:
    # given
    await _catalogue(db)
    edges = (await _page(client))["edges"]
    chosen = [edges[1]["node"], edges[4]["node"]]
    # when
    page = await _page(client, filter={"id": {"in": [node["id"] for node in chosen]}})
    # then
    assert [edge["node"] for edge in page["edges"]] == chosen
    assert page["totalCount"] == 2


async def test_filter_by_an_id_of_another_type_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _catalogue(db)
    program_id = (await client.data("{ programs { nodes { id } } }"))["programs"]["nodes"][0]["id"]
    # when
    error = await client.error(INITIATIVES_PAGE, {"filter": {"id": {"in": [program_id]}}})
    # then
    assert error["extensions"]["code"] == "INVALID_ID"


# --- 6. bad filter input -----------------------------------------------------------------


async def test_an_inverted_amount_range_is_refused_and_named(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _catalogue(db)
    # when
    error = await client.error(
        BUDGET_AMOUNTS, {"filter": {"amount": {"gte": "150.00", "lte": "50.00"}}}
    )
    # then
    assert error["extensions"]["code"] == "INVALID_RANGE"
    assert error["extensions"]["field"] == "filter.amount"


async def test_an_inverted_date_range_names_the_field_as_the_client_wrote_it(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _catalogue(db)
    # when
    error = await client.error(
        INITIATIVES_PAGE, {"filter": {"plannedStart": {"gte": "2024-01-01", "lte": "2023-01-01"}}}
    )
    # then
    assert error["extensions"]["code"] == "INVALID_RANGE"
    assert error["extensions"]["field"] == "filter.plannedStart"


@pytest.mark.parametrize("operator", ["eq", "in"])
@pytest.mark.parametrize("code", ["RMB", "XXQ"])
async def test_an_unknown_currency_code_is_refused(
    db: Database, client: GraphQLClient, operator: str, code: str
) -> None:
    # given
    await _catalogue(db)
    value: Any = code if operator == "eq" else ["CNY", code]
    # when
    error = await client.error(BUDGET_AMOUNTS, {"filter": {"currency": {operator: value}}})
    # then
    assert error["extensions"]["code"] == "INVALID_CURRENCY"
    assert code in error["message"]


async def test_a_known_currency_code_filters(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        for currency in ("CNY", "USD", "CNY"):
            await f.budget_line(session, initiative, currency=currency)
    # when
    result = await client.data(BUDGET_AMOUNTS, {"filter": {"currency": {"eq": "USD"}}})
    # then
    assert [n["amount"]["currency"] for n in result["budgetLines"]["nodes"]] == ["USD"]


async def test_an_in_list_up_to_the_limit_is_accepted(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await _catalogue(db)
    wanted = [rows[0].code] + [f"X-{n}" for n in range(settings.max_filter_list - 1)]
    # when
    codes = await _codes_matching(client, {"code": {"in": wanted}})
    # then
    assert codes == [rows[0].code]


async def test_an_in_list_over_the_limit_is_refused(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    await _catalogue(db)
    wanted = [f"X-{n}" for n in range(settings.max_filter_list + 1)]
    # when
    error = await client.error(INITIATIVE_CODES, {"filter": {"code": {"in": wanted}}})
    # then
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert str(settings.max_filter_list) in error["message"]


async def test_filters_nested_to_the_maximum_depth_are_accepted(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await _catalogue(db)
    filter_ = _nested_not(settings.max_filter_depth, {"code": {"eq": rows[0].code}})
    negated = (settings.max_filter_depth - 1) % 2 == 1
    # when
    codes = await _codes_matching(client, filter_)
    # then
    assert codes == _where(rows, lambda r: (r.code == rows[0].code) is not negated)


async def test_filters_nested_deeper_than_the_maximum_are_refused(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    await _catalogue(db)
    filter_ = _nested_not(settings.max_filter_depth + 1, {"code": {"eq": "X"}})
    # when
    error = await client.error(INITIATIVE_CODES, {"filter": filter_})
    # then
    assert error["extensions"]["code"] == "FILTER_TOO_COMPLEX"


async def test_relations_count_towards_filter_depth(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given: initiative -> budgetLine -> initiative -> ... deeper than allowed
    await _catalogue(db)
    keys = [
        "budgetLine" if level % 2 == 0 else "initiative"
        for level in range(settings.max_filter_depth)
    ]
    filter_: dict[str, Any] = (
        {"category": {"eq": "X"}} if keys[-1] == "budgetLine" else {"code": {"eq": "X"}}
    )
    for key in reversed(keys):
        filter_ = {key: filter_}
    # when
    error = await client.error(INITIATIVE_CODES, {"filter": filter_})
    # then
    assert error["extensions"]["code"] == "FILTER_TOO_COMPLEX"


DECIMAL_VARIABLE = """
query($min: Decimal!) {
  budgetLines(filter: {amount: {gte: $min}}, first: 100) { totalCount nodes { amount { amount } } }
}
"""


async def test_a_decimal_given_as_a_json_float_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(session, initiative, amount=Decimal("60.00"))
    # when
    body = await client.execute(DECIMAL_VARIABLE, {"min": 50.5})
    # then
    assert body.get("errors")
    assert body.get("data") is None
    assert "string" in body["errors"][0]["message"]


async def test_a_decimal_given_as_a_string_is_accepted(db: Database, client: GraphQLClient) -> None:
    # given
    amounts = [Decimal("50.49"), Decimal("50.50"), Decimal("60.00")]
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        for amount in amounts:
            await f.budget_line(session, initiative, amount=amount)
    # when
    result = (await client.data(DECIMAL_VARIABLE, {"min": "50.5"}))["budgetLines"]
    # then
    got = sorted(Decimal(n["amount"]["amount"]) for n in result["nodes"])
    assert got == [a for a in amounts if a >= Decimal("50.5")]


async def test_a_finer_decimal_than_stored_is_refused_with_a_code(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(session, initiative, amount=Decimal("100.01"))
    # when
    error = await client.error(BUDGET_AMOUNTS, {"filter": {"amount": {"gt": "100.0005"}}})
    # then: amounts hold thousandths, so the client is told rather than silently rounded
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["field"] == "filter.amount.gt"
    assert "more than 3 decimal places" in error["message"]


# --- 7. ordering -------------------------------------------------------------------------

STATUS_THEN_TITLE = [
    {"field": "STATUS", "direction": "ASC"},
    {"field": "TITLE", "direction": "DESC"},
]


async def _ordering_rows(db: Database) -> list[m.Initiative]:
    """Initiatives with repeated (status, title) pairs, so ties need the id."""
    statuses = [Status.PIPELINE, Status.IMPLEMENTATION, Status.CLOSED]
    titles = ["Alpha", "Bravo", "Charlie"]
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        return [
            await f.initiative(session, program, status=statuses[i % 3], title=titles[(i // 2) % 3])
            for i in range(14)
        ]


def _by_status_then_title_desc(rows: Sequence[m.Initiative]) -> list[str]:
    ordered = sorted(rows, key=lambda r: r.id)
    ordered.sort(key=lambda r: r.title, reverse=True)  # stable: ties keep id order
    ordered.sort(key=lambda r: r.status.name)  # GraphQL names: the order clients see
    return [r.code for r in ordered]


async def test_order_by_several_keys(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _ordering_rows(db)
    # when
    page = await _page(client, first=100, orderBy=STATUS_THEN_TITLE)
    # then
    assert _codes(page["edges"]) == _by_status_then_title_desc(rows)


async def test_order_is_identical_across_calls_and_pages(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _ordering_rows(db)
    whole = _codes((await _page(client, first=100, orderBy=STATUS_THEN_TITLE))["edges"])
    # when
    again = _codes((await _page(client, first=100, orderBy=STATUS_THEN_TITLE))["edges"])
    paged = await _forward_pages(client, 4, orderBy=STATUS_THEN_TITLE)
    # then
    assert again == whole
    assert [code for page in paged for code in _codes(page["edges"])] == whole


async def _milestones_with_some_undated(db: Database) -> list[m.Milestone]:
    dates = [date(2023, 5, 1), None, date(2022, 1, 1), None, date(2024, 2, 29), date(2022, 1, 1)]
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        return [await f.milestone(session, initiative, planned_date=d) for d in dates]


def _dated_then_undated(rows: Sequence[m.Milestone], descending: bool) -> list[str]:
    dated = sorted((r for r in rows if r.planned_date), key=lambda r: r.id)
    dated.sort(key=lambda r: r.planned_date or date.min, reverse=descending)
    undated = sorted((r for r in rows if r.planned_date is None), key=lambda r: r.id)
    return [r.title for r in dated + undated]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_nulls_sort_last_in_both_directions(
    db: Database, client: GraphQLClient, direction: str
) -> None:
    # given
    rows = await _milestones_with_some_undated(db)
    order = [{"field": "PLANNED_DATE", "direction": direction}]
    # when
    nodes = (await client.data(MILESTONES_ORDERED, {"orderBy": order}))["milestones"]["nodes"]
    # then
    assert [n["title"] for n in nodes] == _dated_then_undated(rows, direction == "DESC")
    assert [n["plannedDate"] for n in nodes][-2:] == [None, None]


async def test_default_milestone_order_is_planned_date_ascending_on_every_backend(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await _milestones_with_some_undated(db)
    # when
    nodes = (await client.data(MILESTONES_ORDERED))["milestones"]["nodes"]
    # then
    assert [n["title"] for n in nodes] == _dated_then_undated(rows, descending=False)


async def test_five_order_keys_are_accepted(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await _ordering_rows(db)
    fields = ["STATUS", "TITLE", "REGION", "FOCUS_AREA", "POSITION"]
    order = [
        {"field": field, "direction": "DESC" if field == "TITLE" else "ASC"} for field in fields
    ]
    # when
    page = await _page(client, first=100, orderBy=order)
    # then: region and focus area are equal on every row, position is unique and follows id
    assert _codes(page["edges"]) == _by_status_then_title_desc(rows)


async def test_more_than_five_order_keys_are_refused(db: Database, client: GraphQLClient) -> None:
    # given
    await _ordering_rows(db)
    fields = ["STATUS", "TITLE", "REGION", "FOCUS_AREA", "CODE", "POSITION"]
    # when
    error = await client.error(
        INITIATIVES_PAGE, {"orderBy": [{"field": field, "direction": "ASC"} for field in fields]}
    )
    # then
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["field"] == "orderBy"


# --- 8. node(id:) ------------------------------------------------------------------------

NODE_KINDS = [
    ("organizations", "Organization", "ref name"),
    ("programs", "Program", "ref name"),
    ("initiatives", "Initiative", "code title"),
    ("budgetLines", "BudgetLine", "periodStart amount { amount currency }"),
    ("transactions", "Transaction", "date description amount { amount currency }"),
    ("milestones", "Milestone", "title plannedDate"),
    ("beneficiaryGroups", "BeneficiaryGroup", "code name"),
]


async def _one_of_each(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        for n in range(2):
            program = await f.program(session)
            initiative = await f.initiative(session, program)
            line = await f.budget_line(session, initiative, amount=Decimal(f"{n + 1}23.45"))
            await f.transaction(
                session, initiative, budget_line_id=line.id, description=f"payment {n}"
            )
            await f.milestone(session, initiative)
            await f.beneficiary_group(session)


@pytest.mark.parametrize(("list_field", "type_name", "fields"), NODE_KINDS)
async def test_node_refetches_every_kind_of_record(
    db: Database, client: GraphQLClient, list_field: str, type_name: str, fields: str
) -> None:
    # given
    await _one_of_each(db)
    listed = (await client.data(f"{{ {list_field} {{ nodes {{ id {fields} }} }} }}"))[list_field]
    assert len(listed["nodes"]) >= 2
    for node in listed["nodes"]:
        # when
        refetched = (await client.data(NODE, {"id": node["id"]}))["node"]
        # then
        assert refetched == {"__typename": type_name, **node}


async def test_node_of_a_deleted_record_is_null(db: Database, client: GraphQLClient) -> None:
    # given: a well-formed id whose record is gone
    rows = await _initiatives(db, 2)
    edges = (await _page(client))["edges"]
    gone = edges[1]["node"]["id"]
    async with db.sessions() as session, session.begin():
        await session.delete(await session.get(m.Initiative, rows[1].id))
    # when
    result = await client.data(NODE, {"id": gone})
    # then
    assert result["node"] is None
    assert (await client.data(NODE, {"id": edges[0]["node"]["id"]}))["node"] is not None


async def test_node_of_an_unknown_type_is_null(db: Database, client: GraphQLClient) -> None:
    # given
    await _initiatives(db, 1)
    # when
    result = await client.data(NODE, {"id": encode_global_id("Nonsense", 1)})
    # then
    assert result["node"] is None


@pytest.mark.parametrize("key", [2**31, 2**63])
async def test_node_of_a_key_no_record_can_have_is_null(
    db: Database, client: GraphQLClient, key: int
) -> None:
    # given: keys past PostgreSQL's int4 and SQLite's int8 id columns
    await _initiatives(db, 1)
    # when
    result = await client.data(NODE, {"id": encode_global_id("Initiative", key)})
    # then
    assert result["node"] is None


@pytest.mark.parametrize(
    "bad_id", ["not-an-id", "", "%%%", base64.urlsafe_b64encode(b"Initiative:abc").decode()]
)
async def test_a_malformed_id_is_refused(db: Database, client: GraphQLClient, bad_id: str) -> None:
    # given
    await _initiatives(db, 1)
    # when
    error = await client.error(NODE, {"id": bad_id})
    # then
    assert error["extensions"]["code"] == "INVALID_ID"


async def test_a_filter_and_its_not_together_cover_the_whole_list(
    db: Database, client: GraphQLClient
) -> None:
    # given: some initiatives without a region
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for region in ("CN", "CN", "CN-ZJ", None, None):
            await f.initiative(session, program, region=region)
    query = "query($f: InitiativeFilter) { initiatives(filter: $f) { totalCount } }"
    match = {"region": {"eq": "CN"}}
    # when
    matching = await client.data(query, {"f": match})
    rest = await client.data(query, {"f": {"not": match}})
    not_equal = await client.data(query, {"f": {"region": {"ne": "CN"}}})
    # then: `not` keeps the rows the inner filter cannot decide; `ne` compares values only
    assert matching["initiatives"]["totalCount"] == 2
    assert rest["initiatives"]["totalCount"] == 3
    assert not_equal["initiatives"]["totalCount"] == 1


NESTED_LAST_BEFORE = """
query($before: String) {
  initiatives(orderBy: [{field: CODE}]) { nodes {
    code
    budgetLines(last: 2, before: $before, orderBy: [{field: AMOUNT}]) {
      totalCount
      pageInfo { hasPreviousPage hasNextPage }
      nodes { amount { amount } }
    }
  } }
}
"""


async def test_last_before_a_cursor_past_a_shorter_list_gives_its_tail(
    db: Database, client: GraphQLClient
) -> None:
    # given: one initiative with six lines, one with two; one cursor serves both lists
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code, count in (("A", 6), ("B", 2)):
            initiative = await f.initiative(session, program, code=code)
            for i in range(count):
                await f.budget_line(session, initiative, amount=Decimal(10 + i))
    before = encode_cursor(5)
    # when
    nodes = (await client.data(NESTED_LAST_BEFORE, {"before": before}))["initiatives"]["nodes"]
    # then: positions 3-4 of the long list; the short list's whole tail (both lines)
    long_list, short_list = (n["budgetLines"] for n in nodes)
    assert [x["amount"]["amount"] for x in long_list["nodes"]] == ["12.00", "13.00"]
    assert long_list["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": True}
    assert [x["amount"]["amount"] for x in short_list["nodes"]] == ["10.00", "11.00"]
    assert short_list["totalCount"] == 2
    assert short_list["pageInfo"] == {"hasPreviousPage": False, "hasNextPage": False}


async def test_every_combination_of_page_arguments_agrees_with_the_relay_algorithm(
    db: Database, client: GraphQLClient
) -> None:
    # given: six initiatives, and cursors before, inside and past the list
    rows = await _initiatives(db, 6)
    codes = sorted(r.code for r in rows)
    cursors: list[int | None] = [None, 0, 1, 3, 5, 6, 8]
    sizes: list[int | None] = [None, 0, 2, 7]
    query = """query($first: Int, $after: String, $last: Int, $before: String) {
      initiatives(first: $first, after: $after, last: $last, before: $before,
                  orderBy: [{field: CODE}]) { totalCount nodes { code } } }"""
    for after in cursors:
        for before in cursors:
            for first in sizes:
                for last in sizes:
                    if first is not None and last is not None:
                        continue
                    # the reference: cut by the cursors, then take first / last n
                    expected = [
                        c
                        for pos, c in enumerate(codes, start=1)
                        if (after is None or pos > after) and (before is None or pos < before)
                    ]
                    if first is not None:
                        expected = expected[:first]
                    elif last is not None:
                        expected = expected[max(0, len(expected) - last) :] if last else []
                    else:
                        expected = expected[:20]  # the default page size
                    # when
                    variables = {
                        "first": first,
                        "last": last,
                        "after": None if after is None else encode_cursor(after),
                        "before": None if before is None else encode_cursor(before),
                    }
                    page = (await client.data(query, variables))["initiatives"]
                    # then
                    got = [n["code"] for n in page["nodes"]]
                    assert got == expected, variables
                    assert page["totalCount"] == len(codes)


@pytest.mark.parametrize("text", ["FÖRDERUNG", "förderung", "FöRdErUnG"])
async def test_contains_ignores_case_beyond_ascii_on_every_backend(
    db: Database, client: GraphQLClient, text: str
) -> None:
    # given: German text, as in the demo's sources
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, title="Zur Förderung des Wohlstands")
        await f.initiative(session, program, title="Something else")
    # when
    data = await client.data(
        "query($t: String!) { a: initiatives(filter: {title: {contains: $t}}) { totalCount }"
        " b: initiatives(filter: {title: {startsWith: $t}}) { totalCount } }",
        {"t": text},
    )
    # then
    assert data["a"]["totalCount"] == 1
    assert data["b"]["totalCount"] == 0


async def test_a_bad_currency_in_a_filter_names_where_it_was_written(
    client: GraphQLClient,
) -> None:
    error = await client.error(
        '{ budgetLines(filter: {currency: {in: ["CNY", "RMB"]}}) { totalCount } }'
    )
    assert error["extensions"] == {"code": "INVALID_CURRENCY", "field": "filter.currency.in"}


NAMES = ["Alpha", "STRASSE", "Straße", "Zulu", "_under", "beta", "istanbul", "zeta", "Émile"]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_text_sorts_the_same_on_every_backend_and_locale(
    db: Database, client: GraphQLClient, direction: str
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        for name in NAMES:
            await f.organization(session, name=name)
    # when
    data = await client.data(
        "query($d: OrderDirection!) { organizations(orderBy: [{field: NAME, direction: $d}])"
        " { nodes { name } } }",
        {"d": direction},
    )
    # then: by lowercase code points, then exactly — as Python sorts them
    expected = sorted(NAMES, key=lambda n: (n.lower(), n), reverse=direction == "DESC")
    assert [n["name"] for n in data["organizations"]["nodes"]] == expected

"""Filters as a frontend writes them: each operator, `and`/`or`/`not`, and filters across
relations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.lists.common import (
    BUDGET_AMOUNTS,
    INITIATIVES_PAGE,
    SPECS,
    Status,
    codes_matching,
    codes_where,
    fetch_page,
    make_catalogue,
)


async def test_filter_eq(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_catalogue(db)
    target = rows[2].code
    # when
    codes = await codes_matching(client, {"code": {"eq": target}})
    # then
    assert codes == [target]


async def test_filter_in(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_catalogue(db)
    wanted = [rows[4].code, rows[0].code, "NO-SUCH-CODE"]
    # when
    codes = await codes_matching(client, {"code": {"in": wanted}})
    # then
    assert codes == codes_where(rows, lambda r: r.code in wanted)


async def test_filter_not_in(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_catalogue(db)
    # when
    codes = await codes_matching(client, {"status": {"notIn": ["IMPLEMENTATION", "CLOSED"]}})
    # then
    expected = codes_where(rows, lambda r: r.status not in (Status.IMPLEMENTATION, Status.CLOSED))
    assert codes == expected
    assert expected


async def test_filter_date_range_includes_both_bounds(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_catalogue(db)
    low, high = SPECS[1].planned_start, SPECS[5].planned_start
    assert low is not None and high is not None
    # when
    codes = await codes_matching(
        client, {"plannedStart": {"gte": low.isoformat(), "lte": high.isoformat()}}
    )
    # then
    expected = codes_where(
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
    rows = await make_catalogue(db)
    # when
    codes = await codes_matching(client, {"title": {"contains": "rURAL"}})
    # then
    assert codes == codes_where(rows, lambda r: "rural" in r.title.lower())
    assert len(codes) == 2


async def test_filter_contains_takes_percent_literally(db: Database, client: GraphQLClient) -> None:
    # given: "Rural 100% Solar" and "Rural 1000 Solar"
    rows = await make_catalogue(db)
    # when
    codes = await codes_matching(client, {"title": {"contains": "0% s"}})
    # then
    assert codes == codes_where(rows, lambda r: "0% s" in r.title.lower())
    assert len(codes) == 1


async def test_filter_contains_takes_underscore_literally(
    db: Database, client: GraphQLClient
) -> None:
    # given: "Clean_Water" and "CleanXWater"
    rows = await make_catalogue(db)
    # when
    codes = await codes_matching(client, {"title": {"contains": "N_w"}})
    # then
    assert codes == codes_where(rows, lambda r: "n_w" in r.title.lower())
    assert len(codes) == 1


async def test_filter_starts_with_ignores_case_and_wildcards(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await make_catalogue(db)
    # when
    codes = await codes_matching(client, {"title": {"startsWith": "CLEAN_"}})
    # then
    assert codes == codes_where(rows, lambda r: r.title.lower().startswith("clean_"))
    assert len(codes) == 1


@pytest.mark.parametrize("is_null", [True, False])
async def test_filter_is_null(db: Database, client: GraphQLClient, is_null: bool) -> None:
    # given
    rows = await make_catalogue(db)
    # when
    codes = await codes_matching(client, {"focusArea": {"isNull": is_null}})
    # then
    assert codes == codes_where(rows, lambda r: (r.focus_area is None) is is_null)
    assert codes


async def test_filter_and_or_not_combined(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_catalogue(db)
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
    codes = await codes_matching(client, filter_)
    # then
    expected = codes_where(
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
    rows = await make_catalogue(db)
    async with db.sessions() as session, session.begin():
        youth, elderly = await f.beneficiary_group(session), await f.beneficiary_group(session)
        await f.beneficiary_figure(session, rows[0], youth, unit="people")
        await f.beneficiary_figure(session, rows[0], youth, unit="households")
        await f.beneficiary_figure(session, rows[2], youth)
        await f.beneficiary_figure(session, rows[4], elderly)
    served = {rows[0].id, rows[2].id}
    # when
    codes = await codes_matching(client, {"beneficiaryGroup": {"code": {"eq": youth.code}}})
    # then: once each, however many figures
    assert codes == codes_where(rows, lambda r: r.id in served)


async def test_filter_initiatives_by_budget_line_amount(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await make_catalogue(db)
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
    codes = await codes_matching(client, {"budgetLine": {"amount": {"gt": "250.00"}}})
    # then
    assert codes == codes_where(
        rows, lambda r: any(Decimal(a) > Decimal("250.00") for a in lines.get(r.id, []))
    )
    assert len(codes) == 2


async def test_filter_transactions_by_initiative(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_catalogue(db)
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
    rows = await make_catalogue(db)
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
    await make_catalogue(db)
    edges = (await fetch_page(client))["edges"]
    chosen = [edges[1]["node"], edges[4]["node"]]
    # when
    page = await fetch_page(client, filter={"id": {"in": [node["id"] for node in chosen]}})
    # then
    assert [edge["node"] for edge in page["edges"]] == chosen
    assert page["totalCount"] == 2


async def test_filter_by_an_id_of_another_type_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await make_catalogue(db)
    program_id = (await client.data("{ programs { nodes { id } } }"))["programs"]["nodes"][0]["id"]
    # when
    error = await client.error(INITIATIVES_PAGE, {"filter": {"id": {"in": [program_id]}}})
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

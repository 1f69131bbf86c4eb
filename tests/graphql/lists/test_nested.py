"""Nested connections page per parent: each programme's initiatives, each initiative's
budget lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.lists.common import INITIATIVE_BUDGET_LINES, PROGRAM_INITIATIVES


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
    # given: two programmes whose initiatives interleave (sorted by their number within
    # the programme, then ID)
    async with db.sessions() as session, session.begin():
        programs = [await f.program(session) for _ in range(2)]
        own: dict[str, list[tuple[int, int, str]]] = {p.ref: [] for p in programs}
        for i in range(7):
            parent = programs[i % 2]
            made = await f.initiative(session, parent)
            own[parent.ref].append((made.position, made.id, made.code))
    first = (await client.data(PROGRAM_INITIATIVES, {"first": 2}))["programs"]["nodes"]
    after = first[0]["initiatives"]["pageInfo"]["endCursor"]
    cursor_row = sorted(own[programs[0].ref])[1]
    # when: the first programme's cursor, for every programme at once
    second = (await client.data(PROGRAM_INITIATIVES, {"first": 2, "after": after}))["programs"]
    # then: its own next page for the first programme; for every other, the initiatives
    # that sort after the cursor's row (a cursor names a place in the order)
    assert [n["code"] for n in second["nodes"][0]["initiatives"]["nodes"]] == [
        code for _, _, code in sorted(own[programs[0].ref])[2:4]
    ]
    for node in second["nodes"]:
        rows = sorted(own[node["ref"]])
        assert [n["code"] for n in node["initiatives"]["nodes"]] == [
            code for position, id_, code in rows if (position, id_) > cursor_row[:2]
        ][:2]
        assert node["initiatives"]["totalCount"] == len(rows)
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
    # when: one line per page, each initiative with its own cursors (the others' pages
    # in the same answers are read too, with the same statement)
    seen: dict[str, list[str]] = {a.code: [], b.code: []}
    totals: dict[str, set[int]] = {a.code: set(), b.code: set()}
    for code in seen:
        after: str | None = None
        for _ in range(10):
            nodes = (await client.data(INITIATIVE_BUDGET_LINES, {"after": after}))["initiatives"]
            (lines,) = [n["budgetLines"] for n in nodes["nodes"] if n["code"] == code]
            seen[code] += [line["periodStart"] for line in lines["nodes"]]
            totals[code].add(lines["totalCount"])
            if not lines["pageInfo"]["hasNextPage"]:
                break
            after = lines["pageInfo"]["endCursor"]
    # then: each initiative saw its own lines in order, and its own total on every page
    assert seen == expected
    assert totals == {code: {len(ys)} for code, ys in years.items()}

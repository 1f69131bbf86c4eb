"""Relay paging of a list: forward and backward, page sizes, cursors, and every
combination of page arguments against the Relay algorithm."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from sqlalchemy import delete

from app import models as m
from app.config import Settings
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.lists.common import (
    INITIATIVES_PAGE,
    Status,
    backward_pages,
    codes_of,
    fetch_page,
    forward_pages,
    make_initiatives,
)


async def test_paging_forward_visits_every_item_once_in_order(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await make_initiatives(db, 25)
    # when
    pages = await forward_pages(client, 10)
    # then
    visited = [code for page in pages for code in codes_of(page["edges"])]
    assert visited == [row.code for row in rows]
    assert [len(page["edges"]) for page in pages] == [10, 10, 5]


async def test_page_info_is_right_on_first_middle_and_last_page(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await make_initiatives(db, 25)
    # when
    first, middle, last = await forward_pages(client, 10)
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
    rows = await make_initiatives(db, 25)
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(3):
            await f.initiative(session, program, status=Status.PIPELINE)
    only = {"status": {"eq": "IMPLEMENTATION"}}
    # when
    pages = await forward_pages(client, 10, filter=only)
    # then
    assert {page["totalCount"] for page in pages} == {len(rows)}
    assert sum(len(page["edges"]) for page in pages) == len(rows)


async def test_paging_backward_gives_the_forward_pages_in_reverse(
    db: Database, client: GraphQLClient
) -> None:
    # given
    rows = await make_initiatives(db, 25)
    forward = await forward_pages(client, 5)
    # when
    backward = await backward_pages(client, 5)
    # then
    assert [codes_of(p["edges"]) for p in reversed(backward)] == [
        codes_of(p["edges"]) for p in forward
    ]
    assert backward[0]["pageInfo"]["hasNextPage"] is False
    assert all(page["pageInfo"]["hasNextPage"] for page in backward[1:])
    assert {page["totalCount"] for page in backward} == {len(rows)}


async def test_last_alone_gives_the_tail(db: Database, client: GraphQLClient) -> None:
    # given
    rows = await make_initiatives(db, 25)
    # when
    page = await fetch_page(client, last=3)
    # then
    assert codes_of(page["edges"]) == [row.code for row in rows[-3:]]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["totalCount"] == len(rows)


async def test_default_page_size_applies_without_first_or_last(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await make_initiatives(db, settings.default_page_size + 5)
    # when
    page = await fetch_page(client)
    # then
    assert codes_of(page["edges"]) == [row.code for row in rows[: settings.default_page_size]]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == len(rows)


async def test_first_up_to_the_maximum_is_accepted(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await make_initiatives(db, 3)
    # when
    page = await fetch_page(client, first=settings.max_page_size)
    # then
    assert codes_of(page["edges"]) == [row.code for row in rows]


async def test_first_over_the_maximum_is_refused_and_names_the_limit(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    await make_initiatives(db, 1)
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
    await make_initiatives(db, 1)
    # when
    error = await client.error(INITIATIVES_PAGE, {argument: -1})
    # then
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_first_and_last_together_are_refused(db: Database, client: GraphQLClient) -> None:
    # given
    await make_initiatives(db, 1)
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
    await make_initiatives(db, 1)
    # when
    error = await client.error(INITIATIVES_PAGE, {argument: cursor})
    # then
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert error["extensions"]["field"] == argument


async def test_an_id_is_not_a_cursor(db: Database, client: GraphQLClient) -> None:
    # given
    await make_initiatives(db, 2)
    some_id = (await fetch_page(client))["edges"][0]["node"]["id"]
    # when
    error = await client.error(INITIATIVES_PAGE, {"after": some_id})
    # then
    assert error["extensions"]["code"] == "INVALID_CURSOR"


async def test_a_cursor_past_the_end_gives_an_empty_page_with_the_total(
    db: Database, client: GraphQLClient
) -> None:
    # given: a cursor at the end of a 25-item list, used on a 5-item filtered list
    rows = await make_initiatives(db, 25)
    end = (await fetch_page(client, first=100))["pageInfo"]["endCursor"]
    few = {"code": {"in": [row.code for row in rows[:5]]}}
    # when
    page = await fetch_page(client, first=10, after=end, filter=few)
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
    rows = await make_initiatives(db, 25)
    # when
    page = await fetch_page(client, first=0)
    # then
    assert page["edges"] == []
    assert page["totalCount"] == len(rows)


@pytest.mark.parametrize(("size", "more"), [("first", "hasNextPage"), ("last", "hasPreviousPage")])
async def test_a_zero_page_of_a_non_empty_list_says_there_is_more(
    db: Database, client: GraphQLClient, size: str, more: str
) -> None:
    # given
    await make_initiatives(db, 3)
    # when
    page = await fetch_page(client, **{size: 0})
    # then
    assert page["pageInfo"][more] is True


async def test_a_cursor_no_list_could_have_issued_is_invalid(
    db: Database, client: GraphQLClient
) -> None:
    # given: a cursor of this list whose row ID no key could hold
    await make_initiatives(db, 3)
    real = (await fetch_page(client, first=1))["pageInfo"]["endCursor"]
    tag, *values = json.loads(base64.urlsafe_b64decode(real))
    text = json.dumps([tag, *values[:-1], 10**30], separators=(",", ":"))
    far = base64.urlsafe_b64encode(text.encode()).decode()
    # when
    error = await client.error(INITIATIVES_PAGE, {"first": 10, "after": far})
    # then: refused as a cursor, before it reaches the database
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert "SELECT" not in error["message"]


NESTED_LAST_BEFORE = """
query($before: String) {
  initiatives(orderBy: [{field: CODE}]) { nodes {
    code
    budgetLines(last: 2, before: $before, orderBy: [{field: AMOUNT}]) {
      totalCount
      pageInfo { hasPreviousPage hasNextPage }
      nodes { amount { amount } }
      edges { cursor }
    }
  } }
}
"""


async def test_last_before_a_cursor_past_a_shorter_list_gives_its_tail(
    db: Database, client: GraphQLClient
) -> None:
    # given: one initiative with six lines, one with two; one cursor serves both lists:
    # that of the long list's fifth line (14.00), before which both lists have lines
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code, count in (("A", 6), ("B", 2)):
            initiative = await f.initiative(session, program, code=code)
            for i in range(count):
                await f.budget_line(session, initiative, amount=Decimal(10 + i))
    whole = await client.data(NESTED_LAST_BEFORE.replace("last: 2", "first: 10"), {})
    long_edges = whole["initiatives"]["nodes"][0]["budgetLines"]["edges"]
    before = long_edges[4]["cursor"]
    # when
    nodes = (await client.data(NESTED_LAST_BEFORE, {"before": before}))["initiatives"]["nodes"]
    # then: the two lines before 14.00 of the long list; the short list's whole tail
    long_list, short_list = (n["budgetLines"] for n in nodes)
    assert [x["amount"]["amount"] for x in long_list["nodes"]] == ["12.00", "13.00"]
    assert long_list["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": True}
    assert [x["amount"]["amount"] for x in short_list["nodes"]] == ["10.00", "11.00"]
    assert short_list["totalCount"] == 2
    assert short_list["pageInfo"] == {"hasPreviousPage": False, "hasNextPage": False}


async def test_every_combination_of_page_arguments_agrees_with_the_relay_algorithm(
    db: Database, client: GraphQLClient
) -> None:
    # given: eight initiatives, the cursors of each, then the first and the last
    # removed: their cursors now sort before and past the list of six
    rows = await make_initiatives(db, 8)
    codes = sorted(r.code for r in rows)
    query = """query($first: Int, $after: String, $last: Int, $before: String) {
      initiatives(first: $first, after: $after, last: $last, before: $before,
                  orderBy: [{field: CODE}]) { totalCount nodes { code } edges { cursor } } }"""
    edges = (await client.data(query, {"first": 8}))["initiatives"]["edges"]
    cursor_of = dict(zip(codes, (e["cursor"] for e in edges), strict=True))
    async with db.sessions() as session, session.begin():
        gone = (codes[0], codes[-1])
        await session.execute(delete(m.Initiative).where(m.Initiative.code.in_(gone)))
    codes = codes[1:-1]
    cursors: list[str | None] = [None, gone[0], codes[0], codes[2], codes[4], codes[5], gone[1]]
    sizes: list[int | None] = [None, 0, 2, 7]
    for after in cursors:
        for before in cursors:
            for first in sizes:
                for last in sizes:
                    if first is not None and last is not None:
                        continue
                    # the reference: cut by the cursors, then take first / last n
                    expected = [
                        c
                        for c in codes
                        if (after is None or c > after) and (before is None or c < before)
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
                        "after": None if after is None else cursor_of[after],
                        "before": None if before is None else cursor_of[before],
                    }
                    page = (await client.data(query, variables))["initiatives"]
                    # then
                    got = [n["code"] for n in page["nodes"]]
                    assert got == expected, variables
                    assert page["totalCount"] == len(codes)

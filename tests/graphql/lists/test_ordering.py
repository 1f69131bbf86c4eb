"""Ordering: several keys, a stable order across calls and pages, nulls last, and text
sorted alike on every backend and locale."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.lists.common import (
    INITIATIVES_PAGE,
    MILESTONES_ORDERED,
    Status,
    codes_of,
    fetch_page,
    forward_pages,
)

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
    page = await fetch_page(client, first=100, orderBy=STATUS_THEN_TITLE)
    # then
    assert codes_of(page["edges"]) == _by_status_then_title_desc(rows)


async def test_order_is_identical_across_calls_and_pages(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _ordering_rows(db)
    whole = codes_of((await fetch_page(client, first=100, orderBy=STATUS_THEN_TITLE))["edges"])
    # when
    again = codes_of((await fetch_page(client, first=100, orderBy=STATUS_THEN_TITLE))["edges"])
    paged = await forward_pages(client, 4, orderBy=STATUS_THEN_TITLE)
    # then
    assert again == whole
    assert [code for page in paged for code in codes_of(page["edges"])] == whole


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
    page = await fetch_page(client, first=100, orderBy=order)
    # then: region and focus area are equal on every row, position is unique and follows id
    assert codes_of(page["edges"]) == _by_status_then_title_desc(rows)


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

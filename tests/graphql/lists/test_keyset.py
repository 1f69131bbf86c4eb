"""Keyset cursors (app/kit/keyset.py): a cursor names its row by its sort values, so a
client paging through a list while rows are recorded and removed sees every row that
stayed exactly once; cursors serve only the list and orderBy that issued them; both
read paths (compiled and reference) give the same cursors and page info."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete

from app import models as m
from app.db.session import StatementCounter
from app.kit.ids import decode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

ROOT_LINES = """
query($first: Int, $after: String, $last: Int, $before: String, $orderBy: [BudgetLineOrder!]) {
  budgetLines(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id category amount { amount } } }
  }
}
"""

NESTED_LINES = """
query($first: Int, $after: String, $last: Int, $before: String, $orderBy: [BudgetLineOrder!]) {
  initiatives(first: 10, orderBy: [{field: CODE}]) { nodes { code
    budgetLines(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id category amount { amount } } }
    }
  } }
}
"""

ROOT_TRANSACTIONS = """
query($first: Int, $after: String, $orderBy: [TransactionOrder!]) {
  transactions(first: $first, after: $after, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id date amount { amount } } }
  }
}
"""

ORDERS: list[list[dict[str, str]] | None] = [
    None,
    [{"field": "CATEGORY", "direction": "DESC"}],
    [{"field": "CATEGORY"}, {"field": "AMOUNT", "direction": "DESC"}],
    [{"field": "AMOUNT"}],
]
# Categories with NULLs, case variants and ties, so that every term of a text key counts.
CATEGORIES = [None, "beta", "Alpha", None, "alpha", "Beta", "gamma", "beta", None, "Éclair"]


async def _lines(db: Database, initiative: m.Initiative, start: int, count: int) -> list[int]:
    async with db.sessions() as session, session.begin():
        made = [
            await f.budget_line(
                session,
                initiative,
                category=CATEGORIES[(start + i) % len(CATEGORIES)],
                amount=Decimal((start + i) * 7 % 11) + Decimal("0.50"),
            )
            for i in range(count)
        ]
        return [line.id for line in made]


async def _initiative(db: Database) -> m.Initiative:
    async with db.sessions() as session, session.begin():
        return await f.initiative(session, await f.program(session))


async def _delete(db: Database, ids: list[int]) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(delete(m.BudgetLine).where(m.BudgetLine.id.in_(ids)))


def _page(data: dict[str, Any], nested: bool) -> dict[str, Any]:
    if nested:
        return data["initiatives"]["nodes"][0]["budgetLines"]  # type: ignore[no-any-return]
    return data["budgetLines"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "reference"])
@pytest.mark.parametrize("nested", [False, True], ids=["root", "nested"])
@pytest.mark.parametrize("order", ORDERS, ids=["default", "category-desc", "cat-amount", "amount"])
async def test_rows_recorded_and_removed_between_pages_shift_nothing(
    db: Database,
    client_with: Callable[..., GraphQLClient],
    compiled: bool,
    nested: bool,
    order: list[dict[str, str]] | None,
) -> None:
    # given: twelve lines, and a client reading them four at a time
    client = client_with(compiled_reads=compiled)
    initiative = await _initiative(db)
    stayed = set(await _lines(db, initiative, 0, 12))
    query = NESTED_LINES if nested else ROOT_LINES
    seen: list[int] = []
    after: str | None = None
    made = 12
    for turn in range(20):
        page = _page(
            await client.data(query, {"first": 4, "after": after, "orderBy": order}), nested
        )
        seen += [decode_global_id(edge["node"]["id"])[1] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        # when: between two pages, three lines are recorded (sorting anywhere), one
        # already seen and one not yet seen are removed, and the cursor's own row too
        await _lines(db, initiative, made, 3)
        made += 3
        gone = [seen[0], *(sorted(stayed - set(seen))[:1]), seen[-1]] if turn < 2 else []
        await _delete(db, gone)
        stayed -= set(gone)
    # then: no line twice, every line that stayed throughout seen, in the list's order
    assert len(seen) == len(set(seen)), seen
    assert stayed <= set(seen)
    final = _page(await client.data(query, {"first": 100, "orderBy": order}), nested)
    order_now = [decode_global_id(edge["node"]["id"])[1] for edge in final["edges"]]
    still = [row for row in seen if row in set(order_now)]
    assert still == [row for row in order_now if row in set(still)]


async def test_transactions_recorded_while_paging_newest_first_are_not_seen_twice(
    db: Database, client: GraphQLClient
) -> None:
    # given: ten transactions on ten days, read newest first, three at a time
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        made = [
            await f.transaction(session, initiative, transaction_date=date(2024, 1, 1 + i))
            for i in range(10)
        ]
        before = {t.id for t in made}
    order = [{"field": "DATE", "direction": "DESC"}]
    seen: list[int] = []
    after: str | None = None
    for day in range(20):
        page = await client.data(ROOT_TRANSACTIONS, {"first": 3, "after": after, "orderBy": order})
        seen += [decode_global_id(e["node"]["id"])[1] for e in page["transactions"]["edges"]]
        if not page["transactions"]["pageInfo"]["hasNextPage"]:
            break
        after = page["transactions"]["pageInfo"]["endCursor"]
        # when: a newer transaction is recorded between two pages (it sorts first)
        async with db.sessions() as session, session.begin():
            await f.transaction(session, initiative, transaction_date=date(2024, 2, 1 + day))
    # then: every earlier transaction once, newest first, none of the newer ones
    assert seen == sorted(before, key=lambda i: -i)


async def test_both_read_paths_give_the_same_cursors_and_page_info(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: two initiatives with lines, and a client per read path
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiatives = [await f.initiative(session, program) for _ in range(2)]
    for i, initiative in enumerate(initiatives):
        await _lines(db, initiative, i * 5, 9 - 3 * i)
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    for nested in (False, True):
        query = NESTED_LINES if nested else ROOT_LINES
        for order in ORDERS:
            whole = _page(await reference.data(query, {"first": 100, "orderBy": order}), nested)
            cursors = [e["cursor"] for e in whole["edges"][::3]]
            # no bound, one bound, two bounds a window apart, and two bounds crossed
            bounds = [
                (None, None),
                *((after, None) for after in cursors),
                *((None, before) for before in cursors),
                *zip(cursors, cursors[2:], strict=False),
                (cursors[-1], cursors[0]),
            ]
            for after, before in bounds:
                for size in ({"first": 2}, {"last": 2}, {"first": 0}, {"last": 0}):
                    variables = {**size, "after": after, "before": before, "orderBy": order}
                    # when
                    got = await compiled.data(query, variables)
                    # then: the same answer, byte for byte
                    assert got == await reference.data(query, variables), variables


async def test_a_position_cursor_from_before_asks_to_start_again(
    db: Database, client: GraphQLClient
) -> None:
    # given: a cursor as lists issued them before ("pos:2")
    await _lines(db, await _initiative(db), 0, 3)
    old = base64.urlsafe_b64encode(b"pos:2").decode()
    for argument in ("after", "before"):
        # when
        error = await client.error(ROOT_LINES, {argument: old})
        # then
        assert error["extensions"] == {"code": "INVALID_CURSOR", "field": argument}
        assert "first page" in error["message"]


async def test_a_cursor_serves_only_its_own_list_and_order(
    db: Database, client: GraphQLClient
) -> None:
    # given: a cursor of the root list of lines, sorted by amount
    await _lines(db, await _initiative(db), 0, 3)
    by_amount = [{"field": "AMOUNT"}]
    page = (await client.data(ROOT_LINES, {"first": 1, "orderBy": by_amount}))["budgetLines"]
    cursor = page["pageInfo"]["endCursor"]
    for query, order in (
        (ROOT_LINES, [{"field": "AMOUNT", "direction": "DESC"}]),  # another direction
        (ROOT_LINES, None),  # the default order
        (NESTED_LINES, by_amount),  # another list, though of the same rows
    ):
        # when
        error = await client.error(query, {"first": 1, "after": cursor, "orderBy": order})
        # then
        assert error["extensions"]["code"] == "INVALID_CURSOR"
        assert "orderBy" in error["message"]
    # and with its own order it pages on
    assert (await client.data(ROOT_LINES, {"after": cursor, "orderBy": by_amount}))["budgetLines"][
        "pageInfo"
    ]["hasPreviousPage"]


async def test_an_overly_long_or_forged_cursor_is_refused_before_the_database(
    db: Database, client: GraphQLClient
) -> None:
    # given: a real cursor, one with an ID no column holds, and one far too long
    await _lines(db, await _initiative(db), 0, 3)
    page = (await client.data(ROOT_LINES, {"first": 1}))["budgetLines"]
    tag, *values = json.loads(base64.urlsafe_b64decode(page["pageInfo"]["endCursor"]))
    for forged in (
        [tag, *values[:-1], 10**30],  # an ID past any 64-bit key
        [tag, *values[:-1], "7"],  # an ID spelled as text
        [tag, *values, 1],  # a value too many
    ):
        text = json.dumps(forged, separators=(",", ":"))
        cursor = base64.urlsafe_b64encode(text.encode()).decode()
        # when
        error = await client.error(ROOT_LINES, {"after": cursor})
        # then
        assert error["extensions"]["code"] == "INVALID_CURSOR", forged
        assert "SELECT" not in error["message"]
    error = await client.error(ROOT_LINES, {"after": "A" * 20_000})
    assert error["extensions"]["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "reference"])
async def test_a_page_after_a_cursor_is_one_statement_per_list_level(
    db: Database, client_with: Callable[..., GraphQLClient], compiled: bool
) -> None:
    # given: lines of two initiatives, and cursors of a first page of each list
    client = client_with(compiled_reads=compiled)
    for _ in range(2):
        await _lines(db, await _initiative(db), 0, 5)
    order = [{"field": "CATEGORY", "direction": "DESC"}]
    root = (await client.data(ROOT_LINES, {"first": 2, "orderBy": order}))["budgetLines"]
    nested = _page(await client.data(NESTED_LINES, {"first": 2, "orderBy": order}), True)
    await read_row_counts(client)
    without_total = ROOT_LINES.replace("totalCount", "")
    for query, cursor, expected in (
        (without_total, root["pageInfo"]["endCursor"], 1),  # the page
        (ROOT_LINES, root["pageInfo"]["endCursor"], 2),  # and the total
        (NESTED_LINES, nested["pageInfo"]["endCursor"], 2),  # initiatives, their lines
    ):
        # when
        with StatementCounter(db.engine) as counter:
            await client.data(query, {"first": 2, "after": cursor, "orderBy": order})
        # then: the compiled path's answer is written by one statement
        # (app/graphql/compiled/in_database.py)
        assert counter.count == (1 if compiled else expected), query

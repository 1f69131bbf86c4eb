"""Counting without paging: `totalCount` and `aggregate { count }` count the matching
rows with COUNT(*) under the list's filter; no statement numbers a whole table with a
window function (ROW_NUMBER() or COUNT(*) OVER) to answer them."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from app.db.session import StatementCounter
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

QUERIES = {
    "aggregate count": "{ transactions { aggregate { count } } }",
    "aggregate count, no page": "{ transactions(first: 0) { aggregate { count } } }",
    "total of one page": "{ transactions(first: 1) { totalCount nodes { id } } }",
    "total of a filtered page": (
        '{ transactions(first: 2, filter: {currency: {eq: "CNY"}}) '
        "{ totalCount aggregate { count } nodes { id } } }"
    ),
    "total of a joined list": (
        "{ beneficiaryGroups(first: 5) { nodes { initiatives(first: 1) { totalCount } } } }"
    ),
}
EXPECTED = {
    "aggregate count": {"transactions": {"aggregate": {"count": 7}}},
    "aggregate count, no page": {"transactions": {"aggregate": {"count": 7}}},
    "total of one page": 7,
    "total of a filtered page": 3,
    "total of a joined list": 1,
}


# How in_database.py numbers a page's rows on SQLite: their place and how many there are.
_PAGE_NUMBERS = re.compile(
    r"row_number\(\) OVER \(ORDER BY paged\.[^)]*\) AS n\b|count\(\*\) OVER \(\) AS m\b"
)


async def _ledger(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        group = await f.beneficiary_group(session)
        await f.beneficiary_figure(session, initiative, group)
        for n in range(7):
            await f.transaction(
                session,
                initiative,
                amount=Decimal(n),
                currency="CNY" if n % 2 else "USD",
                transaction_date=date(2022, 1, 1 + n),
            )


@pytest.mark.parametrize("name", list(QUERIES))
async def test_counts_are_counted_not_numbered(
    db: Database, client: GraphQLClient, name: str
) -> None:
    # given: seven transactions, three in CNY, of an initiative serving one group
    await _ledger(db)
    await read_row_counts(client)
    # when
    with StatementCounter(db.engine) as counter:
        data = await client.data(QUERIES[name])
    # then: the count is right, and no statement numbered rows to find it
    expected = EXPECTED[name]
    if name == "total of one page":
        assert data["transactions"]["totalCount"] == expected
    elif name == "total of a filtered page":
        assert data["transactions"]["totalCount"] == expected
        assert data["transactions"]["aggregate"]["count"] == expected
        assert len(data["transactions"]["nodes"]) == 2
    elif name == "total of a joined list":
        (group,) = data["beneficiaryGroups"]["nodes"]
        assert group["initiatives"]["totalCount"] == expected
    else:
        assert data == expected
    # (An answer SQLite writes numbers the rows of each page, cut by its LIMIT already:
    # app/graphql/compiled/in_database.py.)
    numbered = [s for s in counter.statements if " OVER (" in _PAGE_NUMBERS.sub("", s).upper()]
    if name == "total of a joined list" and db.backend == "sqlite":
        # SQLite has no LATERAL: a nested list's pages are numbered per parent (only
        # the rows of the parents asked for).
        return
    assert numbered == []

"""One snapshot per operation: every statement of a query reads the same committed
state, so totals, groups and nested lists agree while a writer commits (issue 13,
item 9)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sqlalchemy import event

from app import models as m
from app.db.session import StatementCounter
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

# Each root field and each nested list is a statement of its own (loaders batch by
# kind, not across kinds): the summary's total and groups, the list's count, page and
# aggregate, and each initiative's own transactions and figures.
REPORT = """
{
  budgetSummary(groupBy: [INITIATIVE]) {
    total { disbursed { amount } count }
    groups { measures { disbursed { amount } count } }
  }
  transactions(first: 100) {
    totalCount
    nodes { amount { amount } }
    aggregate { count sum { amount { amount } } }
  }
  initiatives {
    nodes {
      transactions(first: 100) { totalCount nodes { amount { amount } } }
      budgetSummary: transactions { aggregate { sum { amount { amount } } } }
    }
  }
}"""

READS = 25
WRITES = 95


def _money(value: dict[str, Any] | None) -> Decimal:
    return Decimal(value["amount"]) if value is not None else Decimal(0)


def _figures(data: dict[str, Any]) -> dict[str, Decimal]:
    """Each way the answer states the money disbursed, and how many records it covers."""
    summary = data["budgetSummary"]
    listing = data["transactions"]
    nested = data["initiatives"]["nodes"]
    return {
        "summary total": _money(summary["total"]["disbursed"]),
        "summary groups": sum(
            (_money(g["measures"]["disbursed"]) for g in summary["groups"]), Decimal(0)
        ),
        "list page": sum((_money(t["amount"]) for t in listing["nodes"]), Decimal(0)),
        "list aggregate": _money(listing["aggregate"]["sum"]["amount"]),
        "nested pages": sum(
            (_money(t["amount"]) for i in nested for t in i["transactions"]["nodes"]), Decimal(0)
        ),
        "nested aggregates": sum(
            (_money(i["budgetSummary"]["aggregate"]["sum"]["amount"]) for i in nested),
            Decimal(0),
        ),
        "list count": Decimal(listing["totalCount"]),
        "list aggregate count": Decimal(listing["aggregate"]["count"]),
        "page length": Decimal(len(listing["nodes"])),
        "nested counts": Decimal(sum(i["transactions"]["totalCount"] for i in nested)),
        "summary count": Decimal(summary["total"]["count"]),
    }


async def test_a_query_reads_one_snapshot_while_a_writer_commits(
    client: GraphQLClient, db: Database
) -> None:
    # given: two initiatives, each with a transaction, and a writer that keeps adding
    # transactions to them, one commit each
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiatives = [await f.initiative(session, program) for _ in range(2)]
        for initiative in initiatives:
            await f.transaction(session, initiative, amount=Decimal("1.00"))
        ids = [i.id for i in initiatives]
    stop = asyncio.Event()
    commits = 0

    async def writer() -> None:
        nonlocal commits
        # At most a page's worth: the page must hold the whole list to be summed.
        while not stop.is_set() and commits < WRITES:
            async with db.sessions() as session, session.begin():
                initiative = await session.get(m.Initiative, ids[commits % 2])
                assert initiative is not None
                await f.transaction(session, initiative, amount=Decimal("1.00"))
            commits += 1
            await asyncio.sleep(0)

    # when: the report is read again and again while the writer commits
    task = asyncio.create_task(writer())
    answers: list[dict[str, Decimal]] = []
    try:
        for _ in range(READS):
            answers.append(_figures(await client.data(REPORT)))
    finally:
        stop.set()
        await task

    # then: every answer agrees with itself, and the answers did see the writes
    seen = {a["summary total"] for a in answers}
    assert len(seen) > READS // 2, (commits, sorted(seen))
    # (Each transaction is 1.00, so every sum equals every count.)
    torn = [a for a in answers if len(set(a.values())) != 1]
    assert not torn, f"{len(torn)} of {READS} answers disagree with themselves: {torn[0]}"


async def test_a_query_opens_one_connection_and_sends_no_more_statements(
    client: GraphQLClient, db: Database
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(3):
            initiative = await f.initiative(session, program)
            await f.transaction(session, initiative)
    await read_row_counts(client)  # read once per app: not the request's own statement
    checkouts = 0

    def checkout(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    # when
    event.listen(db.engine.sync_engine.pool, "checkout", checkout)
    try:
        with StatementCounter(db.engine) as counter:
            await client.data(REPORT)
    finally:
        event.remove(db.engine.sync_engine.pool, "checkout", checkout)

    # then: one connection for the whole operation; statements are the data's only
    # (BEGIN and ROLLBACK are the driver's, outside the count, one pair per operation)
    assert checkouts == 1
    opening = ("BEGIN", "SAVEPOINT")
    assert all(not s.lstrip().upper().startswith(opening) for s in counter.statements)

"""No N+1: a nested query costs the same number of SQL statements at any data size."""

from __future__ import annotations

from app.db.session import StatementCounter
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

NESTED_REPORT = """
query {
  programs(first: 20) {
    totalCount
    nodes {
      name
      sponsor { name }
      allocated { amount currency }
      initiatives(first: 20) {
        totalCount
        nodes {
          code
          budget { amount currency }
          program { name }
          budgetLines(first: 20) {
            totalCount
            nodes {
              amount { amount currency }
              initiative { code }
              transactions(first: 20) {
                totalCount
                nodes { type amount { amount currency } budgetLine { id } }
              }
            }
          }
        }
      }
    }
  }
}
"""


async def _build(
    db: Database, programs: int, initiatives: int, lines: int, transactions: int
) -> None:
    async with db.sessions() as session, session.begin():
        for _ in range(programs):
            program = await f.program(session)
            for _ in range(initiatives):
                initiative = await f.initiative(session, program)
                for _ in range(lines):
                    line = await f.budget_line(session, initiative)
                    for _ in range(transactions):
                        await f.transaction(session, initiative, budget_line_id=line.id)


async def _statements(db: Database, client: GraphQLClient) -> tuple[int, dict[str, object]]:
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as counter:
        data = await client.data(NESTED_REPORT)
    return counter.count, data


async def test_four_level_query_costs_the_same_statements_at_two_sizes(
    db: Database, client: GraphQLClient
) -> None:
    # given: a small programme
    await _build(db, programs=1, initiatives=2, lines=2, transactions=2)
    small_count, small = await _statements(db, client)
    # when: the data grows in every dimension
    await _build(db, programs=3, initiatives=4, lines=3, transactions=3)
    large_count, large = await _statements(db, client)
    # then: the number of statements does not grow with it
    assert small["programs"]["totalCount"] == 1  # type: ignore[index]
    assert large["programs"]["totalCount"] == 4  # type: ignore[index]
    transactions = [
        t
        for p in large["programs"]["nodes"]  # type: ignore[index]
        for i in p["initiatives"]["nodes"]
        for b in i["budgetLines"]["nodes"]
        for t in b["transactions"]["nodes"]
    ]
    assert len(transactions) == 1 * 2 * 2 * 2 + 3 * 4 * 3 * 3
    assert small_count == large_count
    # one statement per list level and per kind of to-one lookup, one for the root
    # list's totalCount (app/kit/pagination.py), one per kind of figures (programme,
    # initiative) for whether the budget rollups hold their currency
    # (app/reports/budget/rollups.py `readable`), nothing per row
    assert large_count <= 13, large_count

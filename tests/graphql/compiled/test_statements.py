"""The compiled read path reads a nested report with one SQL statement per level of
lists, however many records each level holds (issue 15)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from app import models as m
from app.db.session import StatementCounter
from app.graphql.compiled.executor import PATHS
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

INITIATIVES, LINES, TRANSACTIONS = 12, 3, 4


def report(n: int, lines: int, transactions: int) -> str:
    return (
        f"{{ initiatives(first: {n}) {{ nodes {{ budgetLines(first: {lines}) {{ nodes {{ "
        f"transactions(first: {transactions}) {{ nodes {{ id }} }} }} }} }} }} }}"
    )


async def seed(db: Database) -> None:
    """INITIATIVES initiatives, each of LINES budget lines of TRANSACTIONS transactions."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(INITIATIVES):
            initiative = await f.initiative(session, program)
            for year in range(2021, 2021 + LINES):
                line = await f.budget_line(
                    session,
                    initiative,
                    period_start=date(year, 1, 1),
                    period_end=date(year, 12, 31),
                )
                session.add_all(
                    m.Transaction(
                        initiative_id=initiative.id,
                        budget_line_id=line.id,
                        type=m.TransactionType.EXPENDITURE,
                        transaction_date=date(year, 3, n + 1),
                        amount=Decimal("1.00"),
                        currency="CNY",
                        value_date=date(year, 3, n + 1),
                    )
                    for n in range(TRANSACTIONS)
                )


@pytest.mark.parametrize("n", [1, 5, INITIATIVES])
async def test_a_nested_report_costs_one_statement_per_level_of_lists(
    db: Database, client_with: Callable[..., GraphQLClient], n: int
) -> None:
    # given
    await seed(db)
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    await read_row_counts(compiled)
    query = report(n, LINES - 1, TRANSACTIONS - 1)
    before = Counter(PATHS)
    # when
    with StatementCounter(db.engine) as counter:
        data = await compiled.data(query)
    # then: answered by the compiled path, with one statement for the initiatives, one
    # for all their budget lines, one for all those lines' transactions
    assert PATHS["compiled"] == before["compiled"] + 1
    tables = [
        next(t for t in ("transactions", "budget_lines", "initiatives") if t in s)
        for s in counter.statements
    ]
    assert tables == ["initiatives", "budget_lines", "transactions"], counter.statements
    # and every level holds what was asked for, as the reference executor answers it
    initiatives = data["initiatives"]["nodes"]
    assert len(initiatives) == n
    for initiative in initiatives:
        lines = initiative["budgetLines"]["nodes"]
        assert len(lines) == LINES - 1
        assert all(len(line["transactions"]["nodes"]) == TRANSACTIONS - 1 for line in lines)
    assert data == await reference.data(query)

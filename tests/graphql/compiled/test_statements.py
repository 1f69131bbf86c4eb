"""The compiled read path reads a nested report with one SQL statement, which writes the
answer (in_database.py), however many records each level holds (issue 15); on SQLite its
rows are the pieces of the answer's text."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text

from app import models as m
from app.db.session import StatementCounter
from app.db.shared import any_statements, one_statement, read_snapshot
from app.graphql.compiled.executor import PATHS
from tests import factories as f
from tests.conftest import Database, GraphQLClient, autocommit_connections, read_row_counts

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
async def test_a_nested_report_costs_one_statement(
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
    # then: answered by the compiled path, written by one statement that reads all three
    # tables
    assert PATHS["compiled"] == before["compiled"] + 1
    assert PATHS["in database"] == before["in database"] + 1
    (statement,) = counter.statements
    assert all(f"FROM {t}" in statement for t in ("transactions", "budget_lines", "initiatives"))
    # and every level holds what was asked for, as the reference executor answers it
    initiatives = data["initiatives"]["nodes"]
    assert len(initiatives) == n
    for initiative in initiatives:
        lines = initiative["budgetLines"]["nodes"]
        assert len(lines) == LINES - 1
        assert all(len(line["transactions"]["nodes"]) == TRANSACTIONS - 1 for line in lines)
    assert data == await reference.data(query)


class DriverLog:
    """What the driver itself sends on PostgreSQL besides prepared statements: BEGIN,
    COMMIT and ROLLBACK (asyncpg's query loggers see those, not the data statements)."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self._sent: list[str] = []
        self.connections: list[Any] = []

    async def sent(self) -> list[str]:
        """What the driver sent, once its loggers have run: asyncpg calls them at the
        loop's next turn (`call_soon`), not at once, so a list read straight after the
        request may miss its last command (a ROLLBACK)."""
        for _ in range(3):
            await asyncio.sleep(0)
        return list(self._sent)

    def _logged(self, record: Any) -> None:
        self._sent.append(record.query.split()[0].upper())

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(self._logged)
        self.connections.append(driver)

    def __enter__(self) -> DriverLog:
        event.listen(self.engine, "checkout", self._checkout)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "checkout", self._checkout)
        for driver in self.connections:
            driver.remove_query_logger(self._logged)


@pytest.mark.postgres_only  # SQLite's snapshot costs no round trip
async def test_a_first_page_of_one_list_is_one_round_trip_on_postgresql(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """A read of one statement needs no snapshot: the statement is one by itself, so
    the dashboard's read, and a nested report that PostgreSQL writes, send no BEGIN and
    no ROLLBACK; a read of several statements still runs in one REPEATABLE READ
    transaction."""
    # given
    await seed(db)
    compiled = client_with(compiled_reads=True)
    await read_row_counts(compiled)
    dashboard = "{ initiatives(first: 5) { nodes { id code title } } }"
    # when
    with DriverLog(db) as driver, StatementCounter(db.engine) as counter:
        data = await compiled.data(dashboard)
    # then
    assert len(data["initiatives"]["nodes"]) == 5
    assert len(counter.statements) == 1
    assert [sent for sent in await driver.sent() if sent in ("BEGIN", "ROLLBACK")] == []
    # and the connection went back to the pool as it came: its next user's statements
    # run in a transaction
    assert db.engine.pool.checkedin() > 0  # type: ignore[attr-defined]
    assert await autocommit_connections(db) == 0
    # when: a nested report, written by PostgreSQL in one statement
    with DriverLog(db) as driver, StatementCounter(db.engine) as counter:
        await compiled.data(report(2, 1, 1))
    # then
    assert len(counter.statements) == 1
    assert [sent for sent in await driver.sent() if sent in ("BEGIN", "ROLLBACK")] == []
    # when: two lists, the inner one's last page, which only rows in Python answer:
    # two statements
    with DriverLog(db) as driver, StatementCounter(db.engine) as counter:
        await compiled.data(
            "{ initiatives(first: 2) { nodes { budgetLines(last: 1) { nodes { id } } } } }"
        )
    # then: both read one snapshot
    assert len(counter.statements) == 2
    sent = await driver.sent()
    assert sent[:1] == ["BEGIN"], sent


async def test_an_operation_handed_back_reads_a_snapshot_again(db: Database) -> None:
    """A reader that promised one statement and hands its operation to the reference
    executor (`any_statements`) leaves it a snapshot, not a connection without one."""
    snapshot = read_snapshot(db.engine)
    try:
        one_statement(snapshot.sessions)
        async with snapshot.sessions() as session:
            await session.execute(text("SELECT 1"))
        await any_statements(snapshot.sessions)
        async with snapshot.sessions() as session:
            connection = await session.connection()
            assert connection.in_transaction()
            if db.backend == "postgresql":
                isolation = await session.scalar(
                    text("SELECT current_setting('transaction_isolation')")
                )
                assert isolation == "repeatable read"
    finally:
        await snapshot.close()

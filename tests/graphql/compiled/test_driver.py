"""A dashboard's read asked again and again: its statement goes to the driver's
connection itself (app/db/shared.py `one_row`, `joined_rows`), one statement per
request, the same answer as the reference executor's, and every rule before it still
refuses what it refused (issue 15). SQLite's side of it: test_sqlite_reads.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from app.db.session import StatementCounter
from app.db.shared import (
    CHECKOUTS,
    HELD_SECONDS,
    RUNS,
    SQLITE_RUNS,
    Repeated,
    held_connections,
)
from app.graphql.compiled import in_database
from app.graphql.compiled.executor import PATHS
from tests import factories as f
from tests.conftest import Database, GraphQLClient, autocommit_connections
from tests.graphql.compiled.test_statements import DriverLog

DASHBOARD = "{ initiatives(first: 3) { nodes { id code title status plannedStart plannedEnd } } }"
# A statement that outlasts any execution limit (SQLite's never ends by itself).
SLOW = {
    "postgresql": "SELECT pg_sleep(5)::text",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c",
}


async def _seed(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(4):
            await f.initiative(session, program)


def _last_kept() -> Repeated:
    """The statement the compiled path used last (its entry moves to the end)."""
    _windows, built = next(reversed(in_database._STATEMENTS.values()))
    assert isinstance(built, Repeated)
    return built


async def test_each_request_sends_one_statement_and_answers_as_the_reference(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given
    await _seed(db)
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    expected = await reference.post(DASHBOARD)
    assert expected.status_code == 200 and "errors" not in expected.json(), expected.text
    for attempt in range(3):
        before, runs = Counter(PATHS), Counter(RUNS)
        # when
        with StatementCounter(db.engine) as counter:
            response = await compiled.post(DASHBOARD)
        # then: the same bytes, answered by the compiled path
        assert (response.status_code, response.text) == (200, expected.text)
        assert PATHS["compiled"] == before["compiled"] + 1
        # one statement, written by the database
        assert counter.count == 1, counter.statements
        assert PATHS["in database"] == before["in database"] + 1
        # from the second request on, on the driver's connection of a pooled
        # connection borrowed for it alone (the first learns what SQLAlchemy sends)
        if attempt:
            assert (RUNS - runs) == Counter(pool=1)


# Values of the types the compiled answer's could be confused with, as every read of
# the app gets them from the driver.
OTHER_VALUES = (
    'SELECT CAST(\'{"a": [1, "é"]}\' AS json) AS j, CAST(\'{"a": 1}\' AS jsonb) AS jb,'
    " CAST('乡村 \"q\"' AS text) AS t, CAST('x' AS varchar) AS v, CAST('\\x6869' AS bytea) AS b"
)


async def test_the_answer_comes_as_bytes_and_every_other_read_as_before(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: the dashboard read answered by PostgreSQL on the driver's connection, whose
    # lists come as their UTF-8 bytes (in_database.py)
    await _seed(db)
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, title='乡村振兴 "q" \\ ')
    client = client_with(compiled_reads=True)
    reference = await client_with(compiled_reads=False).post(DASHBOARD)
    runs = Counter(RUNS)
    for _ in range(2):
        response = await client.post(DASHBOARD)
        assert (response.status_code, response.content) == (200, reference.content)
    if db.backend != "postgresql":
        return  # built from rows: nothing read as bytes
    assert (RUNS - runs)["pool"] >= 1  # the first, unless another test kept it
    # when: the app's other reads, on every connection of its pool (each checkout takes
    # the connection given back longest ago: all of them in turn)
    for _ in range(db.engine.pool.checkedin() + 1):  # type: ignore[attr-defined]
        async with db.engine.connect() as connection:
            row = (await connection.exec_driver_sql(OTHER_VALUES)).one()
            # then: json decoded (SQLAlchemy's codec on the connection), text as str,
            # bytea as bytes
            assert tuple(row) == ({"a": [1, "é"]}, {"a": 1}, '乡村 "q"', "x", b"hi")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"max_query_cost": 2}, "QUERY_TOO_COSTLY"),
        ({"anonymous_read": False}, "UNAUTHENTICATED"),
        ({"persisted_operations_only": True}, "OPERATION_NOT_ALLOWED"),
        ({"max_query_depth": 1}, "QUERY_TOO_DEEP"),
    ],
    ids=["cost", "read gate", "allow-list", "depth"],
)
async def test_a_refused_operation_is_refused_once_its_read_is_kept(
    db: Database,
    client_with: Callable[..., GraphQLClient],
    overrides: dict[str, object],
    code: str,
) -> None:
    # given: the dashboard read answered twice (its plan, validation, price, window and
    # statement kept, the statement sent on the driver's connection)
    await _seed(db)
    for _ in range(2):
        assert (await client_with(compiled_reads=True).post(DASHBOARD)).status_code == 200
    refusing = client_with(compiled_reads=True, **overrides)
    before = Counter(PATHS)
    # when: the same document, to an app whose rules refuse it
    with StatementCounter(db.engine) as counter:
        response = await refusing.post(DASHBOARD)
    # then: refused, and no data statement sent
    body = response.json()
    assert body.get("data") is None, body
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]
    assert Counter(PATHS) == before  # no path answered it
    assert not [s for s in counter.statements if "initiatives" in s], counter.statements


async def test_a_database_error_on_the_driver_path_is_reported_as_a_resolvers(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: the dashboard read kept and sent once, its statement then failing in the
    # database (a division by zero on PostgreSQL, an integer overflow on SQLite)
    await _seed(db)
    client = client_with(compiled_reads=True)
    good = await client.post(DASHBOARD)
    assert good.status_code == 200 and "errors" not in good.json(), good.text
    kept = _last_kept()
    assert kept.sent is not None
    sent = kept.sent
    failing = {
        "postgresql": "SELECT 1 / (SELECT count(*) - count(*) FROM initiatives)::int",
        "sqlite": "SELECT abs(-9223372036854775807 - "
        "(SELECT count(*) - count(*) FROM initiatives) - 1)",
    }
    kept.sent = (sent[0], failing[db.backend], ())
    runs, where = Counter(RUNS), Counter(SQLITE_RUNS)
    try:
        # when
        response = await client.post(DASHBOARD)
    finally:
        kept.sent = sent
    # then: an INTERNAL error at the root field, as the reference executor reports a
    # resolver's database error, nothing of the cause; the connection is fine after
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["path"] == ["initiatives"]
    assert "division" not in response.text and "overflow" not in response.text
    assert "SELECT" not in response.text
    assert (RUNS - runs)["pool"] == (RUNS - runs)["driver"] == 0  # failed: not read
    # (on SQLite: failed on the loop, not taken for a statement stopped there)
    assert not (SQLITE_RUNS - where)
    again = await client.post(DASHBOARD)
    assert (again.status_code, again.text) == (200, good.text)


async def test_a_read_past_the_execution_limit_on_the_driver_path_is_stopped(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: the dashboard read kept and sent once, its statement then taking longer
    # than the app's execution limit
    await _seed(db)
    client = client_with(compiled_reads=True, execution_timeout_seconds=0.5)
    good = await client.post(DASHBOARD)
    assert good.status_code == 200 and "errors" not in good.json(), good.text
    kept = _last_kept()
    assert kept.sent is not None
    sent = kept.sent
    kept.sent = (sent[0], SLOW[db.backend], ())
    try:
        # when
        response = await client.post(DASHBOARD)
    finally:
        kept.sent = sent
    # then: TIMEOUT, as for any read past the limit; the next request is answered
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    for _ in range(3):
        again = await client.post(DASHBOARD)
        assert (again.status_code, again.text) == (200, good.text)


@pytest.mark.postgres_only
async def test_a_kept_read_borrows_a_pooled_connection_for_its_statement_alone(
    db: Database,
    fresh_app: tuple[GraphQLClient, Any],
    client_with: Callable[..., GraphQLClient],
) -> None:
    """The dashboard read asked again (kept: app/http/kept.py): on PostgreSQL its one
    statement runs on a connection borrowed from the pool for it alone, without
    SQLAlchemy's Connection (`one_row`, "pool"). Nothing else goes on the wire (no
    BEGIN, ROLLBACK or SET). After an answer the event loop holds the connection for
    the next kept read (`_hold`), and gives it back to the pool once idle HELD_SECONDS;
    after a statement failed in the database (INTERNAL) or ran past the execution
    deadline (TIMEOUT) it goes back to the pool at once. Either way as it came (its next
    user's statements run in a transaction). An engine with a statement listener sees
    it as any statement. (SQLite's side of it: test_sqlite_reads.py.)"""
    # given: the dashboard answered twice (the first learns what SQLAlchemy sends), by
    # an app on an engine of its own: once an engine has had a statement listener (the
    # test database's has), SQLAlchemy dispatches its events for good, and the borrowed
    # connection is wrapped in a Connection for them; production's engine has none
    await _seed(db)
    client, fresh = fresh_app
    on_fresh = SimpleNamespace(engine=fresh, backend=db.backend)
    reference = await client_with(compiled_reads=False).post(DASHBOARD)
    for _ in range(2):
        assert (await client.post(DASHBOARD)).text == reference.text
    pool: Any = fresh.pool
    assert not fresh.sync_engine._has_events
    runs, checkouts = Counter(RUNS), Counter(CHECKOUTS)
    # when: no engine listener (the driver's own log of what it sends as plain
    # commands: BEGIN, ROLLBACK, SET; not its prepared statements)
    with DriverLog(on_fresh) as driver:  # type: ignore[arg-type]
        got = await client.post(DASHBOARD)
    # then: the same bytes, the statement on a borrowed connection, nothing else; the
    # loop holds that connection (the one checked out), given back once idle
    assert (got.status_code, got.text) == (200, reference.text)
    assert (RUNS - runs) == Counter(pool=1)
    assert await driver.sent() == []
    assert pool.checkedout() == held_connections(fresh) == 1
    # checked out in a greenlet, or held since the answers before (the log's check-out
    # listener is not the app's)
    assert (CHECKOUTS - checkouts) in (Counter(greenlet=1), Counter(held=1))
    await _given_back(fresh)
    assert await autocommit_connections(on_fresh) == 0  # type: ignore[arg-type]
    # when: the next two kept reads, one after the other
    checkouts = Counter(CHECKOUTS)
    for _ in range(2):
        assert (await client.post(DASHBOARD)).text == reference.text
    # then: the pool's idle connection is checked out once, with no greenlet; the
    # second read runs on it as the loop held it
    assert (CHECKOUTS - checkouts) == Counter({"at once": 1, "held": 1})
    assert pool.checkedout() == held_connections(fresh) == 1
    # when: the statement fails, then runs past the deadline (still no listener)
    kept = _last_kept()
    assert kept.sent is not None
    learnt = kept.sent
    for statement, code, taken in (
        ("SELECT 1 / (SELECT count(*) - count(*) FROM initiatives)::int", "INTERNAL", "held"),
        ("SELECT pg_sleep(5)::text", "TIMEOUT", "at once"),
    ):
        kept.sent = (learnt[0], statement, ())
        try:
            runs, checkouts = Counter(RUNS), Counter(CHECKOUTS)
            response = await client.post(DASHBOARD)
        finally:
            kept.sent = learnt
        # then: the error as the reference reports it, the connection given back at
        # once (none held); the first ran on the held one, the second on the pool's
        # idle connection, given back just now: checked out with no greenlet
        assert not fresh.sync_engine._has_events
        assert response.json()["data"] is None
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]
        assert (RUNS - runs)["pool"] == 0  # failed: not counted as read
        assert pool.checkedout() == held_connections(fresh) == 0
        assert (CHECKOUTS - checkouts) == Counter({taken: 1})
        assert await autocommit_connections(on_fresh) == 0  # type: ignore[arg-type]
    # and the next request is answered the same way again
    runs = Counter(RUNS)
    again = await client.post(DASHBOARD)
    assert (again.status_code, again.text) == (200, reference.text)
    assert (RUNS - runs) == Counter(pool=1)
    await _given_back(fresh)
    # when: an engine listener (as any of SQLAlchemy's statements, it sees this one)
    with StatementCounter(fresh) as counter:
        got = await client.post(DASHBOARD)
    assert (got.status_code, got.text) == (200, reference.text)
    assert counter.count == 1 and "initiatives" in counter.statements[0]
    assert pool.checkedout() == held_connections(fresh) == 0


@pytest.mark.postgres_only
async def test_the_dashboards_page_is_read_from_an_index_in_its_order(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """The dashboard's statement (initiatives in their default order, by position then
    id) reads its page from the index on that order, with no sort of the table: forbid
    PostgreSQL to sort (`enable_sort`) and its plan still needs none."""
    # given: the dashboard asked twice (the second runs the statement as kept)
    await _seed(db)
    client = client_with(compiled_reads=True)
    for _ in range(2):
        assert (await client.post(DASHBOARD)).status_code == 200
    kept = _last_kept()
    assert kept.sent is not None
    _kind, text, parameters = kept.sent
    # when
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.execute("SET enable_sort = off")
        try:
            plan = [row[0] for row in await driver.fetch(f"EXPLAIN {text}", *parameters)]
        finally:
            await driver.execute("RESET enable_sort")
    # then
    assert any("ix_initiatives_position_id" in line for line in plan), plan
    assert not any(line.lstrip(" ->").startswith("Sort") for line in plan), plan


async def _given_back(engine: Any) -> None:
    """Once the connections the loop held for `engine` were idle HELD_SECONDS: none
    held, none checked out."""
    await asyncio.sleep(HELD_SECONDS * 3)
    assert engine.pool.checkedout() == held_connections(engine) == 0

"""PostgreSQL writes the compiled answer's JSON (in_database.py): its spellings are the
schema's serializers', byte for byte, for the values that are hard to spell alike —
amounts in currencies of every minor unit, moments with and without microseconds,
text that JSON must escape, cursors of every column type (issue 15)."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, literal, literal_column, select, text, update

from app import models as m
from app.db.session import StatementCounter
from app.db.types import ExactDecimal, stored_decimal_text
from app.graphql.compiled.executor import PATHS
from app.models._columns import AMOUNT
from app.money.currencies import shown, shown_sql
from tests import factories as f
from tests.conftest import Database, GraphQLClient

# Both databases write answers (PostgreSQL and SQLite spell some values apart).

AMOUNTS = ["0", "1", "-1", "100.5", "100.50", "100.125", "-0.001", "12.345", "999999999999999.999"]
AMOUNTS += ["-999999999999999.999", "-0.05", "-0.5", "-100.10", "0.010", "1000", "-1000", "0.1"]
CURRENCIES = ["JPY", "CNY", "KWD", "CLF", "XAU"]
TEXTS = ['quote " and backslash \\', "line\nbreak\ttab\x01\x1f\x7f", "é ü 中文 \u2028 😀", ""]


async def test_amounts_are_shown_as_python_shows_them(db: Database) -> None:
    # given: amounts of every shape, in currencies of 0, 2, 3 and 4 minor digits
    pairs = [(Decimal(a).quantize(Decimal("0.001")), c) for a in AMOUNTS for c in CURRENCIES]
    # when: PostgreSQL shows each
    async with db.sessions() as session:
        written = [
            await session.scalar(select(shown_sql(literal(amount, AMOUNT), literal(currency))))
            for amount, currency in pairs
        ]
    # then: as the API's Money shows it (format(value, "f"), the Decimal scalar's)
    assert written == [format(shown(amount, currency), "f") for amount, currency in pairs]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("scale", [0, 1, 2, 3, 4, 6, 10])
async def test_a_decimal_sqlite_counts_in_units_is_written_as_python_reads_it(
    db: Database, scale: int
) -> None:
    """SQLite keeps an ExactDecimal as an integer count of its scale's units: the text
    the database writes of it is the Decimal scalar's of the value read back, for every
    sign and size up to SQLite's integer limits."""
    # given: counts of units of every shape
    step = 10**scale
    counts = [0, 1, -1, 5, -5, 7 * step, -7 * step, step - 1, -(step - 1), 12 * step + 3]
    counts += [-(12 * step + 3), 10**18 - 1, -(10**18 - 1), 2**63 - 1, -(2**63)]
    column = ExactDecimal(18, scale)
    # when
    async with db.sessions() as session:
        written = [
            await session.scalar(select(stored_decimal_text(literal_column(str(n)), scale)))
            for n in counts
        ]
    # then
    dialect = db.engine.dialect
    assert written == [format(column.process_result_value(n, dialect), "f") for n in counts]


async def seed(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        line = await f.budget_line(session, initiative)
        for n, (text, currency) in enumerate(zip(TEXTS, CURRENCIES, strict=False)):
            await f.transaction(
                session,
                initiative,
                budget_line_id=line.id,
                description=text,
                currency=currency,
                amount=Decimal(AMOUNTS[3 + n]),
                transaction_date=date(2024, 1, 1 + n),
            )
        # One moment of whole seconds: Python writes no fraction then.
        await session.execute(
            update(m.Transaction)
            .where(m.Transaction.currency == "JPY")
            .values(created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
        )


QUERY = """{ initiatives(first: 5) { totalCount pageInfo { hasNextPage hasPreviousPage
  startCursor endCursor } edges { cursor node { id code
  budgetLines(first: 3) { nodes { id amount { amount currency } periodStart
    transactions(first: 3, orderBy: [{field: CURRENCY, direction: DESC}]) {
      totalCount pageInfo { hasNextPage endCursor startCursor }
      edges { cursor node { __typename id type date amount { amount currency }
        description createdAt updatedAt version } } } } } } } } }"""


async def test_the_database_writes_what_the_reference_executor_answers(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given
    await seed(db)
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    before = Counter(PATHS)
    # when
    answer = await compiled.post(QUERY, {})
    # then: written by PostgreSQL, the same bytes as the reference executor's
    assert PATHS["in database"] == before["in database"] + 1
    expected = await reference.post(QUERY, {})
    assert answer.text == expected.text
    # and the answer holds what was seeded: every escaped text, both moments' spellings
    transactions = json.loads(answer.text)["data"]["initiatives"]["edges"][0]["node"][
        "budgetLines"
    ]["nodes"][0]["transactions"]
    assert transactions["totalCount"] == 4 and transactions["pageInfo"]["hasNextPage"]
    nodes = [edge["node"] for edge in transactions["edges"]]
    # KWD, JPY, CNY: the first three by currency, descending
    assert [node["description"] for node in nodes] == [TEXTS[2], TEXTS[0], TEXTS[1]]
    assert [node["amount"] for node in nodes] == [
        {"amount": "100.125", "currency": "KWD"},
        {"amount": "100.5", "currency": "JPY"},
        {"amount": "100.50", "currency": "CNY"},
    ]
    assert nodes[1]["createdAt"] == "2024-05-01T12:00:00+00:00"
    assert "." in nodes[0]["createdAt"]  # a moment with microseconds shows them


async def test_the_next_page_by_a_written_cursor(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """A cursor PostgreSQL wrote is one the list accepts: the next page follows it."""
    # given
    await seed(db)
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    first = await compiled.data(
        "{ transactions(first: 2, orderBy: [{field: AMOUNT, direction: ASC}]) "
        "{ pageInfo { endCursor } nodes { id } } }"
    )
    cursor = first["transactions"]["pageInfo"]["endCursor"]
    # the cursor is the order's values as JSON: an amount, as Decimal's str() spells it
    assert json.loads(base64.urlsafe_b64decode(cursor))[1] == "100.125"
    query = (
        "query($after: String) { transactions(first: 2, after: $after, "
        "orderBy: [{field: AMOUNT, direction: ASC}]) { pageInfo { hasPreviousPage "
        "hasNextPage startCursor endCursor } edges { cursor node { id } } } }"
    )
    # when
    before = Counter(PATHS)
    answer = await compiled.post(query, {"after": cursor})
    # then
    assert PATHS["in database"] == before["in database"] + 1
    assert answer.text == (await reference.post(query, {"after": cursor})).text
    page = json.loads(answer.text)["data"]["transactions"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"] is False


async def test_off_the_answer_is_built_from_rows_alike(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """COMPILED_READS_IN_DATABASE=false: the compiled path builds the answer in Python
    from one statement per level of lists, the same bytes."""
    # given
    await seed(db)
    written = client_with(compiled_reads=True)
    from_rows = client_with(compiled_reads=True, compiled_reads_in_database=False)
    expected = await written.post(QUERY, {})
    before = Counter(PATHS)
    # when
    answer = await from_rows.post(QUERY, {})
    # then
    assert PATHS["compiled"] == before["compiled"] + 1
    assert PATHS["in database"] == before["in database"]
    assert answer.text == expected.text


async def test_views_are_written_alike(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """A partner's answer and one asOf a moment come from a view (TEMP tables shadowing
    the ledger's on the view's connection): the written statement reads them as the
    rows path does — the partner sees its own initiative only, the past its state."""
    # given: two initiatives, a partner of the first, a moment before a change
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        mine, other = await f.initiative(session, program), await f.initiative(session, program)
        for initiative in (mine, other):
            await f.transaction(session, initiative, description=f"of {initiative.code}")
        secret = await f.api_key(session, "partner", initiatives=[mine.code])
        code = mine.code
    async with db.sessions() as session:
        moment = await session.scalar(select(func.now()))
    if moment.tzinfo is None:  # SQLite's clock, in whole seconds: this process's
        moment = datetime.now(UTC)
    async with db.sessions() as session, session.begin():
        await session.execute(update(m.Transaction).values(description="changed"))
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    query = (
        "query($at: DateTime) { transactions(first: 10, asOf: $at) "
        "{ totalCount nodes { id description } } }"
    )
    for client_key, variables, expected in (
        (secret, {}, ["changed"]),
        (None, {"at": moment.isoformat()}, [f"of {code}", "of " + other.code]),
    ):
        before = Counter(PATHS)
        # when
        answer = await compiled.with_key(client_key).post(query, variables)
        # then
        assert PATHS["in database"] == before["in database"] + 1, answer.text
        assert answer.text == (await reference.with_key(client_key).post(query, variables)).text
        nodes = json.loads(answer.text)["data"]["transactions"]["nodes"]
        assert sorted(node["description"] for node in nodes) == sorted(expected)


@pytest.mark.postgres_only
async def test_a_value_the_database_cannot_spell_loses_no_row(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """Dates PostgreSQL keeps as infinity (asyncpg stores the first and last day Python
    has so) have no `to_char`: the answer is then built from rows, as the reference
    answers it, never written with that row left out of its list, its cursor or its
    date turned to null (review of h15json)."""
    # given: an initiative planned from the first day to the last, a transaction on it
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        far = await f.initiative(
            session, program, planned_start=date(1, 1, 1), planned_end=date(9999, 12, 31)
        )
        await f.initiative(session, program)
        await f.transaction(session, far, transaction_date=date(9999, 12, 31), description="far")
        await f.transaction(session, far, description="near")
    compiled = client_with(compiled_reads=True)
    reference = client_with(compiled_reads=False)
    reads = [
        "{ initiatives(first: 5) { nodes { code plannedStart plannedEnd } } }",
        "{ transactions(first: 5) { totalCount edges { cursor node { description date } } } }",
        "{ transactions(first: 5, orderBy: [{field: DATE, direction: DESC}]) "
        "{ pageInfo { startCursor endCursor } edges { cursor node { description } } } }",
    ]
    for read in reads:
        # when
        answer = await compiled.post(read, {})
        # then
        assert answer.text == (await reference.post(read, {})).text, read
    transactions = (await compiled.data(reads[1]))["transactions"]
    assert transactions["totalCount"] == len(transactions["edges"]) == 2
    assert "9999-12-31" in {e["node"]["date"] for e in transactions["edges"]}


# Connections of every shape the written text is cut at (on SQLite a root list comes as
# rows, each a piece of its text: in_database.py `in_pieces`): page info before and after
# the rows, two lists of rows in one connection, a total; an empty page; a page with
# more after it; and two root lists (one text each, in one row).
SHAPES = [
    "{ initiatives(first: 1) { pageInfo { hasNextPage endCursor } totalCount "
    "nodes { code } edges { cursor node { code } } info: pageInfo { startCursor } } }",
    '{ initiatives(first: 3, filter: {code: {eq: "none"}}) { totalCount nodes { code } '
    "pageInfo { hasNextPage startCursor endCursor } } }",
    "{ initiatives(first: 1) { edges { node { budgetLines(first: 1) { totalCount "
    "nodes { transactions(first: 2) { pageInfo { hasNextPage } nodes { description } } } "
    "} } } } }",
    "{ initiatives(first: 2) { nodes { code } } transactions(first: 2) { nodes { id } } }",
]


@pytest.mark.parametrize("shape", SHAPES)
async def test_every_shape_of_connection_is_written_in_one_statement_alike(
    db: Database, client_with: Callable[..., GraphQLClient], shape: str
) -> None:
    # given: two initiatives, one with a budget line of four transactions
    await seed(db)
    async with db.sessions() as session, session.begin():
        await f.initiative(session, await f.program(session))
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    await compiled.post(shape, {})  # its statement built and kept
    before = Counter(PATHS)
    # when
    with StatementCounter(db.engine) as counter:
        answer = await compiled.post(shape, {})
    # then: written by the database in one statement, the reference executor's bytes
    assert PATHS["in database"] == before["in database"] + 1
    assert len(counter.statements) == 1, counter.statements
    assert answer.text == (await reference.post(shape, {})).text
    assert "errors" not in json.loads(answer.text)


@pytest.mark.sqlite_only
async def test_a_moment_sqlite_holds_in_another_spelling_is_answered_alike(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """SQLite holds a moment as text: one not in SQLAlchemy's spelling (written by other
    SQL, without microseconds) is not written by the database, and the answer is built
    from rows, as the reference answers it."""
    # given
    await seed(db)
    async with db.sessions() as session, session.begin():
        await session.execute(text("UPDATE transactions SET created_at = '2024-05-01 12:00:00'"))
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    query = "{ transactions(first: 5) { nodes { description createdAt } } }"
    before = Counter(PATHS)
    # when
    answer = await compiled.post(query, {})
    # then
    assert PATHS["compiled"] == before["compiled"] + 1
    assert PATHS["in database"] == before["in database"]
    assert answer.text == (await reference.post(query, {})).text
    nodes = json.loads(answer.text)["data"]["transactions"]["nodes"]
    assert {node["createdAt"] for node in nodes} == {"2024-05-01T12:00:00+00:00"}


# A root list whose one node holds a report (2,550 rows at most), and a report beside
# another root list: SQLite would build each report's text as one value.
LARGE_SHAPES = [
    "{ programs(first: 1) { nodes { id initiatives(first: 50) { nodes { code "
    "budgetLines(first: 50) { nodes { id amount { amount currency } } } } } } } }",
    "{ initiatives(first: 50) { nodes { code budgetLines(first: 50) { nodes { id } } } } "
    "transactions(first: 5) { pageInfo { endCursor } nodes { id description } } }",
]


@pytest.mark.parametrize("shape", LARGE_SHAPES)
async def test_a_report_sqlite_would_hold_as_one_text_is_answered_alike(
    db: Database, client_with: Callable[..., GraphQLClient], shape: str
) -> None:
    """Only one root list comes from SQLite in pieces (a top node's text at a time):
    a report nested in a node, or beside another root list, is built from rows there,
    as it was before SQLite wrote answers (bench/README.md); PostgreSQL writes it. So
    it is again when asked again (what the first request decided of it is kept)."""
    # given
    await seed(db)
    async with db.sessions() as session, session.begin():
        await f.initiative(session, await f.program(session))
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    before = Counter(PATHS)
    # when
    answers = [await compiled.post(shape, {}) for _ in range(2)]
    # then
    assert PATHS["compiled"] == before["compiled"] + 2
    written = 2 if db.backend == "postgresql" else 0
    assert PATHS["in database"] == before["in database"] + written
    expected = (await reference.post(shape, {})).text
    assert [answer.text for answer in answers] == [expected, expected]
    assert "errors" not in json.loads(expected)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "written",
    [
        "UPDATE transactions SET description = X'414243' WHERE currency = 'JPY'",
        "UPDATE transactions SET amount = 1500.5 WHERE currency = 'JPY'",
        # Text and a BLOB where an amount's integer units belong: arithmetic reads
        # both as 0, which was spelled "0" yen and "0.00" yuan.
        "UPDATE transactions SET amount = 'none' WHERE currency IN ('JPY', 'CNY')",
        "UPDATE transactions SET amount = X'00' WHERE currency IN ('JPY', 'CNY')",
    ],
)
async def test_a_value_of_another_type_written_by_other_sql_is_answered_alike(
    db: Database, client_with: Callable[..., GraphQLClient], written: str
) -> None:
    """SQLite holds any type in any column: a BLOB in a text column, a REAL, a text or a
    BLOB in an amount's (counted in integer units), written by other SQL, is not spelled
    by the database (it was an INTERNAL error, or a misspelled amount); the answer is
    built in Python, as the reference answers it (a field error for the BLOB, an
    INTERNAL error for an amount that is no number)."""
    query = "{ transactions(first: 5) { nodes { description amount { amount currency } } } }"
    answer, expected, in_database = await _after_other_sql(db, client_with, query, (written, {}))
    assert in_database == 0
    assert _ERROR_ID.sub("", answer) == _ERROR_ID.sub("", expected)


async def _after_other_sql(
    db: Database,
    client_with: Callable[..., GraphQLClient],
    query: str,
    *statements: tuple[str, dict[str, Any]],
) -> tuple[str, str, int]:
    """Once other SQL has run `statements` on the seeded data: the compiled path's
    answer to `query`, the reference executor's, and how many answers the database
    wrote meanwhile (0: built in Python)."""
    await seed(db)
    async with db.sessions() as session, session.begin():
        for sql, values in statements:
            await session.execute(text(sql), values)
    compiled, reference = client_with(compiled_reads=True), client_with(compiled_reads=False)
    before = Counter(PATHS)
    answer = await compiled.post(query, {})
    written = PATHS["in database"] - before["in database"]
    return answer.text, (await reference.post(query, {})).text, written


_ERROR_ID = re.compile(r'"errorId":"[0-9a-f]+"')  # each error's own


@pytest.mark.sqlite_only
async def test_an_amount_at_the_ends_of_sqlite_integers_is_written_alike(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """Amounts beyond the column's 18 digits, written by other SQL at the ends of
    SQLite's 64-bit integers, are written by the database as the reference shows them
    (the smallest has no abs(): that was an integer overflow, failing the read)."""
    update = "UPDATE transactions SET amount = :a WHERE currency = :c"
    ends = [(-(2**63), "CNY"), (2**63 - 1, "KWD"), (-(2**63), "JPY")]
    query = "{ transactions(first: 5) { nodes { amount { amount currency } } } }"
    answer, expected, in_database = await _after_other_sql(
        db, client_with, query, *((update, {"a": a, "c": c}) for a, c in ends)
    )
    assert in_database == 1
    assert answer == expected
    assert "-9223372036854775.808" in answer


@pytest.mark.sqlite_only
@pytest.mark.parametrize("version", ["'two'", "2.5", "X'02'"])
async def test_an_int_sqlite_holds_as_no_integer_is_answered_alike(
    db: Database, client_with: Callable[..., GraphQLClient], version: str
) -> None:
    """An Int field's INTEGER column holding a text, a REAL or a BLOB (other SQL wrote
    it) is not spelled by the database (its text went into the JSON as it was:
    `"version":two`); the answer is built in Python, as the reference answers it (an
    error of that field)."""
    query = "{ transactions(first: 5) { nodes { description version } } }"
    answer, expected, in_database = await _after_other_sql(
        db, client_with, query, (f"UPDATE transactions SET version = {version}", {})
    )
    assert in_database == 0
    assert _ERROR_ID.sub("", answer) == _ERROR_ID.sub("", expected)
    assert "errors" in json.loads(answer)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("version", [2**31, -(2**31) - 1, 2**63 - 1, -(2**63)])
async def test_an_int_beyond_32_bits_is_refused_as_the_reference_refuses_it(
    db: Database, client_with: Callable[..., GraphQLClient], version: int
) -> None:
    """SQLite's INTEGER column holds 64 bits; GraphQL's Int 32. Neither the database's
    text nor the rows built in Python may show such a value: the field's error, as the
    reference executor answers."""
    update = f"UPDATE transactions SET version = {version} WHERE currency = 'JPY'"
    query = "{ transactions(first: 5) { nodes { description version } } }"
    answer, expected, in_database = await _after_other_sql(db, client_with, query, (update, {}))
    assert in_database == 0
    assert _ERROR_ID.sub("", answer) == _ERROR_ID.sub("", expected)
    assert "non 32-bit" in answer and str(version) not in answer.split("message")[0]


@pytest.mark.sqlite_only
async def test_ints_at_the_ends_of_32_bits_are_written_by_sqlite(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    update = (
        f"UPDATE transactions SET version = CASE WHEN currency = 'JPY' "
        f"THEN {2**31 - 1} ELSE {-(2**31)} END"
    )
    query = "{ transactions(first: 5) { nodes { description version } } }"
    answer, expected, in_database = await _after_other_sql(db, client_with, query, (update, {}))
    assert in_database == 1
    assert answer == expected
    assert {n["version"] for n in json.loads(answer)["data"]["transactions"]["nodes"]} == {
        2**31 - 1,
        -(2**31),
    }

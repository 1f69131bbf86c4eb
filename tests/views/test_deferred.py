"""A view as of a moment builds only the shadows its operation reads: budget lines and
transactions are left to the trail (a TEMP VIEW decoding it: `open_view`'s `defer`)
for operations known not to read them, and a statement that reads them anyway still
reads the moment's rows, never today's. A partner's view never defers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from graphql import parse
from sqlalchemy import event, select

from app import models as m
from app.graphql.extensions.views import DEFERRABLE, deferral_of
from app.reports.budget import rollups
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from app.views.views import Deferral, View, open_view, view_engine
from tests.conftest import Database, GraphQLClient
from tests.views.test_as_of import change_everything, load

LIST = "query ($asOf: DateTime) { initiatives(first: 10, asOf: $asOf) { nodes { code title } } }"
SUMMARY = """
query ($asOf: DateTime, $currency: String) {
  budgetSummary(groupBy: [INITIATIVE, YEAR], currency: $currency, asOf: $asOf) {
    groups { key { initiative { code } year } measures { ...M } } total { ...M }
  }
}
fragment M on BudgetMeasures { budgetCurrent { amount } disbursed { amount } count }
"""
WITH_TRANSACTIONS = """
query ($asOf: DateTime) {
  initiatives(first: 10, asOf: $asOf) { nodes { code transactions(first: 5) { nodes { amount {
    amount } } } } }
}
"""


def deferral(query: str, variables: dict[str, Any] | None = None) -> Deferral:
    return deferral_of(parse(query), None, variables or {})


def test_an_operation_known_not_to_read_records_defers_them() -> None:
    # a list of initiatives' plain fields: nothing to wait for
    assert deferral(LIST) == Deferral(DEFERRABLE, frozenset())
    # a summary: when the rollups' history holds the moment in its currency
    assert deferral(SUMMARY, {"currency": "usd"}) == Deferral(DEFERRABLE, frozenset({"USD"}))


def test_any_other_operation_defers_nothing() -> None:
    nothing = Deferral(frozenset(), frozenset())
    # a field that reads transactions, at any depth
    assert deferral(WITH_TRANSACTIONS) == nothing
    # ... or in a fragment
    assert (
        deferral(
            "query { initiatives(first: 1) { nodes { ...F } } } "
            "fragment F on Initiative { budgetLines(first: 1) { nodes { id } } }"
        )
        == nothing
    )
    # a summary whose currency is the pledged one (unknown until read)
    assert deferral(SUMMARY) == nothing
    # a root field that lists records
    assert deferral("query { transactions(first: 1) { nodes { id } } }") == nothing


# A summary whose filter names a date reads the records (the rollups keep no date); on
# a deferred view those are a TEMP VIEW decoding the trail, joined to itself per row.
DATED = """
query ($asOf: DateTime) {
  budgetSummary(groupBy: [INITIATIVE], currency: "USD", asOf: $asOf,
                filter: {date: {gt: "2000-01-01"}}) {
    total { budgetCurrent { amount } disbursed { amount } count }
  }
}
"""


def test_only_arguments_known_to_read_no_records_defer() -> None:
    nothing = Deferral(frozenset(), frozenset())
    # a summary filtered by date, or by anything (strictly: any filter)
    assert deferral(DATED) == nothing
    assert deferral(
        SUMMARY.replace("asOf: $asOf", "asOf: $asOf, filter: $f"), {"currency": "USD"}
    ) == (nothing)
    # a list filtered (by its budget lines, say) or ordered
    for argument in (
        'filter: {budgetLine: {periodStart: {gt: "2000-01-01"}}}',
        "orderBy: [{field: TITLE}]",
    ):
        assert deferral(LIST.replace("first: 10", f"first: 10, {argument}")) == nothing
    # a nested field with arguments: a programme's initiatives filtered
    assert (
        deferral(
            "query { programs(first: 1) { nodes { initiatives(first: 1) { nodes { code } } } } }"
        )
        == nothing
    )
    # an initiative's or programme's money figures (its records, in the pledge's
    # currency), though a summary's measures have the same names
    assert deferral(FIGURES) == nothing
    assert (
        deferral(
            'query { initiative(code: "IN-1") { ...F } } '
            "fragment F on Initiative { spent { amount } }"
        )
        == nothing
    )
    # groups the rollups do not answer (none today but unknown names), given by variable
    grouped = SUMMARY.replace("[INITIATIVE, YEAR]", "$by").replace(
        "$currency: String", "$currency: String, $by: [BudgetDimension!]!"
    )
    assert deferral(grouped, {"currency": "USD", "by": ["INITIATIVE", "WEEK"]}) == nothing
    # ... and what they do answer defers, top N included
    usd = Deferral(DEFERRABLE, frozenset({"USD"}))
    assert deferral(grouped, {"currency": "USD", "by": ["PROGRAM", "MONTH"]}) == usd
    top = SUMMARY.replace("asOf: $asOf", "asOf: $asOf, orderBy: [{measure: SPENT}], first: 3")
    assert deferral(top, {"currency": "USD"}) == usd


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The statements run on views' connections in the block: those SQLAlchemy runs,
    and on PostgreSQL each statement of the scripts a build sends through the driver
    (asyncpg's query loggers see those)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    def script(record: Any) -> None:
        seen.extend(" ".join(s.split()) for s in record.query.split(";\n"))

    def connected(dbapi_connection: Any, _record: Any) -> None:
        if engine.dialect.name == "postgresql":
            dbapi_connection.driver_connection.add_query_logger(script)

    engine = view_engine(db.engine).sync_engine
    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "connect", connected)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
        event.remove(engine, "connect", connected)


def copied(seen: list[str], table: str) -> bool:
    return any(s.startswith(f"INSERT INTO {table} ") for s in seen)


async def past(db: Database, before_changes: Any = None) -> datetime:
    """The demo and a generated programme, rollups in USD, a moment, then changes
    (`before_changes` is awaited just before them)."""
    await load(db)
    async with db.sessions() as session, session.begin():
        await rollups.build(session, ["USD"])
    async with db.sessions() as session, session.begin():
        await generate(session, Sizes(2, 8, 60, 3))
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    if before_changes is not None:
        await before_changes()
    await change_everything(db)
    return moment


async def test_a_list_and_a_summary_as_of_a_moment_copy_no_records(
    db: Database, client: GraphQLClient
) -> None:
    # given
    moment = (await past(db)).isoformat()
    # when: a list, a summary in a currency kept, and one in a currency not kept
    with statements(db) as listed:
        await client.data(LIST, {"asOf": moment})
    with statements(db) as summarised:
        kept = await client.data(SUMMARY, {"asOf": moment, "currency": "USD"})
    with statements(db) as read:
        await client.data(WITH_TRANSACTIONS, {"asOf": moment})
    with statements(db) as unkept:
        await client.data(SUMMARY, {"asOf": moment, "currency": "CNY"})
    # then: the first two copy neither budget lines nor transactions; the others both
    for seen in (listed, summarised):
        assert not copied(seen, "transactions") and not copied(seen, "budget_lines")
        assert copied(seen, "initiatives")
    for seen in (read, unkept):
        assert copied(seen, "transactions") and copied(seen, "budget_lines")
    assert kept["budgetSummary"]["groups"]


async def test_a_dated_summary_as_of_a_moment_builds_the_records(
    db: Database, client: GraphQLClient
) -> None:
    # given
    moment = (await past(db)).isoformat()
    # when: a summary in a currency kept, filtered by date (which the rollups keep not)
    with statements(db) as seen:
        dated = await client.data(DATED, {"asOf": moment})
    # then: its view copies (and indexes) the records it reads, rather than leaving them
    # to a TEMP VIEW of the trail that it would decode once per record
    assert copied(seen, "transactions") and copied(seen, "budget_lines")
    assert dated["budgetSummary"]["total"]["count"] > 0


async def rows(source: View | Database, model: Any) -> list[tuple[Any, ...]]:
    async with source.sessions() as session:
        found = (await session.execute(select(model).order_by(model.id))).scalars().all()
        return [tuple(getattr(r, c.key) for c in model.__table__.columns) for r in found]


async def test_a_deferred_shadow_reads_the_moments_rows(db: Database) -> None:
    # given: records changed, created and archived after the moment
    moment = await past(db)
    defer = Deferral(DEFERRABLE, frozenset())
    # when: a view that copies them and one that leaves them to the trail
    built = await open_view(db.engine, moment=moment)
    deferred = await open_view(db.engine, moment=moment, defer=defer)
    try:
        assert deferred.deferred == DEFERRABLE and not built.deferred
        # then: every row of every column is the same: the moment's, not today's
        for model in (m.Transaction, m.BudgetLine):
            then = await rows(deferred, model)
            assert then == await rows(built, model)
            assert then and then != await rows(db, model)
    finally:
        await built.close()
        await deferred.close()


async def test_a_partners_view_never_defers(db: Database) -> None:
    # given
    moment = await past(db)
    async with db.sessions() as session:
        first = await session.scalar(
            select(m.Transaction.initiative_id).order_by(m.Transaction.id).limit(1)
        )
    assert first is not None
    # when: a partner's view asked to defer
    view = await open_view(
        db.engine,
        moment=moment,
        initiatives=frozenset({first}),
        defer=Deferral(DEFERRABLE, frozenset()),
    )
    try:
        # then: it copies, scoped: only its initiative's transactions
        assert not view.deferred
        found = await rows(view, m.Transaction)
        assert found and {row[1] for row in found} == {first}
    finally:
        await view.close()


FIGURES = """
query ($asOf: DateTime) {
  initiatives(first: 50, asOf: $asOf) { nodes { code spent { amount currency } } }
}
"""


async def test_figures_of_initiatives_as_of_a_moment_build_their_records(
    db: Database, client: GraphQLClient
) -> None:
    # given: the initiatives' spending (their records, in the pledge's currency, which
    # no rollups are kept in) captured at a moment, then changed
    captured: dict[str, Any] = {}

    async def capture() -> None:
        captured.update(await client.data(FIGURES, {}))

    moment = await past(db, capture)
    # when: asked as of the moment
    with statements(db) as seen:
        then = await client.data(FIGURES, {"asOf": moment.isoformat()})
    # then: the records are copied (a `spent` is not a summary's), and they are what
    # they were, not today's
    assert copied(seen, "transactions")
    assert then == captured
    assert then != await client.data(FIGURES, {})

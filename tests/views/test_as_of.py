"""`asOf`: reports, lists and records as they were at a moment, rebuilt from the trail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select, text

from app import models as m
from app.audit.records import audited_tables
from app.config import Settings
from app.db.session import StatementCounter
from app.demo.loader import load_demo
from app.kit.ids import encode_global_id
from app.views.pool import ViewPool
from app.views.repository import real_table
from app.views.views import open_view, view_engine
from tests import factories as f
from tests.conftest import Database, GraphQLClient

_MEASURES = """
fragment M on BudgetMeasures {
  budgetOriginal { amount currency } budgetCurrent { amount } committed { amount }
  disbursed { amount } spent { amount } variance { amount } budgetRevision { amount }
  count budgetLineCount transactionCount
}
"""

BUDGET_SUMMARY = (
    """
query Budget($groupBy: [BudgetDimension!]!, $asOf: DateTime) {
  budgetSummary(groupBy: $groupBy, asOf: $asOf) {
    currency groupCount
    groups {
      key { initiative { code } beneficiaryGroup { code } category transactionType year }
      measures { ...M }
    }
    total { ...M }
  }
}
"""
    + _MEASURES
)

GROUPINGS = [
    [],
    ["INITIATIVE"],
    ["CATEGORY", "TRANSACTION_TYPE"],
    ["YEAR", "INITIATIVE"],
    ["BENEFICIARY_GROUP"],
]

TIMELINE = """
query Timeline($asOf: DateTime, $asOfDate: Date) {
  timelineReport(asOf: $asOf, asOfDate: $asOfDate) {
    asOfDate
    milestonesByStatus { status count }
    initiatives(first: 50) {
      totalCount
      nodes { initiative { code } milestoneCount achievedCount overdueCount slippedCount
              largestSlippageDays onTrack }
    }
    lateMilestones(first: 50) {
      totalCount
      nodes { milestone { title status plannedDate forecastDate actualDate }
              slippageDays daysLate }
    }
  }
}
"""

REACH = """
query Reach($asOf: DateTime) {
  reachReport(asOf: $asOf) {
    rows(first: 100) {
      totalCount
      nodes { group { code } initiative { code } unit target reached shareReached }
    }
    totals { group { code } unit figureCount target reached shareReached }
  }
}
"""

PROGRAM = (
    """
query Program($asOf: DateTime) {
  program(asOf: $asOf) {
    name version pledged { amount currency } allocated { amount } unallocated { amount }
    committed { amount } disbursed { amount } spent { amount }
    figures { ...M }
    initiatives(first: 50) {
      totalCount
      nodes { code title version budget { amount currency } figures { ...M } }
    }
  }
}
"""
    + _MEASURES
)

LISTS = """
query Lists($asOf: DateTime) {
  transactions(first: 100, asOf: $asOf) {
    totalCount
    nodes { id version amount { amount currency } }
    aggregate(currency: "CNY") { count sum { amount { amount } } }
  }
  budgetLines(first: 100, asOf: $asOf) {
    totalCount
    nodes { id version amount { amount currency } }
    aggregate(currency: "CNY") { count sum { amount { amount } } }
  }
  milestones(first: 100, asOf: $asOf) {
    totalCount
    nodes { id version title status forecastDate actualDate }
    aggregate { count }
  }
  beneficiaryFigures(first: 100, asOf: $asOf) {
    totalCount
    nodes { id version target reached }
    aggregate { count }
  }
  initiatives(first: 50, asOf: $asOf) { totalCount nodes { id code version } }
}
"""

INITIATIVE = """
query Initiative($code: String, $asOf: DateTime) {
  initiative(code: $code, asOf: $asOf) {
    id title version budget { amount }
    milestones(first: 20) { totalCount }
  }
}
"""

NODE = """
query Node($id: ID!, $asOf: DateTime) {
  node(id: $id, asOf: $asOf) { id ... on Milestone { title status } }
}
"""

TWO_MOMENTS = """
query Two($a: DateTime, $b: DateTime) {
  program(asOf: $a) { name }
  transactions(asOf: $b) { totalCount }
}
"""

NAIVE = """
query { program(asOf: "2024-01-01T00:00:00") { name } }
"""


def at(moment: datetime) -> str:
    return moment.isoformat()


async def load(db: Database) -> datetime:
    """Load the demo; return a moment after it."""
    async with db.sessions() as session, session.begin():
        assert (await load_demo(session)).loaded
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    return moment


async def capture(client: GraphQLClient, moment: datetime | None) -> dict[str, Any]:
    """Every report this file compares, as the API answers (as of `moment`, or live)."""
    variables = {"asOf": at(moment)} if moment is not None else {}
    answers: dict[str, Any] = {}
    for group_by in GROUPINGS:
        answers[f"budget {group_by}"] = await client.data(
            BUDGET_SUMMARY, {**variables, "groupBy": group_by}
        )
    answers["timeline"] = await client.data(TIMELINE, {**variables, "asOfDate": "2024-06-30"})
    answers["reach"] = await client.data(REACH, variables)
    answers["program"] = await client.data(PROGRAM, variables)
    answers["lists"] = await client.data(LISTS, variables)
    return answers


async def change_everything(db: Database) -> None:
    """Updates, creates and deletes of the kinds of record the reports read."""
    async with db.sessions() as session, session.begin():
        initiatives = (await session.scalars(select(m.Initiative).order_by(m.Initiative.id))).all()
        first, second = initiatives[0], initiatives[1]
        line = await session.scalar(select(m.BudgetLine).order_by(m.BudgetLine.id).limit(1))
        assert line is not None
        line.amount += Decimal("1000.00")
        await f.budget_line(
            session, second, type=m.BudgetType.REVISED, amount=Decimal("777.00"), category="x"
        )
        await f.transaction(session, first, amount=Decimal("5000.00"))
        await f.transaction(session, second, type=m.TransactionType.EXPENDITURE)
        milestones = (await session.scalars(select(m.Milestone).order_by(m.Milestone.id))).all()
        milestones[0].status = m.MilestoneStatus.ACHIEVED
        milestones[0].actual_date = date(2024, 1, 15)
        await session.delete(milestones[1])
        await f.milestone(session, first, planned_date=date(2023, 1, 1))
        figure = await session.scalar(
            select(m.BeneficiaryFigure).order_by(m.BeneficiaryFigure.id).limit(1)
        )
        assert figure is not None
        figure.reached_value = (figure.reached_value or Decimal(0)) + Decimal(12345)
        last_line = await session.scalar(
            select(m.BudgetLine).order_by(m.BudgetLine.id.desc()).limit(1)
        )
        await session.delete(last_line)
    async with db.sessions() as session, session.begin():
        # A record created and archived after the moment never shows then.
        extra = await f.transaction(session, first, amount=Decimal("1.00"))
        await session.delete(extra)


async def test_reports_as_of_a_moment_equal_the_reports_captured_then(
    db: Database, client: GraphQLClient
) -> None:
    # given
    moment = await load(db)
    captured = await capture(client, None)
    await change_everything(db)
    # when
    replayed = await capture(client, moment)
    # then
    assert captured["lists"] != await client.data(LISTS)  # the changes show live
    for name, answer in captured.items():
        assert replayed[name] == answer, name


async def test_a_csv_download_as_of_a_moment_equals_the_one_downloaded_then(
    db: Database, client: GraphQLClient
) -> None:
    # given
    moment = await load(db)
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "auditor")
    auditor = {"Authorization": f"Bearer {secret}"}
    params = {"groupBy": "INITIATIVE,CATEGORY"}
    then = await client.http.get("/reports/budget-summary.csv", params=params, headers=auditor)
    await change_everything(db)
    # when
    replayed = await client.http.get(
        "/reports/budget-summary.csv", params={**params, "asOf": at(moment)}, headers=auditor
    )
    reach = await client.http.get(
        "/reports/reach.csv", params={"asOf": at(moment)}, headers=auditor
    )
    # then
    assert replayed.status_code == 200, replayed.text
    assert replayed.text == then.text
    assert reach.status_code == 200, reach.text


async def test_as_of_now_equals_the_live_answers(db: Database, client: GraphQLClient) -> None:
    # given
    await load(db)
    await change_everything(db)
    await asyncio.sleep(0.002)
    now = datetime.now(UTC)
    # when
    live = await capture(client, None)
    replayed = await capture(client, now)
    # then
    for name, answer in live.items():
        assert replayed[name] == answer, name


async def test_before_the_demo_was_loaded_there_was_nothing(
    db: Database, client: GraphQLClient
) -> None:
    # given
    before = datetime.now(UTC) - timedelta(seconds=1)
    await load(db)
    # when
    lists = await client.data(LISTS, {"asOf": at(before)})
    program = await client.data(PROGRAM, {"asOf": at(before)})
    # then
    assert program == {"program": None}
    assert {name: value["totalCount"] for name, value in lists.items()} == dict.fromkeys(lists, 0)


async def test_a_record_and_node_as_of_a_moment(db: Database, client: GraphQLClient) -> None:
    # given
    moment = await load(db)
    async with db.sessions() as session, session.begin():
        milestone = await session.scalar(select(m.Milestone).order_by(m.Milestone.id).limit(1))
        assert milestone is not None
        initiative = await session.get(m.Initiative, milestone.initiative_id)
        assert initiative is not None
        code, old_title = initiative.code, initiative.title
        initiative.title = "Renamed"
        await session.delete(milestone)
    global_id = encode_global_id("Milestone", milestone.id)
    live = await client.data(INITIATIVE, {"code": code})
    # when
    then = await client.data(INITIATIVE, {"code": code, "asOf": at(moment)})
    # then
    assert live["initiative"]["title"] == "Renamed"
    assert then["initiative"]["title"] == old_title
    assert then["initiative"]["version"] == live["initiative"]["version"] - 1
    count_then = then["initiative"]["milestones"]["totalCount"]
    assert count_then == live["initiative"]["milestones"]["totalCount"] + 1
    assert (await client.data(NODE, {"id": global_id}))["node"] is None
    found = await client.data(NODE, {"id": global_id, "asOf": at(moment)})
    assert found["node"]["id"] == global_id


async def test_the_timeline_day_defaults_to_the_moments_day(
    db: Database, client: GraphQLClient
) -> None:
    # given
    moment = await load(db)
    # when
    data = await client.data(TIMELINE, {"asOf": at(moment)})
    # then
    assert data["timelineReport"]["asOfDate"] == moment.date().isoformat()


async def test_moments_that_cannot_be_shown_are_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    now = datetime.now(UTC)
    future = now + timedelta(days=1)
    # when
    two = await client.error(TWO_MOMENTS, {"a": at(now), "b": at(now - timedelta(hours=1))})
    naive = await client.error(NAIVE)
    ahead = await client.error(PROGRAM, {"asOf": at(future)})
    same = await client.data(TWO_MOMENTS, {"a": at(now), "b": at(now.astimezone())})
    # then
    assert two["extensions"]["code"] == "INVALID_ARGUMENT"
    assert "one moment per operation" in two["message"]
    assert naive["extensions"]["code"] == "INVALID_ARGUMENT"
    assert ahead["extensions"]["code"] == "INVALID_ARGUMENT"
    assert same == {"program": None, "transactions": {"totalCount": 0}}


async def test_state_as_of_now_rebuilt_from_the_trail_equals_every_live_table(
    db: Database,
) -> None:
    # given
    await load(db)
    await change_everything(db)
    # when
    view = await open_view(db.engine, moment=datetime.now(UTC))
    try:
        conn, schema = view.connection, view.schema
        differences: dict[str, tuple[int, int]] = {}
        compared: dict[str, int] = {}
        for name, model in audited_tables().items():
            columns = ", ".join(c.name for c in model.__table__.columns)
            rebuilt = (await conn.execute(text(f"SELECT {columns} FROM {name} ORDER BY id"))).all()
            live = (
                await conn.execute(
                    text(f"SELECT {columns} FROM {real_table(conn, schema, name)} ORDER BY id")
                )
            ).all()
            compared[name] = len(live)
            if rebuilt != live:
                differences[name] = (len(rebuilt), len(live))
    finally:
        await view.close()
    # then
    assert differences == {}
    assert all(compared[name] for name in ("initiatives", "budget_lines", "transactions"))


async def test_a_views_statements_do_not_grow_with_its_rows(db: Database) -> None:
    # given
    await load(db)
    await add_transactions(db, 1)
    with StatementCounter(view_engine(db.engine)) as small:
        view = await open_view(db.engine, moment=datetime.now(UTC))
        await view.close()
    await add_transactions(db, 300)
    # when
    with StatementCounter(view_engine(db.engine)) as large:
        view = await open_view(db.engine, moment=datetime.now(UTC))
        await view.close()
    # then: a fixed number per table (create, read, insert, index), whatever the rows
    assert large.count == small.count
    assert small.count <= 8 * len(audited_tables())
    assert view.rows == await row_count(db)


async def add_transactions(db: Database, count: int) -> None:
    async with db.sessions() as session, session.begin():
        initiative = await session.scalar(select(m.Initiative).limit(1))
        assert initiative is not None
        for _ in range(count):
            await f.transaction(session, initiative)


async def row_count(db: Database) -> int:
    async with db.sessions() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(model))
            for model in audited_tables().values()
        ]
    return sum(c or 0 for c in counts)


@contextmanager
def driver_queries(db: Database) -> Iterator[list[str]]:
    """What views' connections opened in the block send through the driver itself, not
    as statements SQLAlchemy prepares (on PostgreSQL asyncpg's query loggers see those:
    BEGIN, and a build's scripts); nothing on SQLite."""
    sent: list[str] = []
    engine = view_engine(db.engine).sync_engine

    def connected(dbapi_connection: Any, _record: Any) -> None:
        if engine.dialect.name == "postgresql":
            dbapi_connection.driver_connection.add_query_logger(lambda r: sent.append(r.query))

    event.listen(engine, "connect", connected)
    try:
        yield sent
    finally:
        event.remove(engine, "connect", connected)


async def test_a_view_builds_in_round_trips_that_do_not_grow_with_its_tables(
    db: Database,
) -> None:
    # given
    moment = await load(db)
    await change_everything(db)
    async with db.sessions() as session:
        then = await session.scalar(select(func.count()).select_from(m.Initiative))
    tables = len(audited_tables())
    # when
    with StatementCounter(view_engine(db.engine)) as prepared, driver_queries(db) as sent:
        view = await open_view(db.engine, moment=moment)
        built = list(sent)  # the build's alone (the logger stays on the connection)
    try:
        async with view.sessions() as session:
            seen = await session.scalar(select(func.count()).select_from(m.Initiative))
    finally:
        await view.close()
    # then: on PostgreSQL its reads (the schema, the moment's entry, the rollups held),
    # one script that creates and fills every shadow, their count, and one script that
    # indexes and ends the build: a fixed few round trips, where one statement each
    # took two (a prepare and an execute) for every shadow; on SQLite (no round trips:
    # calls into its thread) a fixed number of statements per shadow
    scripts = [q for q in built if "CREATE TEMP" in q]
    if db.backend == "postgresql":
        assert len(scripts) == 2
        assert all(f"CREATE TEMP TABLE {name} " in scripts[0] for name in audited_tables())
        # 5 statements prepared and run, BEGIN, the two scripts, COMMIT
        assert len(prepared.statements) + len(built) <= 9 < tables
    else:
        assert not built
        assert len(prepared.statements) <= 3 * tables + 4
    # and: the view holds the moment
    assert view.rows > 0
    assert seen == then


async def test_a_build_cancelled_midway_frees_its_slot_and_leaves_no_view(
    db: Database, settings: Settings
) -> None:
    """A build cancelled while the database runs it (the client gone, a deadline): the
    cancellation propagates, the connection is closed rather than kept, the slot is
    free, and the next view holds the moment exactly."""
    # given: the budget lines locked by another transaction on PostgreSQL, so that the
    # build's script waits inside the database (SQLite's build cannot be held there: it
    # is cancelled while it runs statement by statement)
    moment = await load(db)
    pool = ViewPool(settings, lambda _session: _no_head())
    postgresql = db.backend == "postgresql"
    async with db.engine.connect() as holder:
        held = await holder.begin()
        if postgresql:
            await holder.execute(text("LOCK TABLE budget_lines IN ACCESS EXCLUSIVE MODE"))
        building = asyncio.create_task(
            pool.lease(
                db.engine,
                db.sessions,
                caller="reader",
                partner=False,
                moment=moment,
                initiatives=None,
            )
        )
        if postgresql:
            await _wait_for_lock(db)
        else:
            await asyncio.sleep(0.01)
        # when
        building.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await building
        await held.rollback()
    # then: nothing held (a build that ended before the cancellation is released)
    if not building.cancelled():
        await building.result().release()
    assert pool.open == 0
    if postgresql:
        assert await _view_connections(db) == 0
    # and: the next view as of the moment holds what was then
    lease = await pool.lease(
        db.engine, db.sessions, caller="reader", partner=False, moment=moment, initiatives=None
    )
    try:
        async with lease.view.sessions() as session:
            lines = await session.scalar(select(func.count()).select_from(m.BudgetLine))
    finally:
        await lease.release()
    async with db.sessions() as session:
        assert lines == await session.scalar(select(func.count()).select_from(m.BudgetLine))
    assert pool.open == 0


async def _no_head() -> None:
    return None


async def _wait_for_lock(db: Database) -> None:
    """Until a statement of a view's build waits for a lock (at most 10 s)."""
    async with asyncio.timeout(10):
        while True:
            async with db.sessions() as session:
                waiting = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%CREATE TEMP TABLE%' AND datname = current_database()"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.02)


async def _view_connections(db: Database) -> int:
    """Connections to the database that hold TEMP tables or wait in a build, once those
    of cancelled builds had time to end (at most 10 s)."""
    async with asyncio.timeout(10):
        while True:
            async with db.sessions() as session:
                count = int(
                    await session.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE "
                            "datname = current_database() AND query LIKE '%CREATE TEMP%'"
                            " AND pid <> pg_backend_pid()"
                        )
                    )
                    or 0
                )
            if count == 0:
                return 0
            await asyncio.sleep(0.05)

"""The timeline report: slippage, overdue milestones and initiatives off track, as of a day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from graphql import parse

from app import models as m
from app.config import Settings
from app.db.session import StatementCounter
from app.graphql.extensions.limits import QueryCostLimiter
from app.graphql.schema import build_schema
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

REPORT = """
query($asOf: Date, $filter: InitiativeFilter, $first: Int, $after: String) {
  timelineReport(asOfDate: $asOf, filter: $filter) {
    asOfDate
    milestonesByStatus { status count }
    initiatives {
      totalCount
      nodes {
        initiative { code }
        milestoneCount achievedCount overdueCount slippedCount largestSlippageDays onTrack
      }
    }
    lateMilestones(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        milestone { title initiative { code } }
        slippageDays overdue daysOverdue daysLate
      }
    }
  }
}
"""

AS_OF = date(2024, 6, 30)


async def _report(client: GraphQLClient, as_of: date | None = AS_OF, **variables: Any) -> Any:
    sent = {"asOf": as_of.isoformat() if as_of else None, **variables}
    return (await client.data(REPORT, sent))["timelineReport"]


def _late(report: Any) -> dict[str, dict[str, Any]]:
    """The late milestones by title."""
    return {n["milestone"]["title"]: n for n in report["lateMilestones"]["nodes"]}


def _initiatives(report: Any) -> dict[str, dict[str, Any]]:
    """The initiative rows by code."""
    return {n["initiative"]["code"]: n for n in report["initiatives"]["nodes"]}


async def test_slippage_is_actual_else_forecast_minus_planned_in_days(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A")
        await f.milestone(
            session,
            a,
            title="forecast",
            planned_date=date(2024, 7, 10),
            forecast_date=date(2024, 8, 9),
            status=m.MilestoneStatus.IN_PROGRESS,
        )
        await f.milestone(
            session,
            a,
            title="actual wins",
            planned_date=date(2024, 1, 10),
            actual_date=date(2024, 1, 20),
            forecast_date=date(2024, 3, 1),
            status=m.MilestoneStatus.ACHIEVED,
        )
        await f.milestone(  # across the leap day: 2024-02-29 exists
            session,
            a,
            title="leap",
            planned_date=date(2024, 2, 28),
            forecast_date=date(2024, 3, 1),
            status=m.MilestoneStatus.ACHIEVED,
        )
        await f.milestone(
            session,
            a,
            title="early",
            planned_date=date(2024, 1, 10),
            actual_date=date(2024, 1, 5),
            status=m.MilestoneStatus.ACHIEVED,
        )
        b = await f.initiative(session, program, code="B")
        # no planned date, and a planned date with neither actual nor forecast
        await f.milestone(session, b, title="undated", planned_date=None, forecast_date=AS_OF)
        await f.milestone(session, b, title="future", planned_date=date(2025, 1, 1))
        c = await f.initiative(session, program, code="C")
        await f.milestone(
            session,
            c,
            title="ahead",
            planned_date=date(2025, 1, 10),
            forecast_date=date(2024, 12, 31),
        )
    # when
    report = await _report(client)
    # then
    late = _late(report)
    assert set(late) == {"forecast", "actual wins", "leap"}
    assert late["forecast"]["slippageDays"] == 30
    assert late["actual wins"]["slippageDays"] == 10
    assert late["leap"]["slippageDays"] == 2
    assert all(not n["overdue"] and n["daysOverdue"] is None for n in late.values())
    assert [n["milestone"]["title"] for n in report["lateMilestones"]["nodes"]] == [
        "forecast",
        "actual wins",
        "leap",
    ]  # latest first
    rows = _initiatives(report)
    assert rows["A"]["largestSlippageDays"] == 30
    assert rows["A"]["slippedCount"] == 3
    assert rows["B"]["largestSlippageDays"] is None
    assert rows["C"]["largestSlippageDays"] == -10


async def test_overdue_is_open_undated_and_planned_before_the_day(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        i = await f.initiative(session, program, code="I")
        status = m.MilestoneStatus
        await f.milestone(session, i, title="overdue", planned_date=date(2024, 6, 1))
        await f.milestone(
            session, i, title="missed", planned_date=date(2024, 5, 31), status=status.MISSED
        )
        await f.milestone(
            session,
            i,
            title="overdue, forecast late",
            planned_date=date(2024, 6, 20),
            forecast_date=date(2024, 9, 18),
            status=status.IN_PROGRESS,
        )
        await f.milestone(session, i, title="due today", planned_date=AS_OF)
        await f.milestone(
            session,
            i,
            title="achieved",
            planned_date=date(2024, 6, 1),
            actual_date=date(2024, 6, 1),
            status=status.ACHIEVED,
        )
        await f.milestone(
            session, i, title="cancelled", planned_date=date(2024, 1, 1), status=status.CANCELLED
        )
        await f.milestone(
            session,
            i,
            title="dated, status lagging",
            planned_date=date(2024, 6, 1),
            actual_date=date(2024, 6, 1),
            status=status.IN_PROGRESS,
        )
    # when
    report = await _report(client)
    # then
    late = _late(report)
    assert set(late) == {"overdue", "missed", "overdue, forecast late"}
    assert late["overdue"] | {"milestone": None} == {
        "milestone": None,
        "overdue": True,
        "daysOverdue": 29,
        "slippageDays": None,  # no forecast: slippage unknown, overdue all the same
        "daysLate": 29,
    }
    assert late["missed"]["daysOverdue"] == 30
    forecast_late = late["overdue, forecast late"]
    assert (forecast_late["daysOverdue"], forecast_late["slippageDays"]) == (10, 90)
    assert forecast_late["daysLate"] == 90
    assert [n["milestone"]["title"] for n in report["lateMilestones"]["nodes"]] == [
        "overdue, forecast late",
        "missed",
        "overdue",
    ]
    assert _initiatives(report)["I"]["overdueCount"] == 3


async def test_the_day_decides_what_is_known(db: Database, client: GraphQLClient) -> None:
    # given: achieved on 15 March, planned for 1 March
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        i = await f.initiative(session, program, code="I", planned_end=date(2030, 1, 1))
        await f.milestone(
            session,
            i,
            title="launch",
            planned_date=date(2024, 3, 1),
            actual_date=date(2024, 3, 15),
            status=m.MilestoneStatus.ACHIEVED,
        )
        await f.milestone(session, i, title="later", planned_date=date(2029, 1, 1))
    # when
    before = await _report(client, as_of=date(2024, 3, 10))
    after = await _report(client, as_of=date(2024, 4, 1))
    # then: on 10 March the milestone was not reached yet, and overdue
    assert before["asOfDate"] == "2024-03-10"
    assert _late(before)["launch"] | {"milestone": None} == {
        "milestone": None,
        "overdue": True,
        "daysOverdue": 9,
        "slippageDays": None,
        "daysLate": 9,
    }
    counts = {c["status"]: c["count"] for c in before["milestonesByStatus"]}
    assert (counts["ACHIEVED"], counts["IN_PROGRESS"], counts["PLANNED"]) == (0, 1, 1)
    row = _initiatives(before)["I"]
    assert (row["achievedCount"], row["overdueCount"], row["onTrack"]) == (0, 1, "OFF_TRACK")
    # by 1 April it was achieved, 14 days late
    assert _late(after)["launch"]["slippageDays"] == 14
    assert not _late(after)["launch"]["overdue"]
    counts = {c["status"]: c["count"] for c in after["milestonesByStatus"]}
    assert (counts["ACHIEVED"], counts["IN_PROGRESS"]) == (1, 0)
    row = _initiatives(after)["I"]
    assert (row["achievedCount"], row["overdueCount"], row["onTrack"]) == (1, 0, "ON_TRACK")


async def test_the_day_defaults_to_today_in_utc(db: Database, client: GraphQLClient) -> None:
    # given
    before = datetime.now(UTC).date()
    # when
    report = await _report(client, as_of=None)
    # then
    assert report["asOfDate"] in {before.isoformat(), datetime.now(UTC).date().isoformat()}


async def test_milestones_by_status_lists_every_status(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        i = await f.initiative(session, program)
        for status in (m.MilestoneStatus.PLANNED, m.MilestoneStatus.PLANNED):
            await f.milestone(session, i, status=status)
        await f.milestone(session, i, status=m.MilestoneStatus.CANCELLED)
    # when
    report = await _report(client)
    # then
    assert report["milestonesByStatus"] == [
        {"status": "PLANNED", "count": 2},
        {"status": "IN_PROGRESS", "count": 0},
        {"status": "ACHIEVED", "count": 0},
        {"status": "MISSED", "count": 0},
        {"status": "CANCELLED", "count": 1},
    ]


async def _initiative_with(session: Any, program: m.Program, code: str, **kw: Any) -> Any:
    return await f.initiative(session, program, code=code, planned_end=kw.pop("end", None), **kw)


async def test_on_track_rule_first_match_wins(db: Database, client: GraphQLClient) -> None:
    # given: one initiative per branch of the rule, as of 30 June 2024
    status, achieved = m.MilestoneStatus, m.MilestoneStatus.ACHIEVED
    past, future = date(2024, 6, 1), date(2025, 6, 1)
    async with db.sessions() as session, session.begin():
        p = await f.program(session)
        ms = f.milestone

        cancelled = await _initiative_with(
            session, p, "cancelled", status=m.InitiativeStatus.CANCELLED
        )
        await ms(session, cancelled, planned_date=past)  # overdue, but not judged
        closed = await _initiative_with(session, p, "closed", status=m.InitiativeStatus.CLOSED)
        await ms(session, closed, planned_date=past)
        done = await _initiative_with(session, p, "all achieved", end=past)
        await ms(session, done, planned_date=past, actual_date=past, status=achieved)
        await ms(session, done, planned_date=past, status=status.CANCELLED)

        overdue = await _initiative_with(session, p, "overdue")
        await ms(session, overdue, planned_date=past)
        slipped_91 = await _initiative_with(session, p, "slipped 91")
        await ms(session, slipped_91, planned_date=future, forecast_date=date(2025, 8, 31))
        missed = await _initiative_with(session, p, "missed")
        await ms(session, missed, planned_date=None, status=status.MISSED)
        await _initiative_with(session, p, "end passed", end=past)  # no milestones

        slipped_90 = await _initiative_with(session, p, "slipped 90")
        await ms(session, slipped_90, planned_date=future, forecast_date=date(2025, 8, 30))
        slipped_1 = await _initiative_with(session, p, "slipped 1", end=future)
        await ms(session, slipped_1, planned_date=future, forecast_date=date(2025, 6, 2))

        await _initiative_with(session, p, "no milestones", end=future)

        history = await _initiative_with(session, p, "late in the past")
        await ms(  # achieved 200 days late: history, shown in the figures
            session,
            history,
            planned_date=date(2023, 1, 1),
            actual_date=date(2023, 7, 20),
            status=achieved,
        )
        await ms(session, history, planned_date=future, forecast_date=future)
        finished = await _initiative_with(
            session, p, "ended in time", end=past, actual_end=date(2024, 5, 1)
        )
        await ms(session, finished, planned_date=future)
    # when
    report = await _report(client)
    # then
    rows = _initiatives(report)
    assert {code: row["onTrack"] for code, row in rows.items()} == {
        "cancelled": "CANCELLED",
        "closed": "COMPLETED",
        "all achieved": "COMPLETED",
        "overdue": "OFF_TRACK",
        "slipped 91": "OFF_TRACK",
        "missed": "OFF_TRACK",
        "end passed": "OFF_TRACK",
        "slipped 90": "AT_RISK",
        "slipped 1": "AT_RISK",
        "no milestones": "NO_MILESTONES",
        "late in the past": "ON_TRACK",
        "ended in time": "ON_TRACK",
    }
    assert rows["late in the past"]["largestSlippageDays"] == 200
    assert rows["no milestones"]["milestoneCount"] == 0
    assert rows["all achieved"]["milestoneCount"] == 2
    assert rows["all achieved"]["achievedCount"] == 1


async def test_the_filter_limits_every_part_of_the_report(
    db: Database, client: GraphQLClient
) -> None:
    # given: two initiatives, each with an overdue milestone
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code in ("KEEP", "DROP"):
            i = await f.initiative(session, program, code=code)
            await f.milestone(session, i, title=f"{code} milestone", planned_date=date(2024, 1, 1))
            on_time = {"planned_date": AS_OF, "actual_date": AS_OF}
            await f.milestone(session, i, status=m.MilestoneStatus.ACHIEVED, **on_time)
    # when
    report = await _report(client, filter={"code": {"eq": "KEEP"}})
    # then
    assert list(_initiatives(report)) == ["KEEP"]
    assert list(_late(report)) == ["KEEP milestone"]
    counts = {c["status"]: c["count"] for c in report["milestonesByStatus"]}
    assert (counts["PLANNED"], counts["ACHIEVED"]) == (1, 1)
    # the filter has the lists' operators, relations included
    across = await _report(client, filter={"milestone": {"title": {"contains": "drop"}}})
    assert list(_initiatives(across)) == ["DROP"]


async def test_late_milestones_page_with_a_total(db: Database, client: GraphQLClient) -> None:
    # given: three overdue milestones
    async with db.sessions() as session, session.begin():
        i = await f.initiative(session, await f.program(session))
        for day in (1, 2, 3):
            await f.milestone(session, i, title=f"day {day}", planned_date=date(2024, 1, day))
    # when
    first = (await _report(client, first=2))["lateMilestones"]
    rest = (await _report(client, first=2, after=first["pageInfo"]["endCursor"]))["lateMilestones"]
    none = (await _report(client, first=0))["lateMilestones"]
    # then
    assert [n["milestone"]["title"] for n in first["nodes"]] == ["day 1", "day 2"]
    assert first["pageInfo"]["hasNextPage"]
    assert [n["milestone"]["title"] for n in rest["nodes"]] == ["day 3"]
    assert not rest["pageInfo"]["hasNextPage"]
    assert first["totalCount"] == rest["totalCount"] == none["totalCount"] == 3
    assert none["nodes"] == []


async def test_bad_input_gets_a_typed_error(db: Database, client: GraphQLClient) -> None:
    # the test settings cap pages at 100
    too_many = await client.error(REPORT, {"asOf": "2024-06-30", "first": 101})
    assert too_many["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"
    assert too_many["extensions"]["maxPageSize"] == 100
    bad_cursor = await client.error(REPORT, {"after": "nonsense"})
    assert bad_cursor["extensions"]["code"] == "INVALID_CURSOR"
    empty_range = {"plannedEnd": {"gt": "2025-01-01", "lt": "2024-01-01"}}
    inverted = await client.error(REPORT, {"filter": empty_range})
    assert inverted["extensions"]["code"] == "INVALID_RANGE"
    not_a_date = await client.error(REPORT, {"asOf": "30/06/2024"})
    assert not_a_date["extensions"]["code"] == "BAD_USER_INPUT"


async def _build(db: Database, initiatives: int, milestones: int) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(initiatives):
            i = await f.initiative(session, program)
            for n in range(milestones):
                await f.milestone(session, i, planned_date=date(2024, 1, 1 + n))


async def test_the_report_costs_the_same_statements_at_any_size(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _build(db, initiatives=2, milestones=2)
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as small:
        small_report = await _report(client)
    # when: many more initiatives and milestones
    await _build(db, initiatives=8, milestones=5)
    with StatementCounter(db.engine) as large:
        large_report = await _report(client)
    # then
    assert small_report["initiatives"]["totalCount"] == 2
    assert large_report["initiatives"]["totalCount"] == 10
    assert large_report["lateMilestones"]["totalCount"] == 2 * 2 + 8 * 5
    # three report statements, and one batch for the milestones' initiatives
    assert small.count == large.count == 4, large.statements


def test_the_cost_estimate_counts_a_report_list_at_its_default_size() -> None:
    # given: no `first`, so the list returns up to 100 items, not the default page size
    settings = Settings(default_page_size=20, max_page_size=500, max_query_cost=10**9)
    document = parse("{ timelineReport { lateMilestones { nodes { milestone { title } } } } }")
    # when
    cost = QueryCostLimiter(settings).estimate(
        build_schema(settings)._schema, document.definitions, {}
    )
    # then: 100 edges, each with its node (LateMilestone) counted once
    assert cost == 100

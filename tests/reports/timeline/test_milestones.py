"""The timeline report's milestones: slippage, overdue ones, what the day decides, and
the count by status."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.reports.timeline.common import AS_OF, initiatives_by_code, late_by_title, timeline


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
    report = await timeline(client)
    # then
    late = late_by_title(report)
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
    rows = initiatives_by_code(report)
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
    report = await timeline(client)
    # then
    late = late_by_title(report)
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
    assert initiatives_by_code(report)["I"]["overdueCount"] == 3


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
    before = await timeline(client, as_of=date(2024, 3, 10))
    after = await timeline(client, as_of=date(2024, 4, 1))
    # then: on 10 March the milestone was not reached yet, and overdue
    assert before["asOfDate"] == "2024-03-10"
    assert late_by_title(before)["launch"] | {"milestone": None} == {
        "milestone": None,
        "overdue": True,
        "daysOverdue": 9,
        "slippageDays": None,
        "daysLate": 9,
    }
    counts = {c["status"]: c["count"] for c in before["milestonesByStatus"]}
    assert (counts["ACHIEVED"], counts["IN_PROGRESS"], counts["PLANNED"]) == (0, 1, 1)
    row = initiatives_by_code(before)["I"]
    assert (row["achievedCount"], row["overdueCount"], row["onTrack"]) == (0, 1, "OFF_TRACK")
    # by 1 April it was achieved, 14 days late
    assert late_by_title(after)["launch"]["slippageDays"] == 14
    assert not late_by_title(after)["launch"]["overdue"]
    counts = {c["status"]: c["count"] for c in after["milestonesByStatus"]}
    assert (counts["ACHIEVED"], counts["IN_PROGRESS"]) == (1, 0)
    row = initiatives_by_code(after)["I"]
    assert (row["achievedCount"], row["overdueCount"], row["onTrack"]) == (1, 0, "ON_TRACK")


async def test_the_day_defaults_to_today_in_utc(db: Database, client: GraphQLClient) -> None:
    # given
    before = datetime.now(UTC).date()
    # when
    report = await timeline(client, as_of=None)
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
    report = await timeline(client)
    # then
    assert report["milestonesByStatus"] == [
        {"status": "PLANNED", "count": 2},
        {"status": "IN_PROGRESS", "count": 0},
        {"status": "ACHIEVED", "count": 0},
        {"status": "MISSED", "count": 0},
        {"status": "CANCELLED", "count": 1},
    ]

"""The timeline report: initiatives off track (the first rule that matches wins), the
filter over every part, late milestones paged, typed input errors, and a cost that does
not grow with the data."""

from __future__ import annotations

from datetime import date
from typing import Any

from graphql import parse

from app import models as m
from app.config import Settings
from app.db.session import StatementCounter
from app.graphql.extensions.limits import QueryCostLimiter
from app.graphql.schema import build_schema
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts
from tests.reports.timeline.common import (
    AS_OF,
    REPORT,
    initiatives_by_code,
    late_by_title,
    timeline,
)


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
    report = await timeline(client)
    # then
    rows = initiatives_by_code(report)
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
    report = await timeline(client, filter={"code": {"eq": "KEEP"}})
    # then
    assert list(initiatives_by_code(report)) == ["KEEP"]
    assert list(late_by_title(report)) == ["KEEP milestone"]
    counts = {c["status"]: c["count"] for c in report["milestonesByStatus"]}
    assert (counts["PLANNED"], counts["ACHIEVED"]) == (1, 1)
    # the filter has the lists' operators, relations included
    across = await timeline(client, filter={"milestone": {"title": {"contains": "drop"}}})
    assert list(initiatives_by_code(across)) == ["DROP"]


async def test_late_milestones_page_with_a_total(db: Database, client: GraphQLClient) -> None:
    # given: three overdue milestones
    async with db.sessions() as session, session.begin():
        i = await f.initiative(session, await f.program(session))
        for day in (1, 2, 3):
            await f.milestone(session, i, title=f"day {day}", planned_date=date(2024, 1, day))
    # when
    first = (await timeline(client, first=2))["lateMilestones"]
    rest = (await timeline(client, first=2, after=first["pageInfo"]["endCursor"]))["lateMilestones"]
    none = (await timeline(client, first=0))["lateMilestones"]
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
        small_report = await timeline(client)
    # when: many more initiatives and milestones
    await _build(db, initiatives=8, milestones=5)
    with StatementCounter(db.engine) as large:
        large_report = await timeline(client)
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

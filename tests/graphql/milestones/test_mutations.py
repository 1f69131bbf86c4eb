"""Writing milestones: the status and actual date go together, and actual means past."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateMilestoneInput!) {
  createMilestone(input: $input) {
    milestone { id version title status plannedDate actualDate initiative { code } }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateMilestoneInput!) {
  updateMilestone(input: $input) {
    milestone { id version status actualDate forecastDate }
    errors { field code message }
  }
}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveMilestone(input: $input) { milestone { id title } errors { field code message } }
}"""

YESTERDAY = (today() - timedelta(days=1)).isoformat()
# A week ahead, not a day: parameters are computed when the tests are collected, and
# a run that crosses midnight (UTC) would otherwise find "tomorrow" is today.
NEXT_WEEK = (today() + timedelta(days=7)).isoformat()


@dataclass
class Setup:
    initiative: m.Initiative
    editor: GraphQLClient
    viewer: GraphQLClient

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "initiativeId": encode_global_id("Initiative", self.initiative.id),
            "title": "First homes open",
            "status": "PLANNED",
            "plannedDate": "2026-06-30",
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session), code="CP-M")
        editor = await f.api_key(session, "editor", name="editor-1")
        viewer = await f.api_key(session, "viewer", name="viewer-1")
    return Setup(initiative, client.with_key(editor), client.with_key(viewer))


async def counts(db: Database) -> tuple[int, int]:
    """(milestones, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Milestone)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def create(setup: Setup, **changes: Any) -> dict[str, Any]:
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    assert data["createMilestone"]["errors"] == []
    milestone: dict[str, Any] = data["createMilestone"]["milestone"]
    return milestone


async def test_a_milestone_is_planned_then_achieved(db: Database, setup: Setup) -> None:
    # given
    milestone = await create(setup)
    # when
    data = await setup.editor.data(
        UPDATE,
        {
            "input": {
                "id": milestone["id"],
                "version": 1,
                "status": "ACHIEVED",
                "actualDate": YESTERDAY,
            }
        },
    )
    # then
    assert milestone["version"] == 1
    assert milestone["initiative"] == {"code": "CP-M"}
    assert data["updateMilestone"]["errors"] == []
    updated = data["updateMilestone"]["milestone"]
    assert (updated["version"], updated["status"], updated["actualDate"]) == (
        2,
        "ACHIEVED",
        YESTERDAY,
    )
    async with db.sessions() as session:
        entries = (
            await session.scalars(
                select(m.Change)
                .where(m.Change.entity_type == "milestones")
                .order_by(m.Change.sequence)
            )
        ).all()
    assert [(e.operation, e.actor_name) for e in entries] == [
        ("create", "editor-1"),
        ("update", "editor-1"),
    ]
    assert json.loads(entries[1].before or "")["status"] == "planned"
    assert json.loads(entries[1].after or "")["status"] == "achieved"
    assert entries[1].initiative_id == setup.initiative.id


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"status": "ACHIEVED"}, "actualDate", "VALIDATION"),
        ({"actualDate": YESTERDAY}, "actualDate", "VALIDATION"),
        ({"status": "ACHIEVED", "actualDate": NEXT_WEEK}, "actualDate", "VALIDATION"),
        ({"title": ""}, "title", "VALIDATION"),
        ({"title": "t" * 301}, "title", "VALIDATION"),
        ({"description": "d" * 10_001}, "description", "VALIDATION"),
        ({"initiativeId": encode_global_id("Initiative", 9999)}, "initiativeId", "NOT_FOUND"),
    ],
)
async def test_a_bad_milestone_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    # then
    payload = data["createMilestone"]
    assert payload["milestone"] is None
    assert codes(payload) == [(field, code)]
    assert await counts(db) == before


async def test_leaving_achieved_needs_the_actual_date_cleared(db: Database, setup: Setup) -> None:
    # given
    milestone = await create(setup, status="ACHIEVED", actualDate=YESTERDAY)
    before = await counts(db)
    # when
    refused = await setup.editor.data(
        UPDATE, {"input": {"id": milestone["id"], "version": 1, "status": "IN_PROGRESS"}}
    )
    unchanged = await counts(db)
    accepted = await setup.editor.data(
        UPDATE,
        {
            "input": {
                "id": milestone["id"],
                "version": 1,
                "status": "IN_PROGRESS",
                "actualDate": None,
                "forecastDate": "2027-01-31",
            }
        },
    )
    # then
    assert codes(refused["updateMilestone"]) == [("actualDate", "VALIDATION")]
    assert "ACHIEVED" in refused["updateMilestone"]["errors"][0]["message"]
    assert unchanged == before
    assert accepted["updateMilestone"]["milestone"]["actualDate"] is None
    assert accepted["updateMilestone"]["milestone"]["version"] == 2


async def test_a_stale_version_is_a_conflict_and_nothing_is_written(
    db: Database, setup: Setup
) -> None:
    # given
    milestone = await create(setup)
    await setup.editor.data(
        UPDATE, {"input": {"id": milestone["id"], "version": 1, "forecastDate": "2026-09-30"}}
    )
    before = await counts(db)
    # when
    data = await setup.editor.data(
        UPDATE, {"input": {"id": milestone["id"], "version": 1, "status": "CANCELLED"}}
    )
    # then
    assert codes(data["updateMilestone"]) == [("version", "CONFLICT")]
    assert await counts(db) == before


async def test_a_missing_milestone_is_not_found(setup: Setup) -> None:
    data = await setup.editor.data(
        ARCHIVE, {"input": {"id": encode_global_id("Milestone", 4040), "version": 1}}
    )
    assert codes(data["archiveMilestone"]) == [("id", "NOT_FOUND")]


async def test_an_archived_milestone_leaves_its_initiative(db: Database, setup: Setup) -> None:
    # given
    milestone = await create(setup)
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": milestone["id"], "version": 1}})
    # then
    assert data["archiveMilestone"]["errors"] == []
    assert data["archiveMilestone"]["milestone"]["title"] == "First homes open"
    listed = await setup.editor.data("{ milestones { totalCount } }")
    assert listed["milestones"]["totalCount"] == 0
    async with db.sessions() as session:
        ops = (
            await session.scalars(
                select(m.Change.operation)
                .where(m.Change.entity_type == "milestones")
                .order_by(m.Change.sequence)
            )
        ).all()
    assert ops == ["create", "archive"]


async def test_a_viewer_may_not_write_milestones(db: Database, setup: Setup) -> None:
    # given
    milestone = await create(setup)
    before = await counts(db)
    # when
    created = await setup.viewer.data(CREATE, {"input": setup.new()})
    updated = await setup.viewer.data(
        UPDATE, {"input": {"id": milestone["id"], "version": 1, "title": "x"}}
    )
    archived = await setup.viewer.data(ARCHIVE, {"input": {"id": milestone["id"], "version": 1}})
    # then
    for payload in (
        created["createMilestone"],
        updated["updateMilestone"],
        archived["archiveMilestone"],
    ):
        assert codes(payload) == [(None, "FORBIDDEN")]
    assert await counts(db) == before


DESCRIBED = """
query($id: ID!) { node(id: $id) { ... on Milestone { description version } } }"""


async def test_a_milestone_keeps_its_description(db: Database, setup: Setup) -> None:
    # given: a milestone written with a description (the input always offered one; it
    # was dropped before writes had one runner)
    milestone = await create(setup, description="Homes handed over to the first families")
    # when
    read = await setup.viewer.data(DESCRIBED, {"id": milestone["id"]})
    changed = await setup.editor.data(
        UPDATE, {"input": {"id": milestone["id"], "version": 1, "description": "Handed over"}}
    )
    again = await setup.viewer.data(DESCRIBED, {"id": milestone["id"]})
    # then
    assert read["node"] == {"description": "Homes handed over to the first families", "version": 1}
    assert changed["updateMilestone"]["errors"] == []
    assert again["node"] == {"description": "Handed over", "version": 2}


async def test_a_too_long_description_is_refused_and_nothing_is_written(
    db: Database, setup: Setup
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(description="x" * 10_001)})
    # then
    assert codes(data["createMilestone"]) == [("description", "VALIDATION")]
    assert await counts(db) == before

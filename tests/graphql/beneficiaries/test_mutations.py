"""Beneficiary targets, and reached figures: submitted as drafts, counted once approved."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

FIGURE_FIELDS = """
id version unit target targetDate reached reachedQualifier reachedAsOf approvedBy approvedAt
draftReached { value qualifier asOf submittedBy submittedAt }
"""
CREATE = f"""
mutation($input: CreateBeneficiaryFigureInput!) {{
  createBeneficiaryFigure(input: $input) {{
    beneficiaryFigure {{ {FIGURE_FIELDS} }}
    errors {{ field code message }}
  }}
}}"""
UPDATE = f"""
mutation($input: UpdateBeneficiaryFigureInput!) {{
  updateBeneficiaryFigure(input: $input) {{
    beneficiaryFigure {{ {FIGURE_FIELDS} }}
    errors {{ field code message }}
  }}
}}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveBeneficiaryFigure(input: $input) {
    beneficiaryFigure { id unit }
    errors { field code message }
  }
}"""
SUBMIT = f"""
mutation($input: SubmitReachedFigureInput!) {{
  submitReachedFigure(input: $input) {{
    beneficiaryFigure {{ {FIGURE_FIELDS} }}
    errors {{ field code message }}
  }}
}}"""
APPROVE = f"""
mutation($input: DecideReachedFigureInput!) {{
  approveReachedFigure(input: $input) {{
    beneficiaryFigure {{ {FIGURE_FIELDS} }}
    errors {{ field code message }}
  }}
}}"""
REJECT = f"""
mutation($input: DecideReachedFigureInput!, $reason: String) {{
  rejectReachedFigure(input: $input, reason: $reason) {{
    beneficiaryFigure {{ {FIGURE_FIELDS} }}
    errors {{ field code message }}
  }}
}}"""
READ_FIGURE = f"""
query($id: ID!) {{ node(id: $id) {{ ... on BeneficiaryFigure {{ {FIGURE_FIELDS} }} }} }}
"""
REACH = "{ reachReport { rows { nodes { unit reached reachedAsOf } } totals { reached } } }"

YESTERDAY = (today() - timedelta(days=1)).isoformat()
# A week ahead, not a day: parameters are computed when the tests are collected, and
# a run that crosses midnight (UTC) would otherwise find "tomorrow" is today.
NEXT_WEEK = (today() + timedelta(days=7)).isoformat()


@dataclass
class Setup:
    initiative: m.Initiative
    group: m.BeneficiaryGroup
    figure: m.BeneficiaryFigure
    editor: GraphQLClient
    auditor: GraphQLClient
    admin: GraphQLClient
    other_admin: GraphQLClient
    viewer: GraphQLClient

    @property
    def figure_id(self) -> str:
        return encode_global_id("BeneficiaryFigure", self.figure.id)

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "initiativeId": encode_global_id("Initiative", self.initiative.id),
            "groupId": encode_global_id("BeneficiaryGroup", self.group.id),
            "unit": "people trained",
            "targetValue": "1200.5",
            "targetDate": "2025-12-31",
            **changes,
        }

    def draft(self, version: int = 1, **changes: Any) -> dict[str, Any]:
        return {
            "figureId": self.figure_id,
            "version": version,
            "value": "40",
            "qualifier": "MORE_THAN",
            "asOf": YESTERDAY,
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        group = await f.beneficiary_group(session, code="elderly")
        figure = await f.beneficiary_figure(
            session, initiative, group, unit="people", target_value=Decimal("100")
        )
        keys = {
            role: await f.api_key(session, role.split("-")[0], name=f"{role}-1")
            for role in ("editor", "auditor", "admin", "admin-b", "viewer")
        }
    return Setup(
        initiative,
        group,
        figure,
        *(client.with_key(keys[r]) for r in ("editor", "auditor", "admin", "admin-b", "viewer")),
    )


async def counts(db: Database) -> tuple[int, int]:
    """(beneficiary figures, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.BeneficiaryFigure)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


async def trail(db: Database) -> list[m.Change]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(m.Change)
            .where(m.Change.entity_type == "beneficiary_figures", m.Change.actor_role != "system")
            .order_by(m.Change.sequence)
        )
        return list(rows.all())


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# --- targets -----------------------------------------------------------------------------


async def test_an_editor_sets_a_target_and_changes_it(db: Database, setup: Setup) -> None:
    # when
    created = await setup.editor.data(CREATE, {"input": setup.new()})
    figure = created["createBeneficiaryFigure"]["beneficiaryFigure"]
    updated = await setup.editor.data(
        UPDATE, {"input": {"id": figure["id"], "version": 1, "targetValue": "1500"}}
    )
    # then
    assert created["createBeneficiaryFigure"]["errors"] == []
    assert (figure["version"], figure["unit"], figure["target"]) == (
        1,
        "people trained",
        "1200.5000",
    )
    assert figure["reached"] is None and figure["draftReached"] is None
    changed = updated["updateBeneficiaryFigure"]["beneficiaryFigure"]
    assert (changed["version"], changed["target"]) == (2, "1500.0000")
    entries = await trail(db)
    assert [(e.operation, e.actor_name) for e in entries] == [
        ("create", "editor-1"),
        ("update", "editor-1"),
    ]
    assert json.loads(entries[1].before or "")["target_value"] == "1200.5000"
    assert json.loads(entries[1].after or "")["target_value"] == "1500.0000"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"unit": "people"}, "unit", "ALREADY_EXISTS"),  # the setup's figure
        ({"unit": ""}, "unit", "VALIDATION"),
        ({"unit": "u" * 101}, "unit", "VALIDATION"),
        ({"targetValue": "-1"}, "targetValue", "VALIDATION"),
        ({"targetValue": "0.00001"}, "targetValue", "VALIDATION"),
        ({"groupId": encode_global_id("BeneficiaryGroup", 9999)}, "groupId", "NOT_FOUND"),
        ({"initiativeId": encode_global_id("Initiative", 9999)}, "initiativeId", "NOT_FOUND"),
    ],
)
async def test_a_bad_figure_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    # then
    payload = data["createBeneficiaryFigure"]
    assert payload["beneficiaryFigure"] is None
    assert codes(payload) == [(field, code)]
    assert await counts(db) == before


async def test_a_figure_is_archived_and_a_missing_one_is_not_found(
    db: Database, setup: Setup
) -> None:
    # when
    archived = await setup.editor.data(ARCHIVE, {"input": {"id": setup.figure_id, "version": 1}})
    again = await setup.editor.data(ARCHIVE, {"input": {"id": setup.figure_id, "version": 1}})
    # then
    assert archived["archiveBeneficiaryFigure"]["errors"] == []
    assert archived["archiveBeneficiaryFigure"]["beneficiaryFigure"]["unit"] == "people"
    assert codes(again["archiveBeneficiaryFigure"]) == [("id", "NOT_FOUND")]
    assert [e.operation for e in await trail(db)] == ["archive"]


async def test_a_stale_version_is_a_conflict_and_nothing_is_written(
    db: Database, setup: Setup
) -> None:
    # given
    await setup.editor.data(
        UPDATE, {"input": {"id": setup.figure_id, "version": 1, "targetDate": "2026-01-01"}}
    )
    before = await counts(db)
    # when
    stale_update = await setup.editor.data(
        UPDATE, {"input": {"id": setup.figure_id, "version": 1, "targetValue": "5"}}
    )
    stale_submit = await setup.editor.data(SUBMIT, {"input": setup.draft(version=1)})
    # then
    assert codes(stale_update["updateBeneficiaryFigure"]) == [("version", "CONFLICT")]
    assert codes(stale_submit["submitReachedFigure"]) == [("version", "CONFLICT")]
    assert await counts(db) == before


# --- reached figures ---------------------------------------------------------------------


async def test_a_draft_counts_only_once_another_person_approves_it(
    db: Database, setup: Setup
) -> None:
    # when: an editor submits
    submitted = await setup.editor.data(SUBMIT, {"input": setup.draft()})
    report_with_draft = await setup.viewer.data(REACH)
    seen_by_viewer = await setup.viewer.data(READ_FIGURE, {"id": setup.figure_id})
    seen_by_auditor = await setup.auditor.data(READ_FIGURE, {"id": setup.figure_id})
    # and an auditor approves
    approved = await setup.auditor.data(APPROVE, {"input": {"id": setup.figure_id, "version": 2}})
    report_approved = await setup.viewer.data(REACH)
    # then: the draft waits, visible to those who may write or approve
    draft = submitted["submitReachedFigure"]["beneficiaryFigure"]
    assert draft["version"] == 2
    assert draft["reached"] is None
    assert draft["draftReached"]["value"] == "40.0000"
    assert draft["draftReached"]["qualifier"] == "MORE_THAN"
    assert draft["draftReached"]["asOf"] == YESTERDAY
    assert draft["draftReached"]["submittedBy"] == "editor-1"
    assert draft["draftReached"]["submittedAt"] is not None
    assert report_with_draft["reachReport"]["rows"]["nodes"][0]["reached"] is None
    assert report_with_draft["reachReport"]["totals"][0]["reached"] is None
    assert seen_by_viewer["node"]["draftReached"] is None
    assert seen_by_auditor["node"]["draftReached"]["submittedBy"] == "editor-1"
    # and the approval makes it the reached figure reports count
    assert approved["approveReachedFigure"]["errors"] == []
    figure = approved["approveReachedFigure"]["beneficiaryFigure"]
    assert (figure["version"], figure["reached"], figure["reachedQualifier"]) == (
        3,
        "40.0000",
        "MORE_THAN",
    )
    assert (figure["reachedAsOf"], figure["approvedBy"]) == (YESTERDAY, "auditor-1")
    assert figure["approvedAt"] is not None
    assert figure["draftReached"] is None
    row = report_approved["reachReport"]["rows"]["nodes"][0]
    assert (row["reached"], row["reachedAsOf"]) == ("40.0000", YESTERDAY)
    # and the trail tells who did which
    entries = await trail(db)
    assert [(e.operation, e.actor_name, e.actor_role) for e in entries] == [
        ("update", "editor-1", "editor"),
        ("approve", "auditor-1", "auditor"),
    ]
    after = json.loads(entries[1].after or "")
    assert (after["reached_value"], after["approved_by"]) == ("40.0000", "auditor-1")
    assert after["draft_reached_value"] is None
    assert json.loads(entries[1].before or "")["draft_submitted_by"] == "editor-1"


async def test_the_submitter_cannot_approve_their_own_figure(db: Database, setup: Setup) -> None:
    # given: an admin submits
    await setup.admin.data(SUBMIT, {"input": setup.draft()})
    before = await counts(db)
    # when
    own = await setup.admin.data(APPROVE, {"input": {"id": setup.figure_id, "version": 2}})
    unchanged = await counts(db)
    other = await setup.other_admin.data(APPROVE, {"input": {"id": setup.figure_id, "version": 2}})
    # then
    assert codes(own["approveReachedFigure"]) == [("id", "FORBIDDEN")]
    assert "four-eyes" in own["approveReachedFigure"]["errors"][0]["message"]
    assert unchanged == before
    assert other["approveReachedFigure"]["errors"] == []
    assert other["approveReachedFigure"]["beneficiaryFigure"]["approvedBy"] == "admin-b-1"


async def test_a_rejected_draft_is_dropped_and_the_approved_figure_stays(
    db: Database, setup: Setup
) -> None:
    # given: an approved 40, then a draft of 55
    await setup.editor.data(SUBMIT, {"input": setup.draft()})
    await setup.auditor.data(APPROVE, {"input": {"id": setup.figure_id, "version": 2}})
    await setup.editor.data(SUBMIT, {"input": setup.draft(version=3, value="55")})
    # when
    unexplained = await setup.auditor.data(REJECT, {"input": {"id": setup.figure_id, "version": 4}})
    rejected = await setup.auditor.data(
        REJECT,
        {"input": {"id": setup.figure_id, "version": 4}, "reason": "the source says 45"},
    )
    # then
    assert codes(unexplained["rejectReachedFigure"]) == [("reason", "VALIDATION")]
    figure = rejected["rejectReachedFigure"]["beneficiaryFigure"]
    assert (figure["version"], figure["reached"], figure["draftReached"]) == (5, "40.0000", None)
    last = (await trail(db))[-1]
    assert (last.operation, last.actor_name, last.reason) == (
        "reject",
        "auditor-1",
        "the source says 45",
    )
    assert json.loads(last.before or "")["draft_reached_value"] == "55.0000"


async def test_without_a_draft_there_is_nothing_to_decide(db: Database, setup: Setup) -> None:
    # given
    before = await counts(db)
    # when
    approved = await setup.auditor.data(APPROVE, {"input": {"id": setup.figure_id, "version": 1}})
    rejected = await setup.auditor.data(
        REJECT, {"input": {"id": setup.figure_id, "version": 1}, "reason": "no"}
    )
    # then
    assert codes(approved["approveReachedFigure"]) == [("id", "VALIDATION")]
    assert codes(rejected["rejectReachedFigure"]) == [("id", "VALIDATION")]
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"value": "-1"}, "value", "VALIDATION"),
        ({"value": "1.00001"}, "value", "VALIDATION"),
        ({"asOf": NEXT_WEEK}, "asOf", "VALIDATION"),
        ({"figureId": encode_global_id("BeneficiaryFigure", 9999)}, "figureId", "NOT_FOUND"),
        ({"figureId": encode_global_id("Initiative", 1)}, "figureId", "INVALID_ID"),
    ],
)
async def test_a_bad_submission_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(SUBMIT, {"input": setup.draft(**changes)})
    # then
    assert data["submitReachedFigure"]["beneficiaryFigure"] is None
    assert codes(data["submitReachedFigure"]) == [(field, code)]
    assert await counts(db) == before


async def test_editors_submit_and_auditors_decide(db: Database, setup: Setup) -> None:
    # given
    await setup.editor.data(SUBMIT, {"input": setup.draft()})
    before = await counts(db)
    decide = {"input": {"id": setup.figure_id, "version": 2}, "reason": "r"}
    # when
    auditor_submits = await setup.auditor.data(SUBMIT, {"input": setup.draft(version=2)})
    editor_approves = await setup.editor.data(APPROVE, decide)
    editor_rejects = await setup.editor.data(REJECT, decide)
    viewer_creates = await setup.viewer.data(CREATE, {"input": setup.new()})
    viewer_updates = await setup.viewer.data(
        UPDATE, {"input": {"id": setup.figure_id, "version": 2, "unit": "x"}}
    )
    viewer_archives = await setup.viewer.data(
        ARCHIVE, {"input": {"id": setup.figure_id, "version": 2}}
    )
    # then
    for payload in (
        auditor_submits["submitReachedFigure"],
        editor_approves["approveReachedFigure"],
        editor_rejects["rejectReachedFigure"],
        viewer_creates["createBeneficiaryFigure"],
        viewer_updates["updateBeneficiaryFigure"],
        viewer_archives["archiveBeneficiaryFigure"],
    ):
        assert codes(payload) == [(None, "FORBIDDEN")]
    assert await counts(db) == before


async def test_the_trail_shows_auditors_the_draft_through_the_same_rule(setup: Setup) -> None:
    """The auditors' trail goes through the rule of the events (draftReached's): those
    who may see the draft see it in `after` and `changedFields`, with who submitted it."""
    await setup.editor.data(SUBMIT, {"input": setup.draft()})
    history = """query($id: ID!) { node(id: $id) { ... on Record {
        history { operation actor { name } changedFields after } } } }"""
    for reader in (setup.auditor, setup.admin):
        submitted = (await reader.data(history, {"id": setup.figure_id}))["node"]["history"][-1]
        assert submitted["actor"]["name"] == "editor-1"
        assert submitted["after"]["draft_reached_value"] == "40.0000"
        assert submitted["after"]["draft_submitted_by"] == "editor-1"
        assert {"draft_reached_value", "draft_submitted_by"} <= set(submitted["changedFields"])

"""Writing initiatives through the API: rules, versions, archive guards, permissions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import decode_global_id, encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateInitiativeInput!, $reason: String) {
  createInitiative(input: $input, reason: $reason) {
    initiative { id version code position title status region plannedStart plannedEnd }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateInitiativeInput!) {
  updateInitiative(input: $input) {
    initiative { id version code title summary }
    errors { field code message }
  }
}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveInitiative(input: $input) {
    initiative { id code }
    errors { field code message }
  }
}"""


@dataclass
class Setup:
    program: m.Program
    editor: GraphQLClient
    viewer: GraphQLClient

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "programId": encode_global_id("Program", self.program.id),
            "code": "CP-LIFE-01",
            "position": 1,
            "title": "Rural elderly care",
            "status": "IMPLEMENTATION",
            "region": "CN-ZJ",
            "plannedStart": "2022-01-01",
            "plannedEnd": "2025-12-31",
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        editor = await f.api_key(session, "editor", name="editor-1")
        viewer = await f.api_key(session, "viewer", name="viewer-1")
    return Setup(program, client.with_key(editor), client.with_key(viewer))


async def counts(db: Database) -> tuple[int, int]:
    """(initiatives, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Initiative)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


async def trail(db: Database) -> list[m.Change]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(m.Change)
            .where(m.Change.entity_type == "initiatives")
            .order_by(m.Change.sequence)
        )
        return list(rows.all())


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def create(setup: Setup, **changes: Any) -> dict[str, Any]:
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    initiative: dict[str, Any] = data["createInitiative"]["initiative"]
    return initiative


async def test_an_editor_creates_and_updates_an_initiative_and_the_trail_names_them(
    db: Database, setup: Setup
) -> None:
    # when
    created = await setup.editor.data(CREATE, {"input": setup.new(), "reason": "announcement"})
    initiative = created["createInitiative"]["initiative"]
    updated = await setup.editor.data(
        UPDATE,
        {"input": {"id": initiative["id"], "version": 1, "title": "Elderly care", "summary": "x"}},
    )
    # then
    assert created["createInitiative"]["errors"] == []
    assert initiative["version"] == 1
    assert (initiative["code"], initiative["region"]) == ("CP-LIFE-01", "CN-ZJ")
    assert updated["updateInitiative"]["errors"] == []
    assert updated["updateInitiative"]["initiative"]["version"] == 2
    assert updated["updateInitiative"]["initiative"]["title"] == "Elderly care"
    entries = await trail(db)
    assert [(e.operation, e.actor_name, e.actor_role) for e in entries] == [
        ("create", "editor-1", "editor"),
        ("update", "editor-1", "editor"),
    ]
    assert entries[0].reason == "announcement"
    before, after = json.loads(entries[1].before or ""), json.loads(entries[1].after or "")
    assert (before["title"], after["title"]) == ("Rural elderly care", "Elderly care")
    assert (before["version"], after["version"]) == (1, 2)


async def test_an_update_that_changes_nothing_succeeds_and_writes_nothing(
    db: Database, setup: Setup
) -> None:
    # given
    created = await setup.editor.data(CREATE, {"input": setup.new()})
    initiative = created["createInitiative"]["initiative"]
    before = await counts(db)
    # when the update gives the values the initiative already has
    same = {"id": initiative["id"], "version": 1, "title": initiative["title"]}
    updated = (await setup.editor.data(UPDATE, {"input": same}))["updateInitiative"]
    # then it succeeds with the record as it is: the same version, no trail entry (and
    # so no `changes` event, which are read from the trail)
    assert updated["errors"] == []
    assert updated["initiative"]["version"] == 1
    assert await counts(db) == before
    entries = await trail(db)
    assert [e.operation for e in entries] == ["create"]
    # and every update mutation says so in the schema
    from app.config import Settings
    from app.graphql.schema import build_schema

    mutations = build_schema(Settings())._schema.mutation_type
    assert mutations is not None
    updates = {name: f for name, f in mutations.fields.items() if name.startswith("update")}
    assert len(updates) == 13
    for name, field in updates.items():
        assert "changes nothing" in (field.description or ""), name
        assert "no audit trail entry" in (field.description or ""), name


# A week ahead, not a day: parameters are computed when the tests are collected, and
# a run that crosses midnight (UTC) would otherwise find "tomorrow" is today.
NEXT_WEEK = (today() + timedelta(days=7)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"code": ""}, "code", "VALIDATION"),
        ({"code": "CP 01"}, "code", "VALIDATION"),
        ({"code": "C" * 65}, "code", "VALIDATION"),
        ({"position": 0}, "position", "VALIDATION"),
        ({"title": "  "}, "title", "VALIDATION"),
        ({"title": "t" * 301}, "title", "VALIDATION"),
        ({"summary": "s" * 10_001}, "summary", "VALIDATION"),
        ({"focusArea": "f" * 101}, "focusArea", "VALIDATION"),
        ({"region": "CN-ZJ-TOO-LONG-17"}, "region", "VALIDATION"),
        ({"plannedEnd": "2021-12-31"}, "plannedEnd", "VALIDATION"),
        ({"actualStart": "2022-02-01", "actualEnd": "2022-01-31"}, "actualEnd", "VALIDATION"),
        ({"actualStart": NEXT_WEEK}, "actualStart", "VALIDATION"),
        ({"programId": encode_global_id("Program", 9999)}, "programId", "NOT_FOUND"),
        ({"programId": encode_global_id("Initiative", 1)}, "programId", "INVALID_ID"),
    ],
)
async def test_a_bad_initiative_is_refused_with_its_field_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    # then
    payload = data["createInitiative"]
    assert payload["initiative"] is None
    assert codes(payload) == [(field, code)]
    assert payload["errors"][0]["message"]
    assert await counts(db) == before


async def test_a_code_in_use_is_already_taken(db: Database, setup: Setup) -> None:
    # given
    await create(setup)
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(position=2)})
    # then
    assert codes(data["createInitiative"]) == [("code", "ALREADY_EXISTS")]
    assert await counts(db) == before


async def test_a_published_code_never_changes(db: Database, setup: Setup) -> None:
    # given
    initiative = await create(setup)
    before = await counts(db)
    # when
    changed = await setup.editor.data(
        UPDATE, {"input": {"id": initiative["id"], "version": 1, "code": "CP-LIFE-02"}}
    )
    after_refusal = await counts(db)
    same = await setup.editor.data(
        UPDATE, {"input": {"id": initiative["id"], "version": 1, "code": "CP-LIFE-01"}}
    )
    # then
    assert codes(changed["updateInitiative"]) == [("code", "VALIDATION")]
    assert after_refusal == before
    assert same["updateInitiative"]["errors"] == []
    assert same["updateInitiative"]["initiative"]["code"] == "CP-LIFE-01"


async def test_a_stale_version_is_a_conflict_and_nothing_is_written(
    db: Database, setup: Setup
) -> None:
    # given
    initiative = await create(setup)
    await setup.editor.data(UPDATE, {"input": {"id": initiative["id"], "version": 1, "title": "A"}})
    before = await counts(db)
    # when
    data = await setup.editor.data(
        UPDATE, {"input": {"id": initiative["id"], "version": 1, "title": "B"}}
    )
    # then
    assert codes(data["updateInitiative"]) == [("version", "CONFLICT")]
    assert await counts(db) == before
    async with db.sessions() as session:
        row = await session.get(m.Initiative, decode_global_id(initiative["id"])[1])
    assert row is not None and (row.title, row.version) == ("A", 2)


async def test_required_fields_cannot_be_cleared(setup: Setup) -> None:
    # given
    initiative = await create(setup)
    # when
    data = await setup.editor.data(
        UPDATE, {"input": {"id": initiative["id"], "version": 1, "title": None, "status": None}}
    )
    # then
    assert codes(data["updateInitiative"]) == [("title", "VALIDATION"), ("status", "VALIDATION")]


async def test_changing_a_missing_initiative_is_not_found(setup: Setup) -> None:
    data = await setup.editor.data(
        UPDATE, {"input": {"id": encode_global_id("Initiative", 777), "version": 1, "title": "x"}}
    )
    assert codes(data["updateInitiative"]) == [("id", "NOT_FOUND")]


async def test_an_initiative_with_records_is_not_archived_and_the_error_counts_them(
    db: Database, setup: Setup
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, setup.program)
        await f.budget_line(session, initiative)
        await f.budget_line(
            session, initiative, period_start=date(2023, 1, 1), period_end=date(2023, 12, 31)
        )
        await f.milestone(session, initiative)
        group = await f.beneficiary_group(session)
        await f.beneficiary_share(session, initiative, group, "50")
    before = await counts(db)
    # when
    data = await setup.editor.data(
        ARCHIVE, {"input": {"id": encode_global_id("Initiative", initiative.id), "version": 1}}
    )
    # then
    payload = data["archiveInitiative"]
    assert codes(payload) == [("id", "CONFLICT")]
    message = payload["errors"][0]["message"]
    assert "2 budget line(s)" in message
    assert "1 milestone(s)" in message
    assert "1 beneficiary share(s)" in message
    assert "transaction" not in message
    assert await counts(db) == before


async def test_an_archived_initiative_leaves_lists_and_the_trail_keeps_it(
    db: Database, setup: Setup
) -> None:
    # given
    initiative = await create(setup)
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": initiative["id"], "version": 1}})
    # then
    assert data["archiveInitiative"]["errors"] == []
    assert data["archiveInitiative"]["initiative"]["code"] == "CP-LIFE-01"
    listed = await setup.editor.data("{ initiatives { totalCount } }")
    assert listed["initiatives"]["totalCount"] == 0
    entries = await trail(db)
    assert [e.operation for e in entries] == ["create", "archive"]
    assert entries[1].after is None
    assert json.loads(entries[1].before or "")["code"] == "CP-LIFE-01"


async def test_a_viewer_may_not_write_initiatives(db: Database, setup: Setup) -> None:
    # given
    initiative = await create(setup)
    before = await counts(db)
    # when
    created = await setup.viewer.data(CREATE, {"input": setup.new(code="CP-2", position=2)})
    updated = await setup.viewer.data(
        UPDATE, {"input": {"id": initiative["id"], "version": 1, "title": "x"}}
    )
    archived = await setup.viewer.data(ARCHIVE, {"input": {"id": initiative["id"], "version": 1}})
    # then
    assert codes(created["createInitiative"]) == [(None, "FORBIDDEN")]
    assert codes(updated["updateInitiative"]) == [(None, "FORBIDDEN")]
    assert codes(archived["archiveInitiative"]) == [(None, "FORBIDDEN")]
    assert await counts(db) == before

"""Organisations: a unique ref, and one still named by the ledger stays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization { id version ref name kind headquarters description }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateOrganizationInput!) {
  updateOrganization(input: $input) {
    organization { version ref kind headquarters }
    errors { field code message }
  }
}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveOrganization(input: $input) { organization { ref } errors { field code message } }
}"""


@dataclass
class Setup:
    editor: GraphQLClient

    @staticmethod
    def new(**changes: Any) -> dict[str, Any]:
        return {
            "ref": "CN-ORG-1",
            "name": "Example Group",
            "kind": "COMPANY",
            "headquarters": "Hangzhou",
            "description": "A company.",
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        editor = await f.api_key(session, "editor", name="editor-1")
    return Setup(client.with_key(editor))


async def counts(db: Database) -> tuple[int, int]:
    """(organisations, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Organization)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def create(setup: Setup, **changes: Any) -> dict[str, Any]:
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    assert data["createOrganization"]["errors"] == []
    organization: dict[str, Any] = data["createOrganization"]["organization"]
    return organization


async def test_an_organisation_is_added_and_corrected(setup: Setup) -> None:
    # when
    created = await create(setup)
    updated = await setup.editor.data(
        UPDATE,
        {"input": {"id": created["id"], "version": 1, "kind": "NGO", "headquarters": None}},
    )
    # then
    assert (created["ref"], created["kind"], created["headquarters"]) == (
        "CN-ORG-1",
        "COMPANY",
        "Hangzhou",
    )
    assert updated["updateOrganization"]["organization"] == {
        "version": 2,
        "ref": "CN-ORG-1",
        "kind": "NGO",
        "headquarters": None,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ref": ""}, "ref"),
        ({"ref": "r" * 65}, "ref"),
        ({"ref": "CN\tORG"}, "ref"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"headquarters": "h" * 201}, "headquarters"),
        ({"description": "d" * 10_001}, "description"),
    ],
)
async def test_a_bad_organisation_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    # then
    assert data["createOrganization"]["organization"] is None
    assert codes(data["createOrganization"]) == [(field, "VALIDATION")]
    assert await counts(db) == before


async def test_an_update_may_not_clear_what_every_organisation_has(
    db: Database, setup: Setup
) -> None:
    # given
    created = await create(setup)
    before = await counts(db)
    # when
    data = await setup.editor.data(
        UPDATE, {"input": {"id": created["id"], "version": 1, "name": None, "kind": None}}
    )
    # then
    assert codes(data["updateOrganization"]) == [("name", "VALIDATION"), ("kind", "VALIDATION")]
    assert await counts(db) == before


async def test_a_ref_in_use_is_already_taken(db: Database, setup: Setup) -> None:
    # given
    await create(setup)
    other = await create(setup, ref="CN-ORG-2")
    before = await counts(db)
    # when
    again = await setup.editor.data(CREATE, {"input": setup.new()})
    renamed = await setup.editor.data(
        UPDATE, {"input": {"id": other["id"], "version": 1, "ref": "CN-ORG-1"}}
    )
    # then
    assert codes(again["createOrganization"]) == [("ref", "ALREADY_EXISTS")]
    assert codes(renamed["updateOrganization"]) == [("ref", "ALREADY_EXISTS")]
    assert await counts(db) == before


@pytest.mark.parametrize("use", ["sponsor", "participant", "provider", "receiver"])
async def test_an_organisation_the_ledger_names_is_not_archived(
    db: Database, setup: Setup, use: str
) -> None:
    # given: an organisation that sponsors, takes part, or gave or got money
    async with db.sessions() as session, session.begin():
        organization = await f.organization(session)
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        if use == "sponsor":
            program.sponsor_id = organization.id
        elif use == "participant":
            session.add(
                m.Participation(
                    initiative_id=initiative.id,
                    organization_id=organization.id,
                    role=m.ParticipationRole.IMPLEMENTING,
                )
            )
        else:
            await f.transaction(session, initiative, **{f"{use}_id": organization.id})
    before = await counts(db)
    organization_id = encode_global_id("Organization", organization.id)
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": organization_id, "version": 1}})
    # then
    assert codes(data["archiveOrganization"]) == [("id", "CONFLICT")]
    assert await counts(db) == before


async def test_an_organisation_nothing_names_is_archived_with_its_citations(
    db: Database, setup: Setup
) -> None:
    # given
    created = await create(setup)
    async with db.sessions() as session, session.begin():
        pk = await session.scalar(select(m.Organization.id).where(m.Organization.ref == "CN-ORG-1"))
        document = m.SourceDocument(ref="d", title="Register entry")
        session.add(document)
        await session.flush()
        session.add(
            m.Citation(
                source_document_id=document.id,
                subject_type=m.SubjectType.ORGANIZATION,
                subject_id=pk,
                field="headquarters",
                quote="Hangzhou",
            )
        )
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": created["id"], "version": 1}})
    # then
    assert data["archiveOrganization"]["errors"] == []
    assert data["archiveOrganization"]["organization"] == {"ref": "CN-ORG-1"}
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Organization)) == 0
        assert await session.scalar(select(func.count()).select_from(m.Citation)) == 0

"""Participations: an organisation takes part in an initiative once in each of IATI's
OrganisationRole roles."""

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
mutation($input: CreateParticipationInput!) {
  createParticipation(input: $input) {
    participation { id version role organization { ref } initiative { code } }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateParticipationInput!) {
  updateParticipation(input: $input) {
    participation { version role } errors { field code message }
  }
}"""
PARTICIPANTS = """
query($id: ID!) { node(id: $id) { ... on Initiative {
  participants { nodes { role organization { ref } } } } } }"""


@dataclass
class Setup:
    editor: GraphQLClient
    initiative: str
    organization: str

    def new(self, role: str) -> dict[str, Any]:
        return {
            "initiativeId": self.initiative,
            "organizationId": self.organization,
            "role": role,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        organization = await f.organization(session, ref="ORG-P")
        editor = await f.api_key(session, "editor", name="editor-1")
    return Setup(
        client.with_key(editor),
        encode_global_id("Initiative", initiative.id),
        encode_global_id("Organization", organization.id),
    )


async def counts(db: Database) -> tuple[int, int]:
    """(participations, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Participation)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def test_an_organisation_takes_part_in_each_iati_role(setup: Setup) -> None:
    # when
    for role in ("FUNDING", "ACCOUNTABLE", "EXTENDING", "IMPLEMENTING"):
        payload = (await setup.editor.data(CREATE, {"input": setup.new(role)}))[
            "createParticipation"
        ]
        assert payload["errors"] == []
        assert payload["participation"]["organization"] == {"ref": "ORG-P"}
    # then
    read = await setup.editor.data(PARTICIPANTS, {"id": setup.initiative})
    roles = sorted(n["role"] for n in read["node"]["participants"]["nodes"])
    assert roles == ["ACCOUNTABLE", "EXTENDING", "FUNDING", "IMPLEMENTING"]


async def test_the_same_role_twice_is_already_taken(db: Database, setup: Setup) -> None:
    # given
    await setup.editor.data(CREATE, {"input": setup.new("FUNDING")})
    other = (await setup.editor.data(CREATE, {"input": setup.new("IMPLEMENTING")}))[
        "createParticipation"
    ]["participation"]
    before = await counts(db)
    # when
    again = await setup.editor.data(CREATE, {"input": setup.new("FUNDING")})
    moved = await setup.editor.data(
        UPDATE, {"input": {"id": other["id"], "version": 1, "role": "FUNDING"}}
    )
    # then
    assert codes(again["createParticipation"]) == [("role", "ALREADY_EXISTS")]
    assert codes(moved["updateParticipation"]) == [("role", "ALREADY_EXISTS")]
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"organizationId": encode_global_id("Organization", 999)}, "organizationId"),
        ({"initiativeId": encode_global_id("Initiative", 999)}, "initiativeId"),
    ],
)
async def test_a_participation_of_no_record_is_refused(
    db: Database, setup: Setup, changes: dict[str, Any], error: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": {**setup.new("FUNDING"), **changes}})
    # then
    assert codes(data["createParticipation"]) == [(error, "NOT_FOUND")]
    assert await counts(db) == before


async def test_a_role_may_not_be_cleared(db: Database, setup: Setup) -> None:
    # given
    created = (await setup.editor.data(CREATE, {"input": setup.new("FUNDING")}))[
        "createParticipation"
    ]["participation"]
    before = await counts(db)
    # when
    data = await setup.editor.data(
        UPDATE, {"input": {"id": created["id"], "version": 1, "role": None}}
    )
    # then
    assert codes(data["updateParticipation"]) == [("role", "VALIDATION")]
    assert await counts(db) == before

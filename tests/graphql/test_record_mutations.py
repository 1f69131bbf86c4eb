"""What every create/update/archive mutation of the record kinds added for issue 16
does alike: the trail and the changes feed, idempotent retries, stale versions,
missing records, and who may write (a partner key, scoped to its initiatives, may
not write at all: not even in its own initiative)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient


@dataclass
class World:
    ids: dict[str, str]  # global IDs of the records new ones hang off
    clients: dict[str, GraphQLClient]  # by role; "partner" sees only `ids["initiative"]`


@dataclass(frozen=True)
class Kind:
    type_name: str  # the node type, e.g. "Organization"
    table: str
    record: str  # the payload's record field
    new: Callable[[dict[str, str]], dict[str, Any]]
    change: dict[str, Any]  # an update's changes
    shown: str  # a field of the record that the change changes

    @property
    def create(self) -> str:
        return f"create{self.type_name}"

    def query(self, verb: str) -> str:
        input_type = "ArchiveInput" if verb == "archive" else f"{verb.title()}{self.type_name}Input"
        return (
            f"mutation($input: {input_type}!, $key: String) {{ {verb}{self.type_name}("
            f"input: $input, idempotencyKey: $key) {{ {self.record} {{ id version {self.shown} }}"
            " replayed errors { field code message } } }"
        )


KINDS = [
    Kind(
        "Organization",
        "organizations",
        "organization",
        lambda ids: {"ref": "XM-DAC-1", "name": "Funder", "kind": "GOVERNMENT"},
        {"name": "Funder (renamed)"},
        "name",
    ),
    Kind(
        "Program",
        "programs",
        "program",
        lambda ids: {
            "ref": "p-2",
            "name": "Second pledge",
            "sponsorId": ids["organization"],
            "pledgedAmount": "5000",
            "pledgedCurrency": "CNY",
        },
        {"name": "Second pledge (renamed)"},
        "name",
    ),
    Kind(
        "BeneficiaryGroup",
        "beneficiary_groups",
        "beneficiaryGroup",
        lambda ids: {"code": "g-2", "name": "Women"},
        {"name": "Women and girls"},
        "name",
    ),
    Kind(
        "BeneficiaryShare",
        "beneficiary_shares",
        "beneficiaryShare",
        lambda ids: {
            "initiativeId": ids["initiative"],
            "groupId": ids["group"],
            "percentage": "40",
        },
        {"percentage": "45.5"},
        "percentage",
    ),
    Kind(
        "Participation",
        "participations",
        "participation",
        lambda ids: {
            "initiativeId": ids["initiative"],
            "organizationId": ids["organization"],
            "role": "FUNDING",
        },
        {"role": "IMPLEMENTING"},
        "role",
    ),
    Kind(
        "Citation",
        "citations",
        "citation",
        lambda ids: {
            "sourceDocumentId": ids["document"],
            "subjectId": ids["program"],
            "field": "pledged",
            "quote": "one million",
        },
        {"isEstimate": True, "note": "rounded"},
        "isEstimate",
    ),
]
BY_NAME = [pytest.param(kind, id=kind.type_name) for kind in KINDS]


@pytest.fixture
async def world(db: Database, client: GraphQLClient) -> World:
    async with db.sessions() as session, session.begin():
        organization = await f.organization(session)
        program = await f.program(session, sponsor_id=organization.id)
        initiative = await f.initiative(session, program)
        group = await f.beneficiary_group(session)
        document = m.SourceDocument(ref="doc-1", title="Announcement")
        session.add(document)
        await session.flush()
        keys = {
            role: await f.api_key(
                session,
                role,
                name=f"{role}-1",
                initiatives=[initiative.code] if role == "partner" else [],
            )
            for role in ("editor", "viewer", "partner", "auditor", "admin")
        }
    ids = {
        "organization": encode_global_id("Organization", organization.id),
        "program": encode_global_id("Program", program.id),
        "initiative": encode_global_id("Initiative", initiative.id),
        "group": encode_global_id("BeneficiaryGroup", group.id),
        "document": encode_global_id("SourceDocument", document.id),
    }
    return World(ids, {role: client.with_key(key) for role, key in keys.items()})


async def run(
    world: World,
    kind: Kind,
    verb: str,
    values: dict[str, Any],
    *,
    who: str = "editor",
    key: str | None = None,
) -> dict[str, Any]:
    data = await world.clients[who].data(kind.query(verb), {"input": values, "key": key})
    payload: dict[str, Any] = data[f"{verb}{kind.type_name}"]
    return payload


async def created(world: World, kind: Kind) -> dict[str, Any]:
    payload = await run(world, kind, "create", kind.new(world.ids))
    assert payload["errors"] == [], payload["errors"]
    record: dict[str, Any] = payload[kind.record]
    return record


async def state(db: Database, kind: Kind) -> tuple[int, int]:
    """(records of the kind, trail entries)."""
    model = m.audited_tables()[kind.table]
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(model)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


CHANGES = """
query($type: ChangeEntityType!, $id: ID!) {
  changes(filter: {entityType: $type, entityId: $id}) {
    nodes { entityType entityId operation actor { name } }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Record { version } } }"


@pytest.mark.parametrize("kind", BY_NAME)
async def test_create_update_archive_each_leave_an_entry_in_the_feed(
    db: Database, world: World, kind: Kind
) -> None:
    # when
    record = await created(world, kind)
    updated = await run(world, kind, "update", {"id": record["id"], "version": 1, **kind.change})
    archived = await run(world, kind, "archive", {"id": record["id"], "version": 2})
    # then: the record was written, changed, and archived
    assert updated["errors"] == [] and archived["errors"] == []
    assert updated[kind.record]["version"] == 2
    assert updated[kind.record][kind.shown] != record[kind.shown]
    assert (await world.clients["admin"].data(NODE, {"id": record["id"]}))["node"] is None
    # and the changes feed lists each step, by the editor, with its record's ID
    entity_type = kind.table.upper().removesuffix("S")
    feed = await world.clients["auditor"].data(CHANGES, {"type": entity_type, "id": record["id"]})
    assert [
        (n["entityType"], n["entityId"], n["operation"], n["actor"]["name"])
        for n in feed["changes"]["nodes"]
    ] == [(entity_type, record["id"], op, "editor-1") for op in ("CREATE", "UPDATE", "ARCHIVE")]


@pytest.mark.parametrize("kind", BY_NAME)
async def test_a_retry_with_the_same_key_writes_nothing_again(
    db: Database, world: World, kind: Kind
) -> None:
    # given
    first = await run(world, kind, "create", kind.new(world.ids), key="load-1")
    after_first = await state(db, kind)
    # when
    again = await run(world, kind, "create", kind.new(world.ids), key="load-1")
    other = await run(world, kind, "create", {**kind.new(world.ids), **kind.change}, key="load-1")
    # then
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again[kind.record] == first[kind.record]
    assert codes(other) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    assert await state(db, kind) == after_first


@pytest.mark.parametrize("kind", BY_NAME)
async def test_a_stale_version_or_a_missing_record_is_refused(
    db: Database, world: World, kind: Kind
) -> None:
    # given: a record changed once since version 1 was read
    record = await created(world, kind)
    await run(world, kind, "update", {"id": record["id"], "version": 1, **kind.change})
    before = await state(db, kind)
    missing = encode_global_id(kind.type_name, 9999)
    # when
    stale_update = await run(world, kind, "update", {"id": record["id"], "version": 1})
    stale_archive = await run(world, kind, "archive", {"id": record["id"], "version": 1})
    missing_update = await run(world, kind, "update", {"id": missing, "version": 1})
    missing_archive = await run(world, kind, "archive", {"id": missing, "version": 1})
    # then
    assert codes(stale_update) == [("version", "CONFLICT")]
    assert codes(stale_archive) == [("version", "CONFLICT")]
    assert codes(missing_update) == [("id", "NOT_FOUND")]
    assert codes(missing_archive) == [("id", "NOT_FOUND")]
    assert await state(db, kind) == before


@pytest.mark.parametrize("who", ["viewer", "partner", "auditor"])
@pytest.mark.parametrize("kind", BY_NAME)
async def test_only_writers_write(db: Database, world: World, kind: Kind, who: str) -> None:
    """A partner's key is read-only, in its own initiative too (the share and the
    participation here are of the one initiative it sees)."""
    # given
    record = await created(world, kind)
    before = await state(db, kind)
    # when
    attempts = [
        await run(world, kind, "create", kind.new(world.ids), who=who),
        await run(
            world, kind, "update", {"id": record["id"], "version": 1, **kind.change}, who=who
        ),
        await run(world, kind, "archive", {"id": record["id"], "version": 1}, who=who),
    ]
    # then
    for payload in attempts:
        assert payload[kind.record] is None
        assert codes(payload) == [(None, "FORBIDDEN")]
    assert await state(db, kind) == before


@pytest.mark.parametrize("kind", BY_NAME)
async def test_an_update_that_changes_nothing_writes_nothing(
    db: Database, world: World, kind: Kind
) -> None:
    # given
    record = await created(world, kind)
    before = await state(db, kind)
    # when
    same = await run(world, kind, "update", {"id": record["id"], "version": 1})
    # then
    assert same["errors"] == []
    assert same[kind.record] == record
    assert await state(db, kind) == before

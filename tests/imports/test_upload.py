"""`POST /imports`: the import over HTTP, for admins, capped, answering the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import models as m
from app.imports.document import document_schema
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.imports.documents import as_json, as_yaml, small

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "ledger-v1.schema.json"
YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}


async def _key(db: Database, role: str, **kw: list[str]) -> dict[str, str]:
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, role, **kw)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {secret}"}


async def _entries(db: Database) -> list[m.Change]:
    async with db.sessions() as session:
        return list(await session.scalars(select(m.Change).order_by(m.Change.sequence)))


async def test_an_admin_imports_and_the_trail_names_the_key(
    db: Database, client: GraphQLClient
) -> None:
    # given
    admin = await _key(db, "admin")
    async with db.sessions() as session:
        name = await session.scalar(select(m.ApiKey.name))
    # when
    response = await client.http.post("/imports", content=as_yaml(small()), headers=admin | YAML)
    # then
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["written"], report["refused"]) == (True, False)
    assert report["summary"]["transaction"]["create"] == 4
    entries = await _entries(db)
    assert len(entries) == 20 and {e.actor_name for e in entries} == {name}
    assert {e.actor_role for e in entries} == {"admin"}


async def test_a_dry_run_over_http_answers_the_report_and_writes_nothing(
    db: Database, client: GraphQLClient
) -> None:
    # given
    admin = await _key(db, "admin")
    # when
    response = await client.http.post(
        "/imports?dryRun=true", content=as_json(small()), headers=admin | JSON
    )
    # then
    assert response.status_code == 200
    assert (response.json()["dryRun"], response.json()["written"]) == (True, False)
    assert response.json()["summary"]["program"]["create"] == 1
    assert await _entries(db) == []


async def test_a_refused_row_is_answered_422_with_its_place(
    db: Database, client: GraphQLClient
) -> None:
    # given
    admin = await _key(db, "admin")
    document = small()
    document["initiatives"][0]["transactions"][0]["transaction_date"] = "2999-01-01"
    # when
    response = await client.http.post("/imports", content=as_json(document), headers=admin | JSON)
    # then
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["place"] == "initiatives[0].transactions[0].transaction_date"
    assert error["code"] == "VALIDATION"
    assert await _entries(db) == []


@pytest.mark.parametrize(
    ("old", "new", "place", "code"),
    [
        (
            "announced_on: '2024-01-15'",
            "announced_on: 2024-02-30",
            "program.announced_on",
            "VALIDATION",
        ),
        (
            "announced_on: '2024-01-15'",
            "announced_on: 2024-01-15 10:30:00",
            "program.announced_on",
            "VALIDATION",
        ),
        (
            "announced_on: '2024-01-15'",
            "announced_on: !!set {a}",
            "program.announced_on",
            "DOCUMENT_INVALID",
        ),
        ("ref: acme-pledge", "ref: acme-pledge\n  ref: other", "program", "DOCUMENT_INVALID"),
    ],
)
async def test_a_malformed_yaml_value_is_answered_422_with_its_place(
    db: Database, client: GraphQLClient, old: str, new: str, place: str, code: str
) -> None:
    # given
    admin = await _key(db, "admin")
    text = as_yaml(small()).decode()
    assert text.count(old) == 1
    # when
    response = await client.http.post(
        "/imports", content=text.replace(old, new).encode(), headers=admin | YAML
    )
    # then
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["place"], error["code"]) == (place, code)
    assert await _entries(db) == []


async def test_editors_partners_and_strangers_may_not_import(
    db: Database, client: GraphQLClient
) -> None:
    # given
    editor = await _key(db, "editor")
    async with db.sessions() as session, session.begin():
        await f.initiative(session, await f.program(session), code="P-1")
    partner = await _key(db, "partner", initiatives=["P-1"])
    # when
    answers = [
        await client.http.post("/imports", content=as_json(small()), headers=who | JSON)
        for who in (editor, partner, {})
    ]
    # then
    assert [a.status_code for a in answers] == [403, 403, 401]
    assert [a.json()["errors"][0]["extensions"]["code"] for a in answers] == [
        "FORBIDDEN",
        "FORBIDDEN",
        "UNAUTHENTICATED",
    ]
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Program)) == 1


async def test_a_body_over_the_cap_is_refused(db: Database, client_with: object) -> None:
    # given: bodies of at most 2 KiB
    client = client_with(max_body_bytes=2048)  # type: ignore[operator]
    admin = await _key(db, "admin")
    data = as_json(small())
    assert len(data) > 2048
    # when
    response = await client.http.post("/imports", content=data, headers=admin | JSON)
    # then
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Program)) == 0


async def test_another_media_type_is_refused(db: Database, client: GraphQLClient) -> None:
    admin = await _key(db, "admin")
    response = await client.http.post(
        "/imports", content=b"a,b\n", headers=admin | {"Content-Type": "text/csv"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_the_format_schema_is_published_as_committed(client: GraphQLClient) -> None:
    # when
    response = await client.http.get("/schemas/ledger-v1.json")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    assert response.json() == document_schema() == json.loads(COMMITTED.read_text("utf-8"))

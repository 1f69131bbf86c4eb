"""Source documents: the evidence stays while anything rests on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import decode_global_id, encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateSourceDocumentInput!) {
  createSourceDocument(input: $input) {
    sourceDocument { id version ref title url publisher publishedOn language category }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateSourceDocumentInput!) {
  updateSourceDocument(input: $input) {
    sourceDocument { id version ref title url }
    errors { field code message }
  }
}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveSourceDocument(input: $input) {
    sourceDocument { id ref }
    errors { field code message }
  }
}"""

# A week ahead, not a day: parameters are computed when the tests are collected, and
# a run that crosses midnight (UTC) would otherwise find "tomorrow" is today.
NEXT_WEEK = (today() + timedelta(days=7)).isoformat()


@dataclass
class Setup:
    editor: GraphQLClient
    viewer: GraphQLClient

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "ref": "xinhua-2021-09-03",
            "title": "Common prosperity pledge announced",
            "url": "https://example.org/news/2021-09-03",
            "publisher": "Xinhua",
            "publishedOn": "2021-09-03",
            "language": "zh-Hans",
            "category": "news-article",
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        editor = await f.api_key(session, "editor", name="editor-1")
        viewer = await f.api_key(session, "viewer", name="viewer-1")
    return Setup(client.with_key(editor), client.with_key(viewer))


async def counts(db: Database) -> tuple[int, int]:
    """(source documents, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.SourceDocument)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def create(setup: Setup, **changes: Any) -> dict[str, Any]:
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    assert data["createSourceDocument"]["errors"] == []
    document: dict[str, Any] = data["createSourceDocument"]["sourceDocument"]
    return document


async def test_an_editor_adds_a_document_and_corrects_it(db: Database, setup: Setup) -> None:
    # when
    document = await create(setup)
    updated = await setup.editor.data(
        UPDATE, {"input": {"id": document["id"], "version": 1, "url": None, "title": "Pledge"}}
    )
    # then
    assert document["version"] == 1
    assert (document["ref"], document["language"]) == ("xinhua-2021-09-03", "zh-Hans")
    changed = updated["updateSourceDocument"]["sourceDocument"]
    assert (changed["version"], changed["title"], changed["url"]) == (2, "Pledge", None)
    async with db.sessions() as session:
        entries = (
            await session.scalars(
                select(m.Change)
                .where(m.Change.entity_type == "source_documents")
                .order_by(m.Change.sequence)
            )
        ).all()
    assert [(e.operation, e.actor_name) for e in entries] == [
        ("create", "editor-1"),
        ("update", "editor-1"),
    ]
    assert json.loads(entries[1].before or "")["url"] == "https://example.org/news/2021-09-03"
    assert json.loads(entries[1].after or "")["url"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ref": ""}, "ref"),
        ({"ref": "r" * 65}, "ref"),
        ({"title": ""}, "title"),
        ({"title": "t" * 301}, "title"),
        ({"url": "ftp://example.org/a"}, "url"),
        ({"url": "example.org/a"}, "url"),
        ({"url": "https://example.org/" + "a" * 1990}, "url"),
        ({"publisher": "p" * 201}, "publisher"),
        ({"publishedOn": NEXT_WEEK}, "publishedOn"),
        ({"language": "Deutsch!"}, "language"),
        ({"language": "zh-Hans-CN-x-private1"}, "language"),
        ({"category": "c" * 65}, "category"),
    ],
)
async def test_a_bad_document_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    # then
    assert data["createSourceDocument"]["sourceDocument"] is None
    assert codes(data["createSourceDocument"]) == [(field, "VALIDATION")]
    assert await counts(db) == before


async def test_a_ref_in_use_is_already_taken(db: Database, setup: Setup) -> None:
    # given
    await create(setup)
    other = await create(setup, ref="other")
    before = await counts(db)
    # when
    created = await setup.editor.data(CREATE, {"input": setup.new()})
    renamed = await setup.editor.data(
        UPDATE, {"input": {"id": other["id"], "version": 1, "ref": "xinhua-2021-09-03"}}
    )
    # then
    assert codes(created["createSourceDocument"]) == [("ref", "ALREADY_EXISTS")]
    assert codes(renamed["updateSourceDocument"]) == [("ref", "ALREADY_EXISTS")]
    assert await counts(db) == before


async def test_a_document_something_rests_on_is_not_archived(db: Database, setup: Setup) -> None:
    # given: a citation and a rate rest on the document
    document = await create(setup)
    doc_id = decode_global_id(document["id"])[1]
    async with db.sessions() as session, session.begin():
        session.add(
            m.Citation(
                source_document_id=doc_id,
                subject_type=m.SubjectType.PROGRAM,
                subject_id=1,
                quote="1 trillion",
            )
        )
        await f.exchange_rate(session, source_document_id=doc_id)
    before = await counts(db)
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": document["id"], "version": 1}})
    # then
    payload = data["archiveSourceDocument"]
    assert codes(payload) == [("id", "CONFLICT")]
    assert "1 citation(s) and 1 exchange rate(s)" in payload["errors"][0]["message"]
    assert await counts(db) == before


async def test_a_document_nothing_rests_on_is_archived(db: Database, setup: Setup) -> None:
    # given
    document = await create(setup)
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": document["id"], "version": 1}})
    # then
    assert data["archiveSourceDocument"]["errors"] == []
    assert data["archiveSourceDocument"]["sourceDocument"]["ref"] == "xinhua-2021-09-03"
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.SourceDocument)) == 0
        last = await session.scalar(select(m.Change).order_by(m.Change.sequence.desc()).limit(1))
    assert last is not None and (last.operation, last.entity_type) == (
        "archive",
        "source_documents",
    )


async def test_stale_and_missing_documents(db: Database, setup: Setup) -> None:
    # given
    document = await create(setup)
    await setup.editor.data(UPDATE, {"input": {"id": document["id"], "version": 1, "title": "A"}})
    before = await counts(db)
    # when
    stale = await setup.editor.data(
        UPDATE, {"input": {"id": document["id"], "version": 1, "title": "B"}}
    )
    missing = await setup.editor.data(
        UPDATE,
        {"input": {"id": encode_global_id("SourceDocument", 9999), "version": 1, "title": "B"}},
    )
    # then
    assert codes(stale["updateSourceDocument"]) == [("version", "CONFLICT")]
    assert codes(missing["updateSourceDocument"]) == [("id", "NOT_FOUND")]
    assert await counts(db) == before


async def test_a_viewer_may_not_write_documents(db: Database, setup: Setup) -> None:
    # given
    document = await create(setup)
    before = await counts(db)
    # when
    created = await setup.viewer.data(CREATE, {"input": setup.new(ref="v")})
    updated = await setup.viewer.data(
        UPDATE, {"input": {"id": document["id"], "version": 1, "title": "x"}}
    )
    archived = await setup.viewer.data(ARCHIVE, {"input": {"id": document["id"], "version": 1}})
    # then
    for payload in (
        created["createSourceDocument"],
        updated["updateSourceDocument"],
        archived["archiveSourceDocument"],
    ):
        assert codes(payload) == [(None, "FORBIDDEN")]
    assert await counts(db) == before

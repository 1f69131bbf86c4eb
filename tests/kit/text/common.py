"""What the text tests share: writes that carry text, real titles and prose every rule
must keep, and requests sent as JSON text of our own (`json.dumps` escapes lone
surrogates, which an HTTP client cannot encode itself)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from tests.conftest import Database, GraphQLClient

CREATE_DOCUMENT = """
mutation($input: CreateSourceDocumentInput!, $reason: String, $key: String) {
  createSourceDocument(input: $input, reason: $reason, idempotencyKey: $key) {
    sourceDocument { id ref title publisher }
    errors { field code message }
  }
}"""
CREATE_MILESTONE = """
mutation($input: CreateMilestoneInput!, $reason: String, $key: String) {
  createMilestone(input: $input, reason: $reason, idempotencyKey: $key) {
    milestone { id title description }
    errors { field code message }
  }
}"""
NUL, SURROGATE = "\x00", "\ud800"

# Real titles and prose, which every rule must keep as written: the demo's German and
# Chinese; Persian with a zero-width non-joiner; Hindi with a zero-width joiner after a
# virama; emoji sequences joined by zero-width joiners; Arabic and Hebrew (whose
# letters ruff's RUF001 takes for look-alikes of Latin ones).
TITLES = [
    "Gemeinsamer Wohlstand: Förderung ländlicher Räume",
    "共同富裕 · 乡村振兴",
    "برنامه\u200cهای توسعه\u200cی روستایی",  # noqa: RUF001 (real script)
    "क्\u200dषेत्रीय विकास",
    "Remote work 👩\u200d💻 and ❤️\u200d🔥",
    "الرخاء المشترك",
    "שגשוג משותף",
]
# Prose may also hold word breaks (Thai marks them with U+200B), direction marks, and
# bidi isolates or embeddings closed within their line.
PROSE = [
    *TITLES,
    "ภาษาไทย\u200bไม่มีช่องว่าง",
    "The article (\u2067الرخاء المشترك\u2069) says:\n\u202bשגשוג\u202c, twice.",  # noqa: RUF001 (real script)
    "Zahl \u200f123\u200e, Tabelle\tSpalte",
]


def body(query: str, variables: dict[str, Any] | None = None) -> str:
    # json.dumps escapes every non-ASCII character: lone surrogates survive as "\ud800"
    return json.dumps({"query": query, "variables": variables or {}})


async def send(
    client: GraphQLClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.http.post(
        "/graphql",
        content=body(query, variables),
        headers={**client.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def trail_length(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.Change)) or 0


def document(**changes: Any) -> dict[str, Any]:
    return {"ref": "hostile-text-1", "title": "A careful title", **changes}


async def first_initiative(db: Database) -> str:
    async with db.sessions() as session:
        pk = await session.scalar(select(func.min(m.Initiative.id)))
    assert pk is not None
    return encode_global_id("Initiative", pk)

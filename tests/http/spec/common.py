"""What the GraphQL-over-HTTP tests share: the media type, an operation and a write to
send, and a raw POST as a spec client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient

ClientWith = Callable[..., GraphQLClient]

SPEC = "application/graphql-response+json"
SPEC_ACCEPT = {"Accept": f"{SPEC}, application/json;q=0.9"}
PROGRAMS = "{ programs { totalCount } }"
CREATE = """
mutation($input: CreateSourceDocumentInput!) {
  createSourceDocument(input: $input) { sourceDocument { id } errors { code } }
}"""
NEW_SOURCE = {
    "ref": "csrf-1",
    "title": "A document",
    "url": "https://example.org/a",
    "publisher": "Example",
    "publishedOn": "2021-09-03",
    "language": "en",
    "category": "news-article",
}


async def post(
    client: GraphQLClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    accept: str = SPEC_ACCEPT["Accept"],
) -> httpx.Response:
    """The raw response to an operation; a spec client's unless `accept` says otherwise."""
    return await client.http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={**client.headers, "Accept": accept},
    )


async def source_documents(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.SourceDocument)) or 0


async def editor(db: Database, client: GraphQLClient) -> GraphQLClient:
    async with db.sessions() as session, session.begin():
        return client.with_key(await f.api_key(session, "editor"))

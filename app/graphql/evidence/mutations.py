"""Mutations of source documents."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
from app.evidence import rules
from app.graphql.context import Info
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    requires,
    values_of,
    write,
)
from app.graphql.nodes import SourceDocument
from app.models import SourceDocument as Row
from app.writes import crud

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A new source document.")
class CreateSourceDocumentInput:
    ref: str = strawberry.field(
        description="Stable reference, unique, at most 64 characters, e.g. `xinhua-2021-09-03`."
    )
    title: str = strawberry.field(
        description="The title in the document's language; required, at most 300 characters."
    )
    url: str | None = strawberry.field(
        default=None, description="An http(s) address; at most 2,000 characters."
    )
    publisher: str | None = strawberry.field(
        default=None, description="Who published it; at most 200 characters."
    )
    published_on: dt.date | None = strawberry.field(
        default=None, description="When it was published; not in the future."
    )
    language: str | None = strawberry.field(
        default=None, description="BCP 47 language tag, e.g. de or zh-Hans; at most 16."
    )
    category: str | None = strawberry.field(
        default=None, description="What kind of document, e.g. `news-article`; at most 64."
    )


@strawberry.input(description="Changes to a source document; fields left out stay as they are.")
class UpdateSourceDocumentInput:
    id: strawberry.ID = strawberry.field(description="The document's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    ref: str | None = strawberry.field(default=UNSET, description="New reference; unique.")
    title: str | None = strawberry.field(default=UNSET, description="New title.")
    url: str | None = strawberry.field(default=UNSET, description="New address; null clears.")
    publisher: str | None = strawberry.field(
        default=UNSET, description="New publisher; null clears."
    )
    published_on: dt.date | None = strawberry.field(
        default=UNSET, description="New publication date; null clears."
    )
    language: str | None = strawberry.field(
        default=UNSET, description="New language tag; null clears."
    )
    category: str | None = strawberry.field(default=UNSET, description="New category; null clears.")


@strawberry.type(description="The result of a source document mutation.")
class SourceDocumentPayload(Payload):
    source_document: SourceDocument | None = strawberry.field(
        description="The document as written (as it was before, for an archive)."
    )


IDS = {"id": "SourceDocument"}


@strawberry.type
class SourceMutations:
    @strawberry.mutation(
        description="Add a source document (editor, admin).",
        metadata=requires(Permission.WRITE),
    )
    async def create_source_document(
        self,
        info: Info,
        input: Annotated[
            CreateSourceDocumentInput, strawberry.argument(description="The new document.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> SourceDocumentPayload:
        return await write(
            info,
            SourceDocumentPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input), rules.validate_document),
        )

    @strawberry.mutation(
        description=f"Change a source document (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_source_document(
        self,
        info: Info,
        input: Annotated[
            UpdateSourceDocumentInput,
            strawberry.argument(description="The document, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> SourceDocumentPayload:
        required = ("ref", "title")
        return await write(
            info,
            SourceDocumentPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s, Row, values_of(input, ids=IDS, required=required), rules.validate_document
            ),
        )

    @strawberry.mutation(
        description="Archive a source document (editor, admin): refused (CONFLICT) while "
        "citations or exchange rates rest on it; the audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_source_document(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> SourceDocumentPayload:
        return await write(
            info,
            SourceDocumentPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, Row, values_of(input, ids=IDS), rules.guard_document_archive),
        )

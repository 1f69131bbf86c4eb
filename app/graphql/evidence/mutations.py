"""Mutations of source documents."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Permission
from app.evidence import rules
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    archive_record,
    errors_of,
    given,
    record_id,
    refuse_nulls,
    run,
)
from app.graphql.nodes import SourceDocument
from app.models import SourceDocument as DocumentRow
from app.writes import crud
from app.writes.errors import Problems

UNSET: Any = strawberry.UNSET
WHAT = "source document"


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


def _values(i: Any) -> dict[str, Any]:
    return given(
        ref=i.ref,
        title=i.title,
        url=i.url,
        publisher=i.publisher,
        published_on=i.published_on,
        language=i.language,
        category=i.category,
    )


def _payload(outcome: Any) -> SourceDocumentPayload:
    record = outcome.record
    return SourceDocumentPayload(
        source_document=SourceDocument.from_row(record) if record is not None else None,
        errors=errors_of(outcome),
        replayed=outcome.replayed,
    )


@strawberry.type
class SourceMutations:
    @strawberry.mutation(description="Add a source document (editor, admin).")
    async def create_source_document(
        self,
        info: strawberry.Info,
        input: Annotated[
            CreateSourceDocumentInput, strawberry.argument(description="The new document.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> SourceDocumentPayload:
        values = _values(input)

        async def work(session: AsyncSession) -> Any:
            return await crud.create(session, DocumentRow, values, rules.validate_document)

        outcome = await run(
            info,
            "createSourceDocument",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(description=f"Change a source document (editor, admin). {UNCHANGED}")
    async def update_source_document(
        self,
        info: strawberry.Info,
        input: Annotated[
            UpdateSourceDocumentInput,
            strawberry.argument(description="The document, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> SourceDocumentPayload:
        problems = Problems()
        pk = record_id(problems, input.id, "SourceDocument", "id")
        values = _values(input)
        refuse_nulls(problems, values, {"ref": "ref", "title": "title"})

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.update(
                session, DocumentRow, pk, input.version, values, WHAT, rules.validate_document
            )

        outcome = await run(
            info,
            "updateSourceDocument",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Archive a source document (editor, admin): refused (CONFLICT) while "
        "citations or exchange rates rest on it; the audit trail keeps it."
    )
    async def archive_source_document(
        self,
        info: strawberry.Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> SourceDocumentPayload:
        outcome = await archive_record(
            info,
            "archiveSourceDocument",
            input,
            DocumentRow,
            "SourceDocument",
            WHAT,
            rules.guard_document_archive,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

"""Mutations of citations: the words of a source behind one fact of any record."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import strawberry
from graphql import GraphQLObjectType, GraphQLSchema, get_nullable_type

from app.auth.roles import Permission
from app.errors import DomainError, ErrorCode
from app.evidence import rules
from app.graphql.context import Info
from app.graphql.evidence.types import SUBJECT_TYPE_NAMES
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
from app.graphql.nodes import Citation
from app.kit.ids import MAX_KEY, decode_global_id
from app.models import Citation as Row
from app.writes import crud
from app.writes.errors import FieldError, Rejected

UNSET: Any = strawberry.UNSET

SUBJECTS = ", ".join(sorted(SUBJECT_TYPE_NAMES.values()))
# Fields of every record, not facts a source states.
NOT_FACTS = frozenset({"id", "createdAt", "updatedAt", "version", "history", "sources"})


@strawberry.input(description="A new citation: a source's words behind one fact of a record.")
class CreateCitationInput:
    source_document_id: strawberry.ID = strawberry.field(
        description="The global ID of the document quoted."
    )
    subject_id: strawberry.ID = strawberry.field(
        description=f"The global ID of the record the fact is about: a {SUBJECTS}."
    )
    field: str | None = strawberry.field(
        default=None,
        description="The field of that record the words support, named as this API names it "
        "(`pledged`, `plannedEnd`, or one level down: `governance.lead`); null: the record "
        "as a whole. At most 64 characters.",
    )
    quote: str = strawberry.field(
        description="The source's own words, verbatim; required, at most 10,000 characters."
    )
    translation: str | None = strawberry.field(
        default=None, description="The quote in English; at most 10,000 characters."
    )
    is_estimate: bool = strawberry.field(
        default=False,
        description="True when the value is derived or illustrative, not stated by the source.",
    )
    note: str | None = strawberry.field(
        default=None, description="How an estimate was made, or other remarks; at most 10,000."
    )


@strawberry.input(
    description="Changes to a citation; fields left out stay as they are. Its subject stays "
    "(archive it and cite anew for another record)."
)
class UpdateCitationInput:
    id: strawberry.ID = strawberry.field(description="The citation's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    source_document_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="The global ID of another document quoted."
    )
    field: str | None = strawberry.field(
        default=UNSET, description="Another field of the subject; null: the record as a whole."
    )
    quote: str | None = strawberry.field(default=UNSET, description="New quote.")
    translation: str | None = strawberry.field(
        default=UNSET, description="New translation; null clears."
    )
    is_estimate: bool | None = strawberry.field(default=UNSET, description="New estimate flag.")
    note: str | None = strawberry.field(default=UNSET, description="New note; null clears.")


@strawberry.type(description="The result of a citation mutation.")
class CitationPayload(Payload):
    citation: Citation | None = strawberry.field(
        description="The citation as written (as it was before, for an archive)."
    )


IDS = {"id": "Citation", "source_document_id": "SourceDocument"}
SUBJECT_TYPES = {name: kind for kind, name in SUBJECT_TYPE_NAMES.items()}


# Per schema and type: a server has one schema, a test run builds many.
@lru_cache(maxsize=64)
def _facts(schema: GraphQLSchema, type_name: str) -> frozenset[str]:
    """The fields of an object type a citation may name: its own, and one level down
    into a field holding an object (`governance.lead`, `pledged.amount`)."""
    object_type = schema.get_type(type_name)
    assert isinstance(object_type, GraphQLObjectType), type_name
    names: set[str] = set()
    for name, field in object_type.fields.items():
        if name in NOT_FACTS:
            continue
        names.add(name)
        inner = get_nullable_type(field.type)
        if isinstance(inner, GraphQLObjectType):
            names.update(f"{name}.{sub}" for sub in inner.fields)
    return frozenset(names)


def facts_of(info: Info) -> rules.Fields:
    return schema_facts(info.schema._schema)


def schema_facts(schema: GraphQLSchema) -> rules.Fields:
    """The fields a citation may name, by kind of subject, in `schema`."""
    return lambda kind: _facts(schema, SUBJECT_TYPE_NAMES[kind])


def with_subject(values: dict[str, Any]) -> dict[str, Any]:
    """The values with the subject's global ID split into its kind and key."""
    global_id = values.pop("subject_id")
    try:
        type_name, pk = decode_global_id(global_id)
    except DomainError as error:
        raise Rejected([FieldError("subject_id", error.code, error.message)]) from error
    kind = SUBJECT_TYPES.get(type_name)
    if kind is None:
        raise Rejected(
            [
                FieldError(
                    "subject_id",
                    ErrorCode.INVALID_ID,
                    f"a {type_name} is not cited; cite a {SUBJECTS}",
                )
            ]
        )
    return {**values, "subject_type": kind, "subject_id": pk if 0 < pk <= MAX_KEY else -1}


@strawberry.type
class CitationMutations:
    @strawberry.mutation(
        description="Cite a source for one fact of a record (editor, admin). The document "
        "and the record must exist (NOT_FOUND); the field must be one of the record's "
        "(VALIDATION).",
        metadata=requires(Permission.WRITE),
    )
    async def create_citation(
        self,
        info: Info,
        input: Annotated[CreateCitationInput, strawberry.argument(description="The new citation.")],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> CitationPayload:
        facts = facts_of(info)

        async def validate(session: Any, problems: Any, citation: Row) -> None:
            await rules.validate_citation(session, problems, citation, facts)

        return await write(
            info,
            CitationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, with_subject(values_of(input, ids=IDS)), validate),
        )

    @strawberry.mutation(
        description=f"Change a citation (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_citation(
        self,
        info: Info,
        input: Annotated[
            UpdateCitationInput,
            strawberry.argument(description="The citation, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> CitationPayload:
        facts = facts_of(info)
        required = ("source_document_id", "quote", "is_estimate")

        async def validate(session: Any, problems: Any, citation: Row) -> None:
            await rules.validate_citation(session, problems, citation, facts)

        return await write(
            info,
            CitationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(s, Row, values_of(input, ids=IDS, required=required), validate),
        )

    @strawberry.mutation(
        description="Archive a citation (editor, admin); the audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_citation(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> CitationPayload:
        return await write(
            info,
            CitationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, Row, values_of(input, ids=IDS)),
        )

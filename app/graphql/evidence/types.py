"""Evidence: source documents and the citations that tie figures to their words."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from app import models as m
from app.evidence.listing import CITATIONS, CITATIONS_OF_DOCUMENT, SOURCE_DOCUMENTS, citations_of
from app.graphql.context import Info
from app.graphql.inputs import CitationFilter
from app.graphql.records import Record, db_id_of, load_node, order_input, register, stamps
from app.graphql.relay import Node, connection
from app.graphql.visibility import Shows
from app.models import SubjectType

# The object type of each kind of citation subject.
SUBJECT_TYPE_NAMES = {
    SubjectType.PROGRAM: "Program",
    SubjectType.INITIATIVE: "Initiative",
    SubjectType.ORGANIZATION: "Organization",
    SubjectType.BUDGET_LINE: "BudgetLine",
    SubjectType.TRANSACTION: "Transaction",
    SubjectType.MILESTONE: "Milestone",
    SubjectType.BENEFICIARY_GROUP: "BeneficiaryGroup",
    SubjectType.BENEFICIARY_FIGURE: "BeneficiaryFigure",
    SubjectType.EXCHANGE_RATE: "ExchangeRate",
}

CitationOrder = order_input("Citation", CITATIONS)
SourceDocumentOrder = order_input("SourceDocument", SOURCE_DOCUMENTS)


@register(m.Citation)
@strawberry.type(
    description="The words of a source that one fact rests on. An estimate is flagged."
)
class Citation(Record):
    _document_id: strawberry.Private[int]
    _subject_id: strawberry.Private[int]
    subject_type: SubjectType = strawberry.field(
        description="The kind of record the citation supports."
    )
    field: str | None = strawberry.field(
        description="The field of the subject it supports, as named in this API (e.g. "
        "`plannedEnd`, `governance.lead`); null: the record as a whole."
    )
    quote: str = strawberry.field(description="The source's own words, verbatim.")
    translation: str | None = strawberry.field(description="The quote in English.")
    is_estimate: bool = strawberry.field(
        description="True when the value is derived or illustrative, not stated by the source."
    )
    note: str | None = strawberry.field(description="How an estimate was made, or other remarks.")

    @classmethod
    def from_row(cls, row: m.Citation) -> Citation:
        return cls(
            **stamps(row),
            _document_id=row.source_document_id,
            _subject_id=row.subject_id,
            subject_type=row.subject_type,
            field=row.field,
            quote=row.quote,
            translation=row.translation,
            is_estimate=row.is_estimate,
            note=row.note,
        )

    @strawberry.field(description="The document quoted.", extensions=[Shows("source_document_id")])
    async def document(self, info: Info) -> SourceDocument:
        return await info.context.loaders.node(SourceDocument).load_required(self._document_id)

    @strawberry.field(
        description="The record whose fact this citation supports.",
        extensions=[Shows("subject_id")],
    )
    async def subject(self, info: Info) -> Node | None:
        type_name = SUBJECT_TYPE_NAMES[self.subject_type]
        return await load_node(info, type_name, self._subject_id)


def cited_sources(subject: SubjectType) -> Any:
    return connection(
        citations_of(subject),
        Citation,
        CitationFilter,
        CitationOrder,
        description="The evidence for this record: the source words behind each fact.",
        parent_key=db_id_of,
    )


@register(m.SourceDocument)
@strawberry.type(description="A source document: the evidence behind figures.")
class SourceDocument(Record):
    ref: str = strawberry.field(description="Stable reference of the document.")
    title: str = strawberry.field(description="The document's title, in its own language.")
    url: str | None = strawberry.field(description="Where the document can be read, if known.")
    publisher: str | None = strawberry.field(description="Who published it, if known.")
    published_on: date | None = strawberry.field(description="When it was published, if known.")
    language: str | None = strawberry.field(description="BCP 47 tag of the text's language.")
    category: str | None = strawberry.field(
        description="What kind of document, e.g. `news-article`."
    )

    @classmethod
    def from_row(cls, row: m.SourceDocument) -> SourceDocument:
        return cls(
            **stamps(row),
            ref=row.ref,
            title=row.title,
            url=row.url,
            publisher=row.publisher,
            published_on=row.published_on,
            language=row.language,
            category=row.category,
        )

    citations = connection(
        CITATIONS_OF_DOCUMENT,
        Citation,
        CitationFilter,
        CitationOrder,
        description="Every fact that cites this document.",
        parent_key=db_id_of,
    )

"""Lists of source documents and citations: what they sort and aggregate by, and the
citations nested under a document or under any cited record (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import citation_filters, source_document_filters
from app.kit.aggregation import Day
from app.kit.listing import Listing, ascending, nested, sorts
from app.models import Citation, SourceDocument, SubjectType

SOURCE_DOCUMENTS = Listing(
    "sourceDocuments",
    SourceDocument,
    source_document_filters,
    sorts(
        SourceDocument,
        ref="the document's ref (its stable identifier)",
        title="the document's title",
        published_on="the document's publication date",
    ),
    ascending(SourceDocument.title),
    aggregates=lambda: {"published_on": Day(SourceDocument.published_on)},
)
CITATIONS = Listing(
    "citations",
    Citation,
    citation_filters,
    sorts(
        Citation,
        field="the field of its record the citation supports (none: the record as a whole)",
        is_estimate="whether the figure is an estimate (false before true)",
    ),
    ascending(Citation.id),
    aggregates=lambda: {},
)
CITATIONS_OF_DOCUMENT = nested(
    CITATIONS, "sourceDocument.citations", lambda: Citation.source_document_id
)


def citations_of(subject_type: SubjectType) -> Listing:
    """The citations of one kind of record, nested under such a record."""
    return nested(
        CITATIONS,
        f"{subject_type.value}.sources",
        lambda: Citation.subject_id,
        scope=lambda: Citation.subject_type == subject_type,
    )

"""Evidence: the documents behind the figures, and which words each figure rests on."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.described import DescribedStrEnum
from app.models._columns import str_enum


class SubjectType(DescribedStrEnum):
    """The kinds of record a citation can point at."""

    PROGRAM = "program", "A programme (the pledge)."
    INITIATIVE = "initiative", "An initiative of a programme."
    ORGANIZATION = "organization", "An organisation."
    BUDGET_LINE = "budget_line", "A budget line of an initiative."
    TRANSACTION = "transaction", "A transaction of an initiative."
    MILESTONE = "milestone", "A milestone of an initiative."
    BENEFICIARY_GROUP = "beneficiary_group", "A beneficiary group."
    BENEFICIARY_FIGURE = (
        "beneficiary_figure",
        "A beneficiary figure: an initiative's target and reach for one group.",
    )
    EXCHANGE_RATE = "exchange_rate", "An exchange rate."


# The table of each kind of record a citation can point at.
SUBJECT_TABLES = {
    SubjectType.PROGRAM: "programs",
    SubjectType.INITIATIVE: "initiatives",
    SubjectType.ORGANIZATION: "organizations",
    SubjectType.BUDGET_LINE: "budget_lines",
    SubjectType.TRANSACTION: "transactions",
    SubjectType.MILESTONE: "milestones",
    SubjectType.BENEFICIARY_GROUP: "beneficiary_groups",
    SubjectType.BENEFICIARY_FIGURE: "beneficiary_figures",
    SubjectType.EXCHANGE_RATE: "exchange_rates",
}


class SourceDocument(Timestamped, Base):
    __tablename__ = "source_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2000))
    publisher: Mapped[str | None] = mapped_column(String(200))
    published_on: Mapped[date | None] = mapped_column(Date)
    # BCP 47 language tag of the document's text, e.g. "de".
    language: Mapped[str | None] = mapped_column(String(16))
    # IATI document category, loosely: "news-article", "annual-report", ...
    category: Mapped[str | None] = mapped_column(String(64))


class Citation(Timestamped, Base):
    """One figure or fact on one record, tied to the words of a source that state it.

    `is_estimate` marks a value the source does not state outright (derived or
    illustrative); reports show the flag next to the figure.
    """

    __tablename__ = "citations"
    __table_args__ = (Index("ix_citations_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_document_id: Mapped[int] = mapped_column(
        ForeignKey("source_documents.id", ondelete="RESTRICT"), index=True
    )
    subject_type: Mapped[SubjectType] = mapped_column(str_enum(SubjectType, "subject_type"))
    subject_id: Mapped[int] = mapped_column(Integer)
    # Which field of the subject the citation supports, named as in the GraphQL API
    # ("pledged", "plannedEnd", "governance.lead"); null: the record as a whole.
    field: Mapped[str | None] = mapped_column(String(64))
    quote: Mapped[str] = mapped_column(Text)
    # The quote's meaning in English, when the source is in another language.
    translation: Mapped[str | None] = mapped_column(Text)
    is_estimate: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)

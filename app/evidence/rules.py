"""The rules of source documents: the evidence behind figures.

A document has a unique reference, a title, and where known a web address (http or
https), a publisher, a publication date (past: it was published) and a BCP 47
language tag. A document still cited, or stating an exchange rate, stays: archiving
it would leave figures without their evidence.

A citation ties one fact of one record (its subject: a programme, an initiative, an
organisation, a budget line, ...) to the words of a document that state it. The fact
is one field of the subject, named as the API names it (`pledged`, `governance.lead`),
or the record as a whole; which names a kind of record has is the API's to say, so the
schema hands them in (`Fields`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorCode
from app.kit.text import Kind
from app.models import Citation, ExchangeRate, SourceDocument, SubjectType, audited_tables
from app.writes import checks
from app.writes.errors import Problems

MAX_REF = 64
MAX_URL = 2000
MAX_PUBLISHER = 200
MAX_LANGUAGE = 16
MAX_CATEGORY = 64
MAX_FIELD = 64

# The field names of each kind of subject, as the API spells them.
Fields = Callable[[SubjectType], frozenset[str]]

# BCP 47 in its common shape: a 2-3 letter language, then subtags ("de", "zh-Hans-CN").
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def _url(problems: Problems, value: str | None) -> str | None:
    value = checks.text(problems, value, "url", limit=MAX_URL, kind=Kind.IDENTIFIER)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        problems.add("url", "must be an http:// or https:// address, e.g. https://example.org/a")
    return value


async def validate_document(
    session: AsyncSession, problems: Problems, document: SourceDocument
) -> None:
    document.ref = (
        checks.text(
            problems, document.ref, "ref", limit=MAX_REF, required=True, kind=Kind.IDENTIFIER
        )
        or ""
    )
    document.title = (
        checks.text(
            problems, document.title, "title", limit=checks.MAX_TITLE, required=True, kind=Kind.NAME
        )
        or ""
    )
    document.url = _url(problems, document.url)
    document.publisher = checks.text(
        problems, document.publisher, "publisher", limit=MAX_PUBLISHER, kind=Kind.NAME
    )
    checks.not_future(problems, document.published_on, "published_on")
    document.language = checks.text(
        problems, document.language, "language", limit=MAX_LANGUAGE, kind=Kind.IDENTIFIER
    )
    if document.language and not LANGUAGE_TAG.fullmatch(document.language):
        problems.add("language", "must be a BCP 47 language tag, e.g. en, de or zh-Hans")
    document.category = checks.text(
        problems, document.category, "category", limit=MAX_CATEGORY, kind=Kind.NAME
    )
    if document.ref and await checks.exists_where(
        session, SourceDocument.ref == document.ref, SourceDocument.id != (document.id or -1)
    ):
        problems.add(
            "ref", f"another document has the ref {document.ref!r}", ErrorCode.ALREADY_EXISTS
        )


async def guard_document_archive(
    session: AsyncSession, problems: Problems, document: SourceDocument
) -> None:
    found = []
    for model, label in ((Citation, "citation(s)"), (ExchangeRate, "exchange rate(s)")):
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.source_document_id == document.id)
        )
        if count:
            found.append(f"{count} {label}")
    if found:
        problems.add(
            "id",
            f"{' and '.join(found)} rest on this document; archive or re-source them first",
            ErrorCode.CONFLICT,
        )


def subject_model(subject: SubjectType) -> type[Any]:
    """The model of a kind of subject (its table is the kind's name, plural)."""
    return audited_tables()[f"{subject.value}s"]


def check_citation(problems: Problems, citation: Citation, fields: Fields | None) -> None:
    """A citation's own values, as a mutation or an import writes them: its quote,
    translation and note, and the field it names, one of its subject's (`fields`). None
    for `fields` holds no name against the API's: only for a document the project ships
    (the demo), which its test holds against them."""
    citation.quote = checks.text(problems, citation.quote, "quote", required=True) or ""
    citation.translation = checks.text(problems, citation.translation, "translation")
    citation.note = checks.text(problems, citation.note, "note")
    found = len(problems.errors)
    citation.field = checks.text(
        problems, citation.field, "field", limit=MAX_FIELD, kind=Kind.IDENTIFIER
    )
    if citation.field == "":
        citation.field = None  # blank: the record as a whole, as null says
    if fields is None:
        return
    known = fields(citation.subject_type)
    spelled = len(problems.errors) == found  # a field too long names nothing, said once
    if spelled and citation.field is not None and citation.field not in known:
        problems.add(
            "field",
            f"{citation.field!r} is no field of a {citation.subject_type.value.replace('_', ' ')}"
            "; name one as the API does (e.g. "
            f"{', '.join(sorted(known)[:3])}), or leave it null for the record as a whole",
        )


async def validate_citation(
    session: AsyncSession, problems: Problems, citation: Citation, fields: Fields
) -> None:
    check_citation(problems, citation, fields)
    await checks.existing(
        session,
        problems,
        SourceDocument,
        citation.source_document_id,
        "source_document_id",
        "source document",
    )
    await checks.existing(
        session,
        problems,
        subject_model(citation.subject_type),
        citation.subject_id,
        "subject_id",
        citation.subject_type.value.replace("_", " "),
    )

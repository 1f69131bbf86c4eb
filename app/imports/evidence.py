"""Citations: the `cite` lists of every record of the file, written last (they point at
records by id). A citation's key is its subject, field, source and quote; a stored one
with other translation, estimate flag or note is updated. New ones go in bulk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from app import models as m
from app.errors import ErrorCode
from app.evidence import rules as evidence_rules
from app.imports import repository as repo
from app.imports import rules
from app.imports.report import Action, RowChange
from app.imports.service import Importer, changed_fields, problems_at
from app.writes.errors import Problems

CITATION_COLUMNS = (
    "source_document_id",
    "subject_type",
    "subject_id",
    "field",
    "quote",
    "translation",
    "is_estimate",
    "note",
)
NAMES = {"source_document_id": "source"}
_KEY = ("subject_type", "subject_id", "field", "source_document_id", "quote")


def _table() -> Table:
    table = m.Citation.__table__
    assert isinstance(table, Table)
    return table


def _label(field: str | None, quote: str) -> str:
    return f"{field or '*'}: {quote[:40]}"


async def load_citations(run: Importer) -> None:
    subjects = {(s.subject_type, s.subject_id) for s in run.subjects}
    stored = {rules.values_of(c, _KEY): c for c in await repo.citations(run.session, subjects)}
    sources = run.document.sources
    default = sources[0].ref if len(sources) == 1 else None
    new: list[tuple[Any, ...]] = []
    meta: list[tuple[str, str]] = []
    rows = 0
    for subject in run.subjects:
        seen: set[tuple[Any, ...]] = set()
        for k, cite in enumerate(subject.cites):
            rows += 1
            place = f"{subject.place}.cite[{k}]"
            problems = Problems()
            ref = cite.source or default
            if ref is None:
                problems.add(
                    "source_document_id",
                    "name the source: the file does not have exactly one",
                    ErrorCode.NOT_FOUND,
                )
            source = run.missing(problems, run.sources, ref, "source_document_id", "source")
            citation = m.Citation(
                source_document_id=source or 0,
                subject_type=subject.subject_type,
                subject_id=subject.subject_id,
                field=cite.field,
                quote=cite.quote,
                translation=cite.translation,
                is_estimate=cite.is_estimate,
                note=cite.note,
            )
            evidence_rules.check_citation(problems, citation, run.fields)
            key = rules.values_of(citation, _KEY)
            if key in seen:
                problems.add(
                    "quote", "the record cites these words twice", ErrorCode.ALREADY_EXISTS
                )
            seen.add(key)
            label = _label(citation.field, citation.quote)
            if problems.errors:
                run.report.refuse(
                    place, "citation", label, problems_at(place, problems.errors, NAMES)
                )
                continue
            found = stored.get(key)
            if found is None:
                new.append(rules.values_of(citation, CITATION_COLUMNS))
                meta.append((place, label))
                continue
            for name in ("translation", "is_estimate", "note"):
                setattr(found, name, getattr(citation, name))
            changed = changed_fields(found, NAMES)
            if changed:
                run.report.row(RowChange(place, "citation", label, Action.UPDATE, changed))
            else:
                run.report.count("citation", Action.UNCHANGED)
    await run.session.flush()
    if new:
        trail = await run.bulk()
        await trail.insert(_table(), CITATION_COLUMNS, new, created_at=trail.occurred_at)
        await trail.finish()
        for place, label in meta:
            run.report.row(RowChange(place, "citation", label, Action.CREATE))
    run.advance(rows)

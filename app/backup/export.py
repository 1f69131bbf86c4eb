"""The ledger's programmes as documents of its own format, one per programme.

Everything an import reads is written, so that importing the file into an empty
ledger gives the same ledger, and importing it into the ledger it came from writes
nothing: every record by its key (a record without a ref by its id, as
app/imports/keys.py spells it: "line-17"), every citation with its quote, translation
and estimate flag, each reached figure with its approval, and a draft still waiting
for approval as a draft (only for a caller who may see drafts: `drafts`).

A document is whole on its own: it carries the organisations, beneficiary groups and
sources its records name, and every exchange rate (reports convert at any of them).
Of a whole-ledger backup, the first document also carries the shared records no
programme names, so none is lost. Archived records are not in the ledger's current
state, so they are not in a backup either (the trail keeps them; see docs/imports.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.backup import repository as repo
from app.errors import DomainError, ErrorCode
from app.imports import document as d
from app.imports import keys

# Rows of a kind under initiatives, for the document's limits (app/imports/document.py).
NESTED: dict[str, type[Any]] = {
    "participants": m.Participation,
    "budget_lines": m.BudgetLine,
    "transactions": m.Transaction,
    "milestones": m.Milestone,
    "beneficiaries": m.BeneficiaryFigure,
    "shares": m.BeneficiaryShare,
}

Raw = dict[str, Any]


@dataclass
class Backup:
    # One document per programme, as plain JSON-ready mappings (checked against the format).
    documents: list[Raw]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _value(member: m.FigureQualifier | None) -> str | None:
    return None if member is None else member.value


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass
class _Ledger:
    """What the backup read, by id."""

    orgs: dict[int, m.Organization]
    sources: dict[int, m.SourceDocument]
    groups: dict[int, m.BeneficiaryGroup]
    rates: list[m.ExchangeRate]
    cites: dict[tuple[m.SubjectType, int], list[Raw]]
    under: dict[str, dict[int, list[Any]]]


async def export_ledger(session: AsyncSession, *, program_ref: str | None, drafts: bool) -> Backup:
    """The documents of `program_ref` (None: every programme the session sees).
    NOT_FOUND for an unknown programme; REPORT_TOO_LARGE when a kind has more rows
    than a document may hold."""
    programs = await repo.programs(session, program_ref)
    if not programs:
        raise DomainError(
            f"no programme {program_ref!r}" if program_ref else "no programme to export",
            code=ErrorCode.NOT_FOUND,
            field="program",
        )
    initiatives = await repo.initiatives(session, [p.id for p in programs])
    ids = [i.id for i in initiatives]
    for kind, model in NESTED.items():
        count = await repo.count_under(session, model, ids)
        if count > d.MAX_ROWS[kind]:
            raise DomainError(
                f"{count} {kind}: a document holds at most {d.MAX_ROWS[kind]}; export one "
                "programme at a time",
                code=ErrorCode.REPORT_TOO_LARGE,
            )
    sources = {s.id: s for s in await repo.every(session, m.SourceDocument)}
    ledger = _Ledger(
        orgs={o.id: o for o in await repo.every(session, m.Organization)},
        sources=sources,
        groups={g.id: g for g in await repo.every(session, m.BeneficiaryGroup)},
        rates=await repo.every(session, m.ExchangeRate),
        cites=_cites(await repo.citations(session), sources),
        under={},
    )
    for kind, model in NESTED.items():
        by_initiative: dict[int, list[Any]] = defaultdict(list)
        for row in await repo.under(session, model, ids):
            by_initiative[row.initiative_id].append(row)
        ledger.under[kind] = by_initiative
    backup = Backup([])
    for n, program in enumerate(programs):
        mine = [i for i in initiatives if i.program_id == program.id]
        whole = program_ref is None and n == 0
        backup.documents.append(_document(ledger, program, mine, drafts, whole))
    for raw in backup.documents:
        _check(raw)
    return backup


def _check(raw: Raw) -> None:
    """The document reads back: what the format refuses is refused here, not on restore."""
    try:
        d.Document.model_validate(raw)
    except ValidationError as error:
        detail = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in detail["loc"])
        raise DomainError(
            f"programme {raw['program']['ref']!r} cannot be written in the format: "
            f"{where}: {detail['msg']}",
            code=ErrorCode.NOT_PUBLISHABLE,
        ) from None


def _cites(
    citations: Iterable[m.Citation], sources: dict[int, m.SourceDocument]
) -> dict[tuple[m.SubjectType, int], list[Raw]]:
    found: dict[tuple[m.SubjectType, int], list[Raw]] = defaultdict(list)
    for c in citations:
        found[(c.subject_type, c.subject_id)].append(
            {
                "source": sources[c.source_document_id].ref,
                "field": c.field,
                "quote": c.quote,
                "translation": c.translation,
                "is_estimate": c.is_estimate,
                "note": c.note,
            }
        )
    return found


class _Builder:
    """One document: its records, and the shared ones they name."""

    def __init__(self, ledger: _Ledger) -> None:
        self.ledger = ledger
        self.orgs: set[int] = set()
        self.groups: set[int] = set()
        self.sources: set[str] = set()

    def cite(self, subject: m.SubjectType, record_id: int) -> list[Raw]:
        cites = self.ledger.cites.get((subject, record_id), [])
        self.sources.update(c["source"] for c in cites)
        return cites

    def org(self, org_id: int | None) -> str | None:
        if org_id is None:
            return None
        self.orgs.add(org_id)
        return self.ledger.orgs[org_id].ref

    def group(self, group_id: int) -> str:
        self.groups.add(group_id)
        return self.ledger.groups[group_id].code


def _document(
    ledger: _Ledger,
    program: m.Program,
    initiatives: list[m.Initiative],
    drafts: bool,
    whole: bool,
) -> Raw:
    b = _Builder(ledger)
    program_raw = {
        "ref": program.ref,
        "name": program.name,
        "summary": program.summary,
        "sponsor": b.org(program.sponsor_id),
        "pledged": {"amount": _text(program.pledged_amount), "currency": program.pledged_currency},
        "announced_on": _day(program.announced_on),
        "deadline": _day(program.deadline),
        "governance_body": program.governance_body,
        "governance_lead": program.governance_lead,
        "cite": b.cite(m.SubjectType.PROGRAM, program.id),
    }
    items = [_initiative(b, i, drafts) for i in initiatives]
    rates = [_rate(b, rate) for rate in ledger.rates]
    if whole:
        b.orgs.update(ledger.orgs)
        b.groups.update(ledger.groups)
        b.sources.update(s.ref for s in ledger.sources.values())
    # Shared records last: their citations name sources too.
    orgs = [_organization(b, ledger.orgs[i]) for i in sorted(b.orgs)]
    groups = [_group(b, ledger.groups[i]) for i in sorted(b.groups)]
    return {
        "format": d.FORMAT,
        "sources": [_source(s) for s in ledger.sources.values() if s.ref in b.sources],
        "organizations": orgs,
        "program": program_raw,
        "exchange_rates": rates,
        "beneficiary_groups": groups,
        "initiatives": items,
    }


def _source(s: m.SourceDocument) -> Raw:
    return {
        "ref": s.ref,
        "title": s.title,
        "url": s.url,
        "publisher": s.publisher,
        "published_on": _day(s.published_on),
        "language": s.language,
        "category": s.category,
    }


def _organization(b: _Builder, o: m.Organization) -> Raw:
    return {
        "ref": o.ref,
        "name": o.name,
        "kind": o.kind.value,
        "headquarters": o.headquarters,
        "description": o.description,
        "cite": b.cite(m.SubjectType.ORGANIZATION, o.id),
    }


def _group(b: _Builder, g: m.BeneficiaryGroup) -> Raw:
    return {
        "code": g.code,
        "name": g.name,
        "description": g.description,
        "cite": b.cite(m.SubjectType.BENEFICIARY_GROUP, g.id),
    }


def _rate(b: _Builder, rate: m.ExchangeRate) -> Raw:
    source = rate.source_document_id
    source_ref = None if source is None else b.ledger.sources[source].ref
    if source_ref is not None:
        b.sources.add(source_ref)
    return {
        "base": rate.base,
        "quote": rate.quote,
        "rate": _text(rate.rate),
        "rate_date": _day(rate.rate_date),
        "source": rate.source,
        "source_ref": source_ref,
        "cite": b.cite(m.SubjectType.EXCHANGE_RATE, rate.id),
    }


def _initiative(b: _Builder, i: m.Initiative, drafts: bool) -> Raw:
    under = {kind: b.ledger.under[kind].get(i.id, []) for kind in NESTED}
    lines = {line.id: keys.file_key(keys.LINE, line.ref, line.id) for line in under["budget_lines"]}
    return {
        "code": i.code,
        "position": i.position,
        "title": i.title,
        "summary": i.summary,
        "focus_area": i.focus_area,
        "status": i.status.value,
        "planned_start": _day(i.planned_start),
        "actual_start": _day(i.actual_start),
        "planned_end": _day(i.planned_end),
        "actual_end": _day(i.actual_end),
        "region": i.region,
        "cite": b.cite(m.SubjectType.INITIATIVE, i.id),
        "participants": [
            {"org": b.org(p.organization_id), "role": p.role.value} for p in under["participants"]
        ],
        "budget_lines": [_line(b, line, lines[line.id]) for line in under["budget_lines"]],
        "transactions": [_transaction(b, tx, lines) for tx in under["transactions"]],
        "milestones": [_milestone(b, stone) for stone in under["milestones"]],
        "beneficiaries": [_figure(b, f, drafts) for f in under["beneficiaries"]],
        "shares": [
            {"group": b.group(s.group_id), "percentage": _text(s.percentage)}
            for s in under["shares"]
        ],
    }


def _line(b: _Builder, line: m.BudgetLine, key: str) -> Raw:
    return {
        "ref": key,
        "period_start": _day(line.period_start),
        "period_end": _day(line.period_end),
        "type": line.type.value,
        "status": line.status.value,
        "category": line.category,
        "amount": _text(line.amount),
        "currency": line.currency,
        "value_date": _day(line.value_date),
        "description": line.description,
        "cite": b.cite(m.SubjectType.BUDGET_LINE, line.id),
    }


def _transaction(b: _Builder, tx: m.Transaction, lines: dict[int, str]) -> Raw:
    return {
        "ref": keys.file_key(keys.TRANSACTION, tx.ref, tx.id),
        "type": tx.type.value,
        "transaction_date": _day(tx.transaction_date),
        "amount": _text(tx.amount),
        "currency": tx.currency,
        "value_date": _day(tx.value_date),
        "budget_line": None if tx.budget_line_id is None else lines[tx.budget_line_id],
        "provider": b.org(tx.provider_id),
        "receiver": b.org(tx.receiver_id),
        "description": tx.description,
        "cite": b.cite(m.SubjectType.TRANSACTION, tx.id),
    }


def _milestone(b: _Builder, stone: m.Milestone) -> Raw:
    return {
        "ref": keys.file_key(keys.MILESTONE, stone.ref, stone.id),
        "title": stone.title,
        "description": stone.description,
        "planned_date": _day(stone.planned_date),
        "forecast_date": _day(stone.forecast_date),
        "actual_date": _day(stone.actual_date),
        "status": stone.status.value,
        "cite": b.cite(m.SubjectType.MILESTONE, stone.id),
    }


def _figure(b: _Builder, f: m.BeneficiaryFigure, drafts: bool) -> Raw:
    raw: Raw = {
        "group": b.group(f.group_id),
        "unit": f.unit,
        "target_value": _text(f.target_value),
        "target_date": _day(f.target_date),
        "reached_value": _text(f.reached_value),
        "reached_qualifier": f.reached_qualifier.value,
        "reached_as_of": _day(f.reached_as_of),
        "approved_by": f.approved_by,
        "approved_at": _moment(f.approved_at),
        "draft": None,
        "cite": b.cite(m.SubjectType.BENEFICIARY_FIGURE, f.id),
    }
    # A draft as the API shows one (`draftReached`): submitted, with a value.
    if drafts and f.draft_submitted_by is not None and f.draft_reached_value is not None:
        raw["draft"] = {
            "value": _text(f.draft_reached_value),
            "qualifier": _value(f.draft_reached_qualifier),
            "as_of": _day(f.draft_reached_as_of),
            "submitted_by": f.draft_submitted_by,
            "submitted_at": _moment(f.draft_submitted_at),
        }
    return raw

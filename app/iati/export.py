"""The IATI 2.03 activity file of a programme (or of every programme).

A programme is a parent activity (hierarchy 1) and each of its initiatives a child
(hierarchy 2), each naming the other in `related-activity`. Money is reported where it
is held, on the initiatives, so totals never count twice: the parent carries no
budgets or transactions. The parent's sectors and recipient countries are its
children's, weighted by their current budgets (the ledger's one rule,
`current_budgets`, in the pledge's currency), as percentages adding up to 100.

What the Standard cannot carry is left out and named in `Export.notes` (a source
without a URL, a region that is no country code); what it forbids is refused with
NOT_PUBLISHABLE (a transaction dated after the export's day). Nothing the ledger holds
is published twice or changed: budgets over a year are split by an exact rule
(app/iati/rules.py), whose parts add up to the line.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from xml.etree.ElementTree import Comment, Element, SubElement, indent, tostring

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.iati import classify, repository, writer
from app.iati import codelists as c
from app.iati.rules import check_document, not_publishable
from app.models import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BeneficiaryShare,
    BudgetLine,
    ExchangeRate,
    Initiative,
    Milestone,
    Organization,
    Participation,
    ParticipationRole,
    Program,
    SourceDocument,
    SubjectType,
    Transaction,
)
from app.reports.budget.repository import Dimension
from app.reports.budget.service import current_budgets

# Budget lines and transactions one file may hold: the file is built in memory.
MAX_EXPORT_RECORDS = 200_000

CONTENT_TYPE = "application/xml; charset=utf-8"


@dataclass
class Export:
    xml: bytes
    activities: int
    notes: list[str] = field(default_factory=list)


@dataclass
class _Ledger:
    """What one export reads, grouped by initiative."""

    orgs: dict[int, Organization]
    lines: dict[int, list[BudgetLine]] = field(default_factory=lambda: defaultdict(list))
    moves: dict[int, list[Transaction]] = field(default_factory=lambda: defaultdict(list))
    roles: dict[int, list[Participation]] = field(default_factory=lambda: defaultdict(list))
    figures: dict[int, list[tuple[BeneficiaryFigure, BeneficiaryGroup]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # Documents by activity: ("program", id) or ("initiative", id).
    documents: dict[tuple[str, int], list[SourceDocument]] = field(
        default_factory=lambda: defaultdict(list)
    )
    stones: dict[int, list[Milestone]] = field(default_factory=lambda: defaultdict(list))
    shares: dict[int, list[tuple[BeneficiaryShare, BeneficiaryGroup]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rates: list[ExchangeRate] = field(default_factory=list)
    # The sources the rates name, by id.
    rate_sources: dict[int, SourceDocument] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def export_activities(
    session: AsyncSession,
    *,
    program_ref: str | None,
    today: date,
    generated_at: datetime,
) -> Export:
    """The file of `program_ref` (None: every programme the session sees). `today`:
    no transaction may be dated after it (the day of the export, or of its asOf).
    NOT_FOUND for an unknown programme, REPORT_TOO_LARGE over MAX_EXPORT_RECORDS,
    NOT_PUBLISHABLE when a record breaks a rule the file cannot mend."""
    programs = await repository.programs(session, program_ref)
    if not programs:
        raise DomainError(
            f"no programme {program_ref!r}" if program_ref else "no programme to export",
            code=ErrorCode.NOT_FOUND,
            field="program",
        )
    initiatives = await repository.initiatives(session, [p.id for p in programs])
    ids = [i.id for i in initiatives]
    if await repository.record_count(session, ids) > MAX_EXPORT_RECORDS:
        raise DomainError(
            f"more than {MAX_EXPORT_RECORDS} budget lines and transactions: export one "
            "programme at a time",
            code=ErrorCode.REPORT_TOO_LARGE,
        )
    ledger = await _read(session, programs, initiatives)
    citations = await repository.citations_of(session, [p.id for p in programs], ids)
    by_program: dict[int, list[Initiative]] = defaultdict(list)
    for initiative in initiatives:
        by_program[initiative.program_id].append(initiative)
    weights = {
        program.id: await current_budgets(
            session,
            Dimension.INITIATIVE,
            [i.id for i in by_program[program.id]],
            program.pledged_currency,
        )
        for program in programs
    }
    _uncarried(ledger, citations)
    # Everything is read: the file is built away from the event loop (a large one
    # takes seconds), from plain loaded rows.
    return await asyncio.to_thread(
        _build, programs, by_program, weights, ledger, today, generated_at
    )


def _uncarried(ledger: _Ledger, citations: int) -> None:
    """Each kind of thing IATI cannot carry, once, with its count: what the ledger's
    namespace carries for the ledger alone, and what the file leaves out."""
    marked = {
        "milestones": sum(len(found) for found in ledger.stones.values()),
        "beneficiary shares": sum(len(found) for found in ledger.shares.values()),
        "exchange rates": len(ledger.rates),
        "budget-line descriptions": sum(
            1 for found in ledger.lines.values() for line in found if line.description
        ),
    }
    said = ", ".join(f"{n} {kind}" for kind, n in marked.items() if n)
    if said:
        ledger.notes.append(
            f"IATI has no element for {said}: they are written in the ledger's own namespace "
            f"({writer.LEDGER_NS}), which only the ledger reads back (IATI tools ignore it)"
        )
    if citations:
        ledger.notes.append(
            f"{citations} citations (the words of a source behind a figure) are not written: "
            "IATI has no citations; the cited documents are linked where they have a URL"
        )
    drafts = sum(
        1
        for found in ledger.figures.values()
        for figure, _ in found
        if figure.draft_reached_value is not None
    )
    if drafts:
        ledger.notes.append(
            f"{drafts} reached figures awaiting approval are not written (only approved reach "
            "is published)"
        )


def _build(
    programs: list[Program],
    by_program: dict[int, list[Initiative]],
    weights: dict[int, dict[int, Decimal]],
    ledger: _Ledger,
    today: date,
    generated_at: datetime,
) -> Export:
    root = Element(
        "iati-activities",
        {"version": c.VERSION, "generated-datetime": generated_at.isoformat()},
    )
    for program in programs:
        children = by_program[program.id]
        _parent(root, program, children, weights[program.id], ledger)
        for initiative in children:
            _child(root, program, initiative, ledger, today)
    # The beneficiary groups the figures and shares name, in the ledger's order (its
    # reports list groups so); the rates the reports convert at, and the sources they
    # name: at the file's end, in LEDGER_NS.
    groups = {g.id: g for found in ledger.figures.values() for _, g in found}
    groups.update({g.id: g for found in ledger.shares.values() for _, g in found})
    for group_id in sorted(groups):
        writer.beneficiary_group(root, groups[group_id])
    for document in ledger.rate_sources.values():
        writer.source(root, document)
    for rate in ledger.rates:
        named = ledger.rate_sources.get(rate.source_document_id or 0)
        writer.exchange_rate(root, rate, named.ref if named is not None else None)
    check_document(root, today=today, codes=c.CODE_CHECKS)
    # The file says itself what it leaves out (XML comments, which the schema allows).
    for position, note in enumerate(ledger.notes):
        root.insert(position, Comment(" note: " + note.replace("--", "- -") + " "))
    indent(root)
    xml = tostring(root, encoding="utf-8", xml_declaration=True)
    activities = len(programs) + sum(len(kids) for kids in by_program.values())
    return Export(xml, activities, ledger.notes)


async def _read(
    session: AsyncSession, programs: list[Program], initiatives: list[Initiative]
) -> _Ledger:
    ids = [i.id for i in initiatives]
    ledger = _Ledger(await repository.organizations(session))
    owner: dict[tuple[SubjectType, int], tuple[str, int]] = {}
    for program in programs:
        owner[SubjectType.PROGRAM, program.id] = ("program", program.id)
    for initiative in initiatives:
        owner[SubjectType.INITIATIVE, initiative.id] = ("initiative", initiative.id)
    for line in await repository.budget_lines(session, ids):
        ledger.lines[line.initiative_id].append(line)
        owner[SubjectType.BUDGET_LINE, line.id] = ("initiative", line.initiative_id)
    for tx in await repository.transactions(session, ids):
        ledger.moves[tx.initiative_id].append(tx)
        owner[SubjectType.TRANSACTION, tx.id] = ("initiative", tx.initiative_id)
    for role in await repository.participations(session, ids):
        ledger.roles[role.initiative_id].append(role)
    for stone in await repository.milestones(session, ids):
        ledger.stones[stone.initiative_id].append(stone)
    for share, group in await repository.shares(session, ids):
        ledger.shares[share.initiative_id].append((share, group))
    ledger.rates = await repository.exchange_rates(session)
    named = {r.source_document_id for r in ledger.rates if r.source_document_id is not None}
    ledger.rate_sources = {d.id: d for d in await repository.sources(session, list(named))}
    for figure, group in await repository.beneficiary_figures(session, ids):
        ledger.figures[figure.initiative_id].append((figure, group))
        owner[SubjectType.BENEFICIARY_FIGURE, figure.id] = ("initiative", figure.initiative_id)
    seen: set[tuple[tuple[str, int], int]] = set()
    unlinked: set[str] = set()
    for cited in await repository.cited_documents(session):
        activity = owner.get((cited.subject_type, cited.subject_id))
        if activity is None or (activity, cited.document.id) in seen:
            continue
        seen.add((activity, cited.document.id))
        if cited.document.url is None:
            unlinked.add(cited.document.ref)
            continue
        ledger.documents[activity].append(cited.document)
    ledger.notes.extend(
        f"source document {ref!r} has no URL: IATI's document-link needs one, so it is not linked"
        for ref in sorted(unlinked)
    )
    uncoded = sorted(
        {
            f"{d.ref!r} ({d.category!r})" if d.category else repr(d.ref)
            for found in ledger.documents.values()
            for d in found
            if (d.category or "") not in c.DOCUMENT_CATEGORY
        }
    )
    if uncoded:
        ledger.notes.append(
            f"{len(uncoded)} source documents have no category IATI's DocumentCategory "
            f"names, so are linked as {c.DEFAULT_DOCUMENT_CATEGORY} (activity web page): "
            + ", ".join(uncoded)
        )
    return ledger


def _identifier(program: Program, orgs: dict[int, Organization], own: str) -> str:
    """The reporting organisation's reference, then the record's stable code."""
    return f"{orgs[program.sponsor_id].ref}-{own}"


def _activity(
    root: Element,
    program: Program,
    identifier: str,
    hierarchy: str,
    updated: datetime,
    ledger: _Ledger,
) -> Element:
    activity = SubElement(
        root,
        "iati-activity",
        {
            "last-updated-datetime": updated.isoformat(),
            writer.XML_LANG: "en",
            "default-currency": program.pledged_currency,
            "hierarchy": hierarchy,
        },
    )
    SubElement(activity, "iati-identifier").text = identifier
    writer.organisation(activity, "reporting-org", ledger.orgs[program.sponsor_id])
    return activity


def _parent(
    root: Element,
    program: Program,
    children: list[Initiative],
    weights: dict[int, Decimal],
    ledger: _Ledger,
) -> None:
    updated = max([program.updated_at, *(i.updated_at for i in children)])
    identifier = _identifier(program, ledger.orgs, program.ref)
    activity = _activity(root, program, identifier, "1", updated, ledger)
    writer.narrative(activity, "title", program.name)
    writer.narrative(
        activity, "description", program.summary or program.name, type=c.GENERAL_DESCRIPTION
    )
    sponsor = ledger.orgs[program.sponsor_id]
    writer.organisation(
        activity, "participating-org", sponsor, role=c.ORGANISATION_ROLE[ParticipationRole.FUNDING]
    )
    SubElement(activity, "activity-status", {"code": classify.programme_status(children)})
    dates = [(c.PLANNED_START, program.announced_on), (c.PLANNED_END, program.deadline)]
    if not any(day for _, day in dates):
        raise not_publishable(f"{identifier}: the programme has neither announcement nor deadline")
    for kind, day in dates:
        if day is not None:
            writer.dated(activity, "activity-date", day, type=kind)
    classify.weighted(activity, "recipient-country", children, weights, classify.country)
    classify.weighted(activity, "sector", children, weights, classify.sectors)
    _links(activity, ledger.documents[("program", program.id)])
    for initiative in children:
        SubElement(
            activity,
            "related-activity",
            {"ref": _identifier(program, ledger.orgs, initiative.code), "type": c.CHILD},
        )
    # What IATI has no element for, for the ledger to read back (writer.LEDGER_NS).
    SubElement(
        activity,
        writer.ours("programme"),
        _present(
            ref=program.ref,
            pledged=writer.number(program.pledged_amount),
            currency=program.pledged_currency,
            **{
                "announced-on": _iso(program.announced_on),
                "deadline": _iso(program.deadline),
                "governance-body": program.governance_body,
                "governance-lead": program.governance_lead,
            },
        ),
    )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _present(**attributes: str | None) -> dict[str, str]:
    return {name: text for name, text in attributes.items() if text is not None}


def _child(
    root: Element, program: Program, initiative: Initiative, ledger: _Ledger, today: date
) -> None:
    lines, moves = ledger.lines[initiative.id], ledger.moves[initiative.id]
    figures, roles = ledger.figures[initiative.id], ledger.roles[initiative.id]
    # IATI: the moment any of the activity's data last changed.
    updated = max(
        [initiative.updated_at]
        + [line.updated_at for line in lines]
        + [tx.updated_at for tx in moves]
        + [role.updated_at for role in roles]
        + [figure.updated_at for figure, _ in figures]
    )
    identifier = _identifier(program, ledger.orgs, initiative.code)
    activity = _activity(root, program, identifier, "2", updated, ledger)
    writer.narrative(activity, "title", initiative.title)
    writer.narrative(
        activity, "description", initiative.summary or initiative.title, type=c.GENERAL_DESCRIPTION
    )
    _participants(activity, program, roles, ledger)
    SubElement(activity, "activity-status", {"code": c.ACTIVITY_STATUS[initiative.status]})
    borrowed = _dates(activity, identifier, program, initiative, ledger)
    for _, code, _ in classify.country(initiative, ledger.notes):
        SubElement(activity, "recipient-country", {"code": code, "percentage": "100"})
    for vocabulary, code, name in classify.sectors(initiative, ledger.notes):
        writer.narrative(
            activity, "sector", name, vocabulary=vocabulary, code=code, percentage="100"
        )
    line_keys = {line.id: writer.line_key(line) for line in lines}
    _keys_once(identifier, "budget line", line_keys.values())
    _keys_once(identifier, "transaction", (writer.transaction_key(tx) for tx in moves))
    writer.budgets(activity, lines)
    for tx in moves:
        if tx.transaction_date > today:
            raise not_publishable(
                f"{identifier}: transaction {tx.id} is dated {tx.transaction_date}, after "
                f"{today}; IATI publishes no future transactions (a planned payment is a "
                "budget)",
                details={"transaction": tx.id},
            )
        writer.transaction(activity, tx, ledger.orgs, line_keys)
    _links(activity, ledger.documents[("initiative", initiative.id)])
    SubElement(
        activity,
        "related-activity",
        {"ref": _identifier(program, ledger.orgs, program.ref), "type": c.PARENT},
    )
    start = initiative.actual_start or initiative.planned_start or program.announced_on
    for figure, group in figures:
        end = (
            figure.target_date or figure.reached_as_of or initiative.planned_end or program.deadline
        )
        valued = figure.target_value is not None or figure.reached_value is not None
        if start is None or end is None or end < start:
            start = end = None  # no period: the indicator alone says whom it counts
            if valued:
                ledger.notes.append(
                    f"{identifier}: the figure for {group.code!r} ({figure.unit}) has no "
                    "period (start and target or reach dates): its values are not written"
                )
        writer.result(activity, figure, group, start, end)
    SubElement(
        activity,
        writer.ours("initiative"),
        _present(
            code=initiative.code,
            position=str(initiative.position),
            region=initiative.region,
            **{"focus-area": initiative.focus_area, "borrowed-dates": "1" if borrowed else None},
        ),
    )
    for share, group in ledger.shares[initiative.id]:
        writer.share(activity, share, group)
    for stone in ledger.stones[initiative.id]:
        writer.milestone(activity, stone)


def _keys_once(identifier: str, kind: str, keys: Iterable[str]) -> None:
    """Each record's key names it alone in its activity: a record without a ref is named
    by its id (`transaction-12`), which a ref another record was imported with may
    spell too; such a file would not read back, so it is not written."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise not_publishable(
                f"{identifier}: two {kind}s have the key {key!r} (one's ref, the other's "
                "id); a file naming both so could not be imported again"
            )
        seen.add(key)


def _participants(
    activity: Element, program: Program, roles: list[Participation], ledger: _Ledger
) -> None:
    """The initiative's organisations in their roles; the sponsor funds every initiative
    of its pledge, so it is named as funder unless a funder is named already."""
    if not any(r.role is ParticipationRole.FUNDING for r in roles):
        writer.organisation(
            activity,
            "participating-org",
            ledger.orgs[program.sponsor_id],
            role=c.ORGANISATION_ROLE[ParticipationRole.FUNDING],
            # Implied by the pledge, not a participation the ledger holds.
            **{writer.ours("implied"): "1"},
        )
    for role in roles:
        writer.organisation(
            activity,
            "participating-org",
            ledger.orgs[role.organization_id],
            role=c.ORGANISATION_ROLE[role.role],
        )


def _dates(
    activity: Element, identifier: str, program: Program, initiative: Initiative, ledger: _Ledger
) -> bool:
    """The initiative's dates; IATI needs one, so an initiative without any is given the
    programme's (True: borrowed, which the file marks so that they read back as none)."""
    dates = [
        (c.PLANNED_START, initiative.planned_start),
        (c.ACTUAL_START, initiative.actual_start),
        (c.PLANNED_END, initiative.planned_end),
        (c.ACTUAL_END, initiative.actual_end),
    ]
    if not any(day for _, day in dates):
        # IATI needs one date: the programme's stand in, and the file says so.
        dates = [(c.PLANNED_START, program.announced_on), (c.PLANNED_END, program.deadline)]
        ledger.notes.append(f"{identifier}: no dates of its own; the programme's are given")
        if not any(day for _, day in dates):
            raise not_publishable(f"{identifier}: no date at all (IATI needs one)")
        borrowed = True
    else:
        borrowed = False
    for kind, day in dates:
        if day is not None:
            writer.dated(activity, "activity-date", day, type=kind)
    return borrowed


def _links(activity: Element, documents: list[SourceDocument]) -> None:
    for document in documents:
        writer.document_link(activity, document, c.LANGUAGE)

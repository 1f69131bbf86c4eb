"""One import: a document compared with the ledger, and the difference written in the
caller's transaction (the caller commits; see `import_document`).

Each record of the file is found by its key (app/imports/document.py). A new record
is created, a stored one whose values differ is updated, an equal one is left; each
is checked first by its domain's rules (app/<domain>/rules.py), and a refused one is
reported with its place in the file and never written. Records are written as any
write is: through the ORM, whose recorder appends the trail entry (an update is a
new version), except the many rows (transactions, citations), which go in bulk with
their entries (app/audit/bulk.py), as the synthetic generator writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.audit.bulk import BulkTrail
from app.audit.recorder import lock_chain, set_actor
from app.audit.records import Actor
from app.errors import ErrorCode
from app.evidence.rules import validate_document
from app.imports import document as d
from app.imports import repository as repo
from app.imports import rules
from app.imports.report import Action, Problem, Report, RowChange
from app.rates.rules import validate_rate
from app.writes.crud import Validate
from app.writes.errors import FieldError, Problems

Progress = Callable[[int], None]


def problems_at(place: str, errors: list[FieldError], rename: Mapping[str, str]) -> list[Problem]:
    """A rule's problems, named by where they are in the file."""
    found = []
    for error in errors:
        name = rename.get(error.field, error.field) if error.field else None
        where = f"{place}.{name}" if name else place
        found.append(Problem(where, error.code, error.message))
    return found


def changed_fields(record: Any, rename: Mapping[str, str]) -> tuple[str, ...]:
    """The attributes of `record` set to a new value, as the file names them."""
    attrs = inspect(record).attrs
    return tuple(
        rename.get(column.key, column.key)
        for column in record.__table__.columns
        if attrs[column.key].history.has_changes()
    )


@dataclass
class Subject:
    """A record the file cites, once it has an id."""

    subject_type: m.SubjectType
    subject_id: int
    place: str
    cites: list[d.Cite]


@dataclass
class Importer:
    session: AsyncSession
    document: d.Document
    actor: Actor
    report: Report
    progress: Progress | None = None
    sources: dict[str, int] = field(default_factory=dict)
    organizations: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    program: m.Program | None = None
    # The document's initiatives that were accepted: (index in the file, id).
    initiatives: list[tuple[int, int]] = field(default_factory=list)
    # Initiatives that were in the ledger before this import (they may hold records).
    stored_initiatives: set[int] = field(default_factory=set)
    subjects: list[Subject] = field(default_factory=list)
    # Budget lines by initiative id, then ref: what transactions point at.
    lines: dict[int, dict[str, int]] = field(default_factory=dict)
    # The programme's pledge was created or changed: its budgets are checked against it.
    pledge_changed: bool = False
    reason: str | None = None

    def advance(self, rows: int) -> None:
        if self.progress is not None and rows:
            self.progress(rows)

    def cited(
        self, subject_type: m.SubjectType, record: Any, place: str, cites: list[d.Cite]
    ) -> None:
        self.cite_id(subject_type, int(record.id), place, cites)

    def cite_id(
        self, subject_type: m.SubjectType, subject_id: int, place: str, cites: list[d.Cite]
    ) -> None:
        if cites:
            self.subjects.append(Subject(subject_type, subject_id, place, cites))

    async def upsert(
        self,
        *,
        kind: str,
        place: str,
        key: str,
        model: type[Any],
        stored: Any,
        values: dict[str, Any],
        validate: Validate,
        rename: Mapping[str, str] = {},
        problems: Problems | None = None,
    ) -> Any:
        """Create or update one record through the ORM after its rules; None if refused.
        `problems` may already hold what the caller found (unknown references)."""
        problems = problems or Problems()
        record = model(**values) if stored is None else stored
        if stored is not None:
            for name, value in values.items():
                setattr(record, name, value)
        await validate(self.session, problems, record)
        if problems.errors:
            if stored is not None:
                self.session.expire(record)  # back to the stored values
            self.report.refuse(place, kind, key, problems_at(place, problems.errors, rename))
            return None
        if stored is None:
            self.session.add(record)
            self.report.row(RowChange(place, kind, key, Action.CREATE))
        else:
            changed = changed_fields(record, rename)
            if changed:
                self.report.row(RowChange(place, kind, key, Action.UPDATE, changed))
            else:
                self.report.count(kind, Action.UNCHANGED)
        # Rules read the database, not the session: later records' checks see this one.
        await self.session.flush()
        return record

    def missing(
        self, problems: Problems, found: Mapping[str, int], ref: str | None, name: str, what: str
    ) -> int | None:
        """The id of the record `ref` names, or a NOT_FOUND problem on `name`."""
        if ref is None:
            return None
        if ref not in found:
            problems.add(
                name,
                f"no {what} has the ref {ref!r} in this file or the ledger",
                ErrorCode.NOT_FOUND,
            )
            return None
        return found[ref]

    async def bulk(self) -> BulkTrail:
        """A bulk writer whose entries follow the ones written so far (its clock is now)."""
        return await BulkTrail.start(self.session, self.actor, self.reason)

    # --- sources, organisations, the programme, rates, groups --------------------------

    async def load_sources(self) -> None:
        docs = self.document.sources
        cited = {c.source for c in _all_cites(self.document) if c.source}
        cited |= {r.source_ref for r in self.document.exchange_rates if r.source_ref}
        stored = await repo.by_column(
            self.session, m.SourceDocument, "ref", {s.ref for s in docs} | cited
        )
        self.sources = {ref: row.id for ref, row in stored.items()}
        for i, doc in enumerate(docs):
            record = await self.upsert(
                kind="source",
                place=f"sources[{i}]",
                key=doc.ref,
                model=m.SourceDocument,
                stored=stored.get(doc.ref),
                values=doc.model_dump(),
                validate=validate_document,
            )
            if record is not None:
                self.sources[doc.ref] = record.id
        self.advance(len(docs))

    async def load_organizations(self) -> None:
        orgs = self.document.organizations
        named = {o.ref for o in orgs} | _org_refs(self.document)
        stored = await repo.by_column(self.session, m.Organization, "ref", named)
        self.organizations = {ref: row.id for ref, row in stored.items()}
        for i, org in enumerate(orgs):
            place = f"organizations[{i}]"
            record = await self.upsert(
                kind="organization",
                place=place,
                key=org.ref,
                model=m.Organization,
                stored=stored.get(org.ref),
                values=org.model_dump(exclude={"cite"}),
                validate=rules.validate_organization,
            )
            if record is not None:
                self.organizations[org.ref] = record.id
                self.cited(m.SubjectType.ORGANIZATION, record, place, org.cite)
        self.advance(len(orgs))

    async def load_program(self) -> None:
        p = self.document.program
        stored = (await repo.by_column(self.session, m.Program, "ref", [p.ref])).get(p.ref)
        problems = Problems()
        sponsor = self.missing(problems, self.organizations, p.sponsor, "sponsor", "organisation")
        values = p.model_dump(exclude={"cite", "pledged", "sponsor"})
        values |= {
            "sponsor_id": sponsor or 0,
            "pledged_amount": p.pledged.amount,
            "pledged_currency": p.pledged.currency,
        }
        self.program = await self.upsert(
            kind="program",
            place="program",
            key=p.ref,
            model=m.Program,
            stored=stored,
            values=values,
            validate=rules.validate_program,
            rename=PROGRAM_NAMES,
            problems=problems,
        )
        if self.program is not None:
            self.cited(m.SubjectType.PROGRAM, self.program, "program", p.cite)
            self.pledge_changed = stored is None or self.report.counts["program"][Action.UPDATE] > 0
        self.advance(1)

    async def load_rates(self) -> None:
        rates = self.document.exchange_rates
        stored = await repo.rates(self.session, {(r.base, r.quote, r.rate_date) for r in rates})
        for i, rate in enumerate(rates):
            place = f"exchange_rates[{i}]"
            problems = Problems()
            document_id = self.missing(
                problems, self.sources, rate.source_ref, "source_document_id", "source"
            )
            values = rate.model_dump(exclude={"cite", "source_ref"})
            values["source_document_id"] = document_id
            record = await self.upsert(
                kind="exchange_rate",
                place=place,
                key=f"{rate.base}/{rate.quote}@{rate.rate_date.isoformat()}",
                model=m.ExchangeRate,
                stored=stored.get((rate.base, rate.quote, rate.rate_date)),
                values=values,
                validate=validate_rate,
                rename={"source_document_id": "source_ref"},
                problems=problems,
            )
            if record is not None:
                self.cited(m.SubjectType.EXCHANGE_RATE, record, place, rate.cite)
        self.advance(len(rates))

    async def load_groups(self) -> None:
        groups = self.document.beneficiary_groups
        named = {g.code for g in groups}
        for item in self.document.initiatives:
            named.update(row.group for row in item.beneficiaries)
            named.update(row.group for row in item.shares)
        stored = await repo.by_column(self.session, m.BeneficiaryGroup, "code", named)
        self.groups = {code: row.id for code, row in stored.items()}
        for i, group in enumerate(groups):
            place = f"beneficiary_groups[{i}]"
            record = await self.upsert(
                kind="beneficiary_group",
                place=place,
                key=group.code,
                model=m.BeneficiaryGroup,
                stored=stored.get(group.code),
                values=group.model_dump(exclude={"cite"}),
                validate=rules.validate_group,
            )
            if record is not None:
                self.groups[group.code] = record.id
                self.cited(m.SubjectType.BENEFICIARY_GROUP, record, place, group.cite)
        self.advance(len(groups))


PROGRAM_NAMES = {
    "sponsor_id": "sponsor",
    "pledged_amount": "pledged.amount",
    "pledged_currency": "pledged.currency",
    # The money rule names an amount's currency `currency`.
    "currency": "pledged.currency",
}


def _all_cites(document: d.Document) -> list[d.Cite]:
    records: list[list[Any]] = [
        [document.program],
        list(document.organizations),
        list(document.exchange_rates),
        list(document.beneficiary_groups),
    ]
    for i in document.initiatives:
        records.extend([[i], i.budget_lines, i.transactions, i.milestones, i.beneficiaries])
    return [cite for rows in records for row in rows for cite in row.cite]


def _org_refs(document: d.Document) -> set[str]:
    """Every organisation ref the document points at (they may be in the ledger only)."""
    refs = {document.program.sponsor}
    for initiative in document.initiatives:
        refs.update(p.org for p in initiative.participants)
        for t in initiative.transactions:
            refs.update(ref for ref in (t.provider, t.receiver) if ref)
    return refs


async def start(session: AsyncSession, actor: Actor, reason: str | None) -> None:
    """Name the writer and take the chain lock before anything is read."""
    set_actor(session, actor, reason)
    await lock_chain(session)

"""One import: a document compared with the ledger, and the difference written in the
caller's transaction (the caller commits; see `import_document`).

Each record of the file is found by its key (app/imports/document.py). A new record
is created, a stored one whose values differ is updated (only the fields the file
sets: `given`), an equal one is left; each
is checked first by its domain's rules (app/<domain>/rules.py), and a refused one is
reported with its place in the file and never written. Records are written as any
write is: through the ORM, whose recorder appends the trail entry (an update is a
new version), except the many rows (transactions, citations), which go in bulk with
their entries (app/audit/bulk.py), as the synthetic generator writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.audit.bulk import BulkTrail
from app.audit.recorder import lock_chain, set_actor
from app.audit.records import Actor
from app.beneficiaries.groups import validate_group
from app.errors import ErrorCode
from app.evidence.rules import Fields, validate_document
from app.imports import document as d
from app.imports import repository as repo
from app.imports.report import Action, Problem, Report, RowChange
from app.organizations.rules import validate_organization
from app.programs.rules import check_program_values
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


def given(row: BaseModel, values: Mapping[str, Any], rename: Mapping[str, str]) -> dict[str, Any]:
    """The `values` the file sets of `row`: a column whose field (as `rename` names it,
    "pledged.amount" for a nested one) the file leaves out is dropped, so the stored
    value stays; a field given as null is kept (it clears the stored value). Columns the
    importer works out itself (an initiative's id, a reference's id) are no field of the
    row and are always kept."""
    return {name: value for name, value in values.items() if _sets(row, rename.get(name, name))}


def _sets(row: BaseModel, path: str) -> bool:
    name, _, rest = path.partition(".")
    if name not in type(row).model_fields:
        return True
    if name not in row.model_fields_set:
        return False
    inner = getattr(row, name)
    return _sets(inner, rest) if rest and isinstance(inner, BaseModel) else True


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
    # The file states no pledge for its new programme: its current budget stands in.
    pledge_from_budgets: bool = False
    reason: str | None = None
    # The fields a citation may name, by kind of subject: the API's (app/evidence/rules.py).
    fields: Fields | None = None

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
        row: BaseModel,
        model: type[Any],
        stored: Any,
        values: dict[str, Any],
        validate: Validate,
        rename: Mapping[str, str] = {},
        problems: Problems | None = None,
        flush: bool = False,
        worked_out: Collection[str] = (),
        note: str = "",
    ) -> Any:
        """Create or update one record through the ORM after its rules; None if refused.
        `row` is the file's record `values` come from: a stored record gets only the
        values of the fields the file sets (`given`), a new one all of them.
        `problems` may already hold what the caller found (unknown references). The
        caller flushes the kind's records at its end (then they have ids), or, with
        `flush`, this record at once: when the next one's rules must see it.
        `worked_out` names columns of `values` the importer decided itself from the row
        (a figure's approval): set even when the row leaves the field of that name out.
        `note`: said on the row of a create (app/imports/archived.py)."""
        problems = problems or Problems()
        record = model(**values) if stored is None else stored
        if stored is not None:
            # Put back if refused (not expired: reloading it would be I/O on access).
            before = {c.key: getattr(record, c.key) for c in record.__table__.columns}
            chosen = given(row, values, rename)
            chosen |= {name: values[name] for name in worked_out if name in values}
            for name, value in chosen.items():
                setattr(record, name, value)
            if not problems.errors and not changed_fields(record, rename):
                # An equal record is left as it is, not judged again: rules the ledger
                # holds it to were checked when it was written.
                self.report.count(kind, Action.UNCHANGED)
                return record
        await validate(self.session, problems, record)
        if problems.errors:
            if stored is not None:
                for name, value in before.items():
                    setattr(record, name, value)
            self.report.refuse(place, kind, key, problems_at(place, problems.errors, rename))
            return None
        if stored is None:
            self.session.add(record)
            self.report.row(RowChange(place, kind, key, Action.CREATE, note=note))
        else:
            changed = changed_fields(record, rename)
            if changed:
                self.report.row(RowChange(place, kind, key, Action.UPDATE, changed))
            else:
                self.report.count(kind, Action.UNCHANGED)
        if flush:
            # Rules read the database, not the session: the next record's checks see it.
            await self.session.flush()
        return record

    @staticmethod
    def once(problems: Problems, seen: set[Any], key: Any, name: str) -> None:
        """A key names one row of the file (of its initiative, for an initiative's rows)."""
        if key in seen:
            problems.add(name, "this key is listed twice in the file", ErrorCode.ALREADY_EXISTS)
        seen.add(key)

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

    async def keyed(
        self,
        *,
        section: str,
        kind: str,
        rows: Sequence[Any],
        key: str,
        named: set[str],
        model: type[Any],
        validate: Validate,
        subject: m.SubjectType | None,
    ) -> dict[str, int]:
        """Records of a top-level list, keyed by their `key` field: created or updated,
        then flushed at once. Returns the ids by key of every record `named`, whether
        the file or the ledger holds it."""
        stored = await repo.by_column(
            self.session, model, key, named | {getattr(r, key) for r in rows}
        )
        ids = {k: row.id for k, row in stored.items()}
        accepted: list[Any] = []
        seen: set[Any] = set()
        for i, row in enumerate(rows):
            place = f"{section}[{i}]"
            problems = Problems()
            self.once(problems, seen, getattr(row, key), key)
            record = await self.upsert(
                kind=kind,
                place=place,
                key=getattr(row, key),
                row=row,
                model=model,
                stored=stored.get(getattr(row, key)),
                values=row.model_dump(exclude={"cite"}),
                validate=validate,
                problems=problems,
            )
            if record is not None:
                accepted.append((row, record, place))
        await self.session.flush()
        for row, record, place in accepted:
            ids[getattr(row, key)] = record.id
            if subject is not None:
                self.cited(subject, record, place, row.cite)
        self.advance(len(rows))
        return ids

    async def load_sources(self) -> None:
        named = {c.source for c in _all_cites(self.document) if c.source}
        named |= {r.source_ref for r in self.document.exchange_rates if r.source_ref}
        self.sources = await self.keyed(
            section="sources",
            kind="source",
            rows=self.document.sources,
            key="ref",
            named=named,
            model=m.SourceDocument,
            validate=validate_document,
            subject=None,  # a source is what citations cite
        )

    async def load_organizations(self) -> None:
        self.organizations = await self.keyed(
            section="organizations",
            kind="organization",
            rows=self.document.organizations,
            key="ref",
            named=_org_refs(self.document),
            model=m.Organization,
            validate=validate_organization,
            subject=m.SubjectType.ORGANIZATION,
        )

    async def load_program(self) -> None:
        p = self.document.program
        stored = (await repo.by_column(self.session, m.Program, "ref", [p.ref])).get(p.ref)
        problems = Problems()
        sponsor = self.missing(problems, self.organizations, p.sponsor, "sponsor", "organisation")
        values = p.model_dump(exclude={"cite", "pledged", "sponsor"})
        values |= {"sponsor_id": sponsor or 0, "pledged_currency": p.pledged.currency}
        if p.pledged.amount is not None:
            values["pledged_amount"] = p.pledged.amount
        elif stored is None:
            # The file states no pledge: its current budget stands in, once its budget
            # lines are written (app/imports/money.py).
            values["pledged_amount"] = Decimal(0)
            self.pledge_from_budgets = True
        self.program = await self.upsert(
            kind="program",
            place="program",
            key=p.ref,
            row=p,
            model=m.Program,
            stored=stored,
            values=values,
            validate=_validate_program,
            rename=PROGRAM_NAMES,
            problems=problems,
            flush=True,
        )
        if self.program is not None:
            self.cited(m.SubjectType.PROGRAM, self.program, "program", p.cite)
            self.pledge_changed = stored is None or self.report.counts["program"][Action.UPDATE] > 0
        self.advance(1)

    async def load_rates(self) -> None:
        rates = self.document.exchange_rates
        stored = await repo.rates(self.session, {(r.base, r.quote, r.rate_date) for r in rates})
        accepted: list[Any] = []
        seen: set[Any] = set()
        for i, rate in enumerate(rates):
            place = f"exchange_rates[{i}]"
            problems = Problems()
            self.once(problems, seen, (rate.base, rate.quote, rate.rate_date), "rate_date")
            document_id = self.missing(
                problems, self.sources, rate.source_ref, "source_document_id", "source"
            )
            values = rate.model_dump(exclude={"cite", "source_ref"})
            values["source_document_id"] = document_id
            record = await self.upsert(
                kind="exchange_rate",
                place=place,
                key=f"{rate.base}/{rate.quote}@{rate.rate_date.isoformat()}",
                row=rate,
                model=m.ExchangeRate,
                stored=stored.get((rate.base, rate.quote, rate.rate_date)),
                values=values,
                validate=validate_rate,
                rename={"source_document_id": "source_ref"},
                problems=problems,
            )
            if record is not None:
                accepted.append((record, place, rate.cite))
        await self.session.flush()
        for record, place, cites in accepted:
            self.cited(m.SubjectType.EXCHANGE_RATE, record, place, cites)
        self.advance(len(rates))

    async def load_groups(self) -> None:
        named: set[str] = set()
        for item in self.document.initiatives:
            named.update(row.group for row in item.beneficiaries)
            named.update(row.group for row in item.shares)
        self.groups = await self.keyed(
            section="beneficiary_groups",
            kind="beneficiary_group",
            rows=self.document.beneficiary_groups,
            key="code",
            named=named,
            model=m.BeneficiaryGroup,
            validate=validate_group,
            subject=m.SubjectType.BENEFICIARY_GROUP,
        )


async def _validate_program(_session: AsyncSession, problems: Problems, program: m.Program) -> None:
    """A programme's own values, by its domain's rule. Its sponsor and ref the import
    resolves itself (a sponsor the file or the ledger holds; the stored programme of
    the ref); its money is checked once its budget lines are written (money.py)."""
    check_program_values(problems, program)


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

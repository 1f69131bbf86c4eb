"""The object types of the read API, one per record type, and their order inputs.

Classes are ordered so that every list's node type exists before the field that
lists it; references back up the tree (to one record) are resolved by name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import strawberry

from app import models as m
from app.graphql import listings as L
from app.graphql.inputs import (
    BeneficiaryFigureFilter,
    BudgetLineFilter,
    CitationFilter,
    InitiativeFilter,
    MilestoneFilter,
    OrderDirection,
    ParticipationFilter,
    ProgramFilter,
    TransactionFilter,
)
from app.graphql.money import ConvertedMoney, Money, convert_money
from app.graphql.relay import Listing, Node, connection
from app.models import (
    BudgetStatus,
    BudgetType,
    FigureQualifier,
    InitiativeStatus,
    MilestoneStatus,
    OrganizationKind,
    ParticipationRole,
    SubjectType,
    TransactionType,
)


def order_input(type_name: str, listing: Listing) -> Any:
    """`<Type>Order { field, direction }` with the keys the listing can sort by."""
    fields = StrEnum(  # type: ignore[misc]
        f"{type_name}OrderField", {name.upper(): name for name in listing.order_columns}
    )
    strawberry.enum(fields, description=f"What lists of {type_name} can be sorted by.")
    namespace = {
        "__annotations__": {"field": fields, "direction": OrderDirection},
        "direction": OrderDirection.ASC,
    }
    return strawberry.input(
        type(f"{type_name}Order", (), namespace), description=f"One sort key for {type_name} lists."
    )


OrganizationOrder = order_input("Organization", L.ORGANIZATIONS)
ProgramOrder = order_input("Program", L.PROGRAMS)
InitiativeOrder = order_input("Initiative", L.INITIATIVES)
BudgetLineOrder = order_input("BudgetLine", L.BUDGET_LINES)
TransactionOrder = order_input("Transaction", L.TRANSACTIONS)
MilestoneOrder = order_input("Milestone", L.MILESTONES)
BeneficiaryGroupOrder = order_input("BeneficiaryGroup", L.BENEFICIARY_GROUPS)
BeneficiaryFigureOrder = order_input("BeneficiaryFigure", L.BENEFICIARY_FIGURES)
ExchangeRateOrder = order_input("ExchangeRate", L.EXCHANGE_RATES)
SourceDocumentOrder = order_input("SourceDocument", L.SOURCE_DOCUMENTS)
CitationOrder = order_input("Citation", L.CITATIONS)
ParticipationOrder = order_input("Participation", L.PARTICIPATIONS)


def _db_id(root: Any) -> int:
    return int(root.db_id)


async def _load(info: strawberry.Info, model: type[Any], pk: int | None) -> Any:
    if pk is None:
        return None
    return await info.context.loaders.by_id(model).load(pk)


@strawberry.interface(description="A stored record, with when it was created and last changed.")
class Record(Node):
    created_at: datetime = strawberry.field(description="When the record was created (UTC).")
    updated_at: datetime = strawberry.field(description="When the record last changed (UTC).")


def _stamps(row: Any) -> dict[str, Any]:
    return {"db_id": row.id, "created_at": row.created_at, "updated_at": row.updated_at}


@strawberry.type(
    description="The words of a source that one fact rests on. An estimate is flagged."
)
class Citation(Record):
    _document_id: strawberry.Private[int]
    subject_type: SubjectType
    field: str | None = strawberry.field(
        description="The field of the subject it supports, as named in this API (e.g. "
        "`plannedEnd`, `governance.lead`); null: the record as a whole."
    )
    quote: str = strawberry.field(description="The source's own words, verbatim.")
    translation: str | None = strawberry.field(description="The quote in English.")
    is_estimate: bool = strawberry.field(
        description="True when the value is derived or illustrative, not stated by the source."
    )
    note: str | None

    @classmethod
    def from_row(cls, row: m.Citation) -> Citation:
        return cls(
            **_stamps(row),
            _document_id=row.source_document_id,
            subject_type=row.subject_type,
            field=row.field,
            quote=row.quote,
            translation=row.translation,
            is_estimate=row.is_estimate,
            note=row.note,
        )

    @strawberry.field(description="The document quoted.")
    async def document(self, info: strawberry.Info) -> SourceDocument:
        return SourceDocument.from_row(await _load(info, m.SourceDocument, self._document_id))


def _sources(subject: SubjectType) -> Any:
    return connection(
        L.citations_of(subject),
        Citation,
        CitationFilter,
        CitationOrder,
        description="The evidence for this record: the source words behind each fact.",
        parent_key=_db_id,
    )


@strawberry.type(description="A source document: the evidence behind figures.")
class SourceDocument(Record):
    ref: str
    title: str
    url: str | None
    publisher: str | None
    published_on: date | None
    language: str | None = strawberry.field(description="BCP 47 tag of the text's language.")
    category: str | None

    @classmethod
    def from_row(cls, row: m.SourceDocument) -> SourceDocument:
        return cls(
            **_stamps(row),
            ref=row.ref,
            title=row.title,
            url=row.url,
            publisher=row.publisher,
            published_on=row.published_on,
            language=row.language,
            category=row.category,
        )

    citations = connection(
        L.CITATIONS_OF_DOCUMENT,
        Citation,
        CitationFilter,
        CitationOrder,
        description="Every fact that cites this document.",
        parent_key=_db_id,
    )


@strawberry.type(description="An organisation's role in an initiative.")
class Participation(Record):
    _row: strawberry.Private[m.Participation]
    role: ParticipationRole

    @classmethod
    def from_row(cls, row: m.Participation) -> Participation:
        return cls(**_stamps(row), _row=row, role=row.role)

    @strawberry.field
    async def organization(self, info: strawberry.Info) -> Organization:
        return Organization.from_row(await _load(info, m.Organization, self._row.organization_id))

    @strawberry.field
    async def initiative(self, info: strawberry.Info) -> Initiative:
        return Initiative.from_row(await _load(info, m.Initiative, self._row.initiative_id))


@strawberry.interface(
    description="A record with an amount of money and the value date that converts it."
)
class Amounted(Record):
    _row: strawberry.Private[Any]
    value_date: date = strawberry.field(description="The date whose rate converts the amount.")

    @strawberry.field(description="The amount in its own currency (signed for transactions).")
    def amount(self) -> Money:
        return Money(amount=self._row.amount, currency=self._row.currency)

    @strawberry.field(description="The amount converted at the rate valid on its value date.")
    async def amount_in(self, info: strawberry.Info, currency: str) -> ConvertedMoney:
        return await convert_money(info, self.amount(), currency, self.value_date)


@strawberry.type(
    description="A flow of money: commitment, disbursement, expenditure, incoming funds, ... "
    "Signed: a reduction is negative."
)
class Transaction(Amounted):
    type: TransactionType
    transaction_date: date = strawberry.field(
        name="date", description="When the transaction took place."
    )
    description: str | None

    @classmethod
    def from_row(cls, row: m.Transaction) -> Transaction:
        return cls(
            **_stamps(row),
            _row=row,
            type=row.type,
            transaction_date=row.transaction_date,
            value_date=row.value_date,
            description=row.description,
        )

    @strawberry.field
    async def initiative(self, info: strawberry.Info) -> Initiative:
        return Initiative.from_row(await _load(info, m.Initiative, self._row.initiative_id))

    @strawberry.field(description="The budget line the transaction is booked against, if any.")
    async def budget_line(self, info: strawberry.Info) -> BudgetLine | None:
        row = await _load(info, m.BudgetLine, self._row.budget_line_id)
        return BudgetLine.from_row(row) if row else None

    @strawberry.field(description="Who the money came from.")
    async def provider(self, info: strawberry.Info) -> Organization | None:
        row = await _load(info, m.Organization, self._row.provider_id)
        return Organization.from_row(row) if row else None

    @strawberry.field(description="Who the money went to.")
    async def receiver(self, info: strawberry.Info) -> Organization | None:
        row = await _load(info, m.Organization, self._row.receiver_id)
        return Organization.from_row(row) if row else None

    sources = _sources(SubjectType.TRANSACTION)


@strawberry.type(
    description="Money budgeted for one initiative and period. A REVISED line replaces the "
    "ORIGINAL of its period (it holds the new total)."
)
class BudgetLine(Amounted):
    period_start: date
    period_end: date
    type: BudgetType
    status: BudgetStatus
    category: str | None
    description: str | None

    @classmethod
    def from_row(cls, row: m.BudgetLine) -> BudgetLine:
        return cls(
            **_stamps(row),
            _row=row,
            period_start=row.period_start,
            period_end=row.period_end,
            type=row.type,
            status=row.status,
            category=row.category,
            value_date=row.value_date,
            description=row.description,
        )

    @strawberry.field
    async def initiative(self, info: strawberry.Info) -> Initiative:
        return Initiative.from_row(await _load(info, m.Initiative, self._row.initiative_id))

    transactions = connection(
        L.TRANSACTIONS_OF_BUDGET_LINE,
        Transaction,
        TransactionFilter,
        TransactionOrder,
        description="Transactions booked against this budget line.",
        parent_key=_db_id,
    )
    sources = _sources(SubjectType.BUDGET_LINE)


@strawberry.type(description="A dated step of an initiative: planned, forecast and actual dates.")
class Milestone(Record):
    _initiative_id: strawberry.Private[int]
    title: str
    description: str | None
    planned_date: date | None = strawberry.field(description="Null when no date is known yet.")
    forecast_date: date | None
    actual_date: date | None
    status: MilestoneStatus

    @classmethod
    def from_row(cls, row: m.Milestone) -> Milestone:
        return cls(
            **_stamps(row),
            _initiative_id=row.initiative_id,
            title=row.title,
            description=row.description,
            planned_date=row.planned_date,
            forecast_date=row.forecast_date,
            actual_date=row.actual_date,
            status=row.status,
        )

    @strawberry.field
    async def initiative(self, info: strawberry.Info) -> Initiative:
        return Initiative.from_row(await _load(info, m.Initiative, self._initiative_id))

    sources = _sources(SubjectType.MILESTONE)


@strawberry.type(
    description="An initiative's target and reach for one beneficiary group, in one unit."
)
class BeneficiaryFigure(Record):
    _row: strawberry.Private[m.BeneficiaryFigure]
    unit: str = strawberry.field(description='What is counted, e.g. "people employed".')
    target: Decimal | None = strawberry.field(description="Null when no target is stated.")
    target_date: date | None
    reached: Decimal | None = strawberry.field(description="Null when no reach is reported.")
    reached_qualifier: FigureQualifier = strawberry.field(
        description='How `reached` relates to the truth, e.g. MORE_THAN for "more than 10,000".'
    )
    reached_as_of: date | None

    @classmethod
    def from_row(cls, row: m.BeneficiaryFigure) -> BeneficiaryFigure:
        return cls(
            **_stamps(row),
            _row=row,
            unit=row.unit,
            target=row.target_value,
            target_date=row.target_date,
            reached=row.reached_value,
            reached_qualifier=row.reached_qualifier,
            reached_as_of=row.reached_as_of,
        )

    @strawberry.field
    async def group(self, info: strawberry.Info) -> BeneficiaryGroup:
        return BeneficiaryGroup.from_row(await _load(info, m.BeneficiaryGroup, self._row.group_id))

    @strawberry.field
    async def initiative(self, info: strawberry.Info) -> Initiative:
        return Initiative.from_row(await _load(info, m.Initiative, self._row.initiative_id))

    sources = _sources(SubjectType.BENEFICIARY_FIGURE)


@strawberry.type(description="One initiative of a programme (an IATI activity).")
class Initiative(Record):
    _program_id: strawberry.Private[int]
    code: str = strawberry.field(description="Stable identifier; never changes once published.")
    position: int = strawberry.field(description="The initiative's number in its programme.")
    title: str
    summary: str | None
    focus_area: str | None
    status: InitiativeStatus
    planned_start: date | None
    actual_start: date | None
    planned_end: date | None
    actual_end: date | None
    region: str | None = strawberry.field(
        description="ISO 3166-1 country or ISO 3166-2 subdivision, e.g. CN or CN-ZJ."
    )

    @classmethod
    def from_row(cls, row: m.Initiative) -> Initiative:
        return cls(
            **_stamps(row),
            _program_id=row.program_id,
            code=row.code,
            position=row.position,
            title=row.title,
            summary=row.summary,
            focus_area=row.focus_area,
            status=row.status,
            planned_start=row.planned_start,
            actual_start=row.actual_start,
            planned_end=row.planned_end,
            actual_end=row.actual_end,
            region=row.region,
        )

    @strawberry.field
    async def program(self, info: strawberry.Info) -> Program:
        return Program.from_row(await _load(info, m.Program, self._program_id))

    @strawberry.field(
        description="Current budget: per period the revised budget where one exists, else the "
        "original, summed over its lines, in the programme's currency (other currencies are "
        "converted at their value date's rate)."
    )
    async def budget(self, info: strawberry.Info) -> Money:
        total = await info.context.loaders.budget_by_initiative.load(self.db_id)
        return Money(amount=total.amount, currency=total.currency)

    budget_lines = connection(
        L.BUDGET_LINES_OF_INITIATIVE,
        BudgetLine,
        BudgetLineFilter,
        BudgetLineOrder,
        description="The initiative's budget lines, original and revised.",
        parent_key=_db_id,
    )
    transactions = connection(
        L.TRANSACTIONS_OF_INITIATIVE,
        Transaction,
        TransactionFilter,
        TransactionOrder,
        description="The initiative's transactions.",
        parent_key=_db_id,
    )
    milestones = connection(
        L.MILESTONES_OF_INITIATIVE,
        Milestone,
        MilestoneFilter,
        MilestoneOrder,
        description="The initiative's milestones.",
        parent_key=_db_id,
    )
    beneficiaries = connection(
        L.FIGURES_OF_INITIATIVE,
        BeneficiaryFigure,
        BeneficiaryFigureFilter,
        BeneficiaryFigureOrder,
        description="Who the initiative serves: per beneficiary group, target and reach.",
        parent_key=_db_id,
    )
    participants = connection(
        L.PARTICIPATIONS_OF_INITIATIVE,
        Participation,
        ParticipationFilter,
        ParticipationOrder,
        description="Organisations taking part, with their roles.",
        parent_key=_db_id,
    )
    sources = _sources(SubjectType.INITIATIVE)


@strawberry.type(description="A group of people an initiative serves.")
class BeneficiaryGroup(Record):
    code: str
    name: str
    description: str | None

    @classmethod
    def from_row(cls, row: m.BeneficiaryGroup) -> BeneficiaryGroup:
        return cls(**_stamps(row), code=row.code, name=row.name, description=row.description)

    figures = connection(
        L.FIGURES_OF_GROUP,
        BeneficiaryFigure,
        BeneficiaryFigureFilter,
        BeneficiaryFigureOrder,
        description="Targets and reach for this group, per initiative.",
        parent_key=_db_id,
    )
    initiatives = connection(
        L.INITIATIVES_OF_GROUP,
        Initiative,
        InitiativeFilter,
        InitiativeOrder,
        description="Initiatives serving this group.",
        parent_key=_db_id,
    )
    sources = _sources(SubjectType.BENEFICIARY_GROUP)


@strawberry.type(description="Who governs a programme.")
class Governance:
    body: str | None = strawberry.field(description="The governing body, e.g. a task force.")
    lead: str | None = strawberry.field(description="Who leads it.")


@strawberry.type(description="A pledge: money promised for a set of initiatives by a deadline.")
class Program(Record):
    _row: strawberry.Private[m.Program]
    ref: str
    name: str
    summary: str | None
    announced_on: date | None
    deadline: date | None = strawberry.field(description="When every initiative is due.")
    governance: Governance

    @classmethod
    def from_row(cls, row: m.Program) -> Program:
        return cls(
            **_stamps(row),
            _row=row,
            ref=row.ref,
            name=row.name,
            summary=row.summary,
            announced_on=row.announced_on,
            deadline=row.deadline,
            governance=Governance(body=row.governance_body, lead=row.governance_lead),
        )

    @strawberry.field(description="The organisation that made the pledge.")
    async def sponsor(self, info: strawberry.Info) -> Organization:
        return Organization.from_row(await _load(info, m.Organization, self._row.sponsor_id))

    @strawberry.field(description="The amount pledged, in the pledge's own currency.")
    def pledged(self) -> Money:
        return Money(amount=self._row.pledged_amount, currency=self._row.pledged_currency)

    @strawberry.field(
        description="The pledged amount converted at the rate valid on the announcement date."
    )
    async def pledged_in(self, info: strawberry.Info, currency: str) -> ConvertedMoney:
        on = self._row.announced_on or datetime.now(UTC).date()
        return await convert_money(info, self.pledged(), currency, on)

    @strawberry.field(
        description="Sum of the initiatives' current budgets, in the pledge's currency."
    )
    async def allocated(self, info: strawberry.Info) -> Money:
        total = await info.context.loaders.budget_by_program.load(self.db_id)
        return Money(amount=total.amount, currency=total.currency)

    @strawberry.field(description="Pledged minus allocated: not yet given to any initiative.")
    async def unallocated(self, info: strawberry.Info) -> Money:
        allocated = await self.allocated(info)
        return Money(
            amount=self._row.pledged_amount - allocated.amount, currency=allocated.currency
        )

    initiatives = connection(
        L.INITIATIVES_OF_PROGRAM,
        Initiative,
        InitiativeFilter,
        InitiativeOrder,
        description="The programme's initiatives.",
        parent_key=_db_id,
    )
    sources = _sources(SubjectType.PROGRAM)


@strawberry.type(description="An organisation: a sponsor, funder or implementing partner.")
class Organization(Record):
    ref: str = strawberry.field(description="Stable reference of the organisation.")
    name: str
    kind: OrganizationKind
    headquarters: str | None
    description: str | None

    @classmethod
    def from_row(cls, row: m.Organization) -> Organization:
        return cls(
            **_stamps(row),
            ref=row.ref,
            name=row.name,
            kind=row.kind,
            headquarters=row.headquarters,
            description=row.description,
        )

    participations = connection(
        L.PARTICIPATIONS_OF_ORGANIZATION,
        Participation,
        ParticipationFilter,
        ParticipationOrder,
        description="The initiatives this organisation takes part in, with its roles.",
        parent_key=_db_id,
    )
    sponsored_programs = connection(
        L.PROGRAMS_OF_SPONSOR,
        Program,
        ProgramFilter,
        ProgramOrder,
        description="The pledges this organisation made.",
        parent_key=_db_id,
    )
    sources = _sources(SubjectType.ORGANIZATION)


@strawberry.type(description="`1 base = rate quote`, valid from `rateDate` until the next one.")
class ExchangeRate(Record):
    _document_id: strawberry.Private[int | None]
    base: str
    quote: str
    rate: Decimal
    rate_date: date
    source: str = strawberry.field(description="Who states the rate, in words.")

    @classmethod
    def from_row(cls, row: m.ExchangeRate) -> ExchangeRate:
        return cls(
            **_stamps(row),
            _document_id=row.source_document_id,
            base=row.base,
            quote=row.quote,
            rate=row.rate,
            rate_date=row.rate_date,
            source=row.source,
        )

    @strawberry.field(description="The document that states the rate, if any.")
    async def source_document(self, info: strawberry.Info) -> SourceDocument | None:
        row = await _load(info, m.SourceDocument, self._document_id)
        return SourceDocument.from_row(row) if row else None

    sources = _sources(SubjectType.EXCHANGE_RATE)


# Global-id type name → (model, node type), for `node(id:)`.
NODE_TYPES: dict[str, tuple[type[Any], Any]] = {
    cls.__strawberry_definition__.name: (model, cls)  # type: ignore[union-attr]
    for model, cls in (
        (m.Organization, Organization),
        (m.Program, Program),
        (m.Initiative, Initiative),
        (m.Participation, Participation),
        (m.BudgetLine, BudgetLine),
        (m.Transaction, Transaction),
        (m.Milestone, Milestone),
        (m.BeneficiaryGroup, BeneficiaryGroup),
        (m.BeneficiaryFigure, BeneficiaryFigure),
        (m.ExchangeRate, ExchangeRate),
        (m.SourceDocument, SourceDocument),
        (m.Citation, Citation),
    )
}

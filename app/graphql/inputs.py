"""Filter and order inputs of every list. What they compile to lives in `listings.py`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Generic, TypeVar

import strawberry

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

E = TypeVar("E")

# Model enums become GraphQL enums (values by NAME, e.g. IMPLEMENTATION).
for _enum, _doc in (
    (InitiativeStatus, "Activity status, after IATI ActivityStatus."),
    (BudgetType, "ORIGINAL, or REVISED: a revision holds the period's new total."),
    (BudgetStatus, "INDICATIVE (planned) or COMMITTED (formally approved)."),
    (TransactionType, "Transaction type, after IATI TransactionType."),
    (MilestoneStatus, "Where a milestone stands."),
    (FigureQualifier, "How a reported figure relates to the truth, as its source words it."),
    (OrganizationKind, "What kind of organisation."),
    (ParticipationRole, "An organisation's role in an initiative, after IATI OrganisationRole."),
    (SubjectType, "The kind of record a citation supports."),
):
    strawberry.enum(_enum, description=_doc)


@strawberry.enum(description="Sort direction; NULLs sort last either way.")
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


# --- filters on one value -------------------------------------------------------------


@strawberry.input(
    description="Conditions on a text; `contains` and `startsWith` ignore case. Like every "
    "comparison, `ne` and `notIn` match only rows that have a value; `not` on a whole filter "
    "is its exact complement, rows without a value included."
)
class StringFilter:
    eq: str | None = None
    ne: str | None = None
    in_: list[str] | None = strawberry.field(name="in", default=None)
    not_in: list[str] | None = None
    contains: str | None = None
    starts_with: str | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on an ID (global IDs of the field's type).")
class IDFilter:
    eq: strawberry.ID | None = None
    in_: list[strawberry.ID] | None = strawberry.field(name="in", default=None)


@strawberry.input(description="Conditions on an ISO 4217 currency code.")
class CurrencyFilter:
    eq: str | None = None
    in_: list[str] | None = strawberry.field(name="in", default=None)


@strawberry.input(description="Conditions on a date; a range is gt/gte with lt/lte.")
class DateFilter:
    eq: date | None = None
    ne: date | None = None
    in_: list[date] | None = strawberry.field(name="in", default=None)
    gt: date | None = None
    gte: date | None = None
    lt: date | None = None
    lte: date | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on an exact decimal; a range is gt/gte with lt/lte.")
class DecimalFilter:
    eq: Decimal | None = None
    ne: Decimal | None = None
    in_: list[Decimal] | None = strawberry.field(name="in", default=None)
    gt: Decimal | None = None
    gte: Decimal | None = None
    lt: Decimal | None = None
    lte: Decimal | None = None
    is_null: bool | None = None


@strawberry.input(description="Conditions on a whole number; a range is gt/gte with lt/lte.")
class IntFilter:
    eq: int | None = None
    ne: int | None = None
    in_: list[int] | None = strawberry.field(name="in", default=None)
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None


@strawberry.input(description="Conditions on a true/false value.")
class BooleanFilter:
    eq: bool | None = None


@strawberry.input(description="Conditions on an enum value.")
class EnumFilter(Generic[E]):
    eq: E | None = None
    ne: E | None = None
    in_: list[E] | None = strawberry.field(name="in", default=None)
    not_in: list[E] | None = None


# --- one filter per record type; and/or/not combine them -------------------------------


@strawberry.input(description="Filter organisations.")
class OrganizationFilter:
    and_: list[OrganizationFilter] | None = strawberry.field(name="and", default=None)
    or_: list[OrganizationFilter] | None = strawberry.field(name="or", default=None)
    not_: OrganizationFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    ref: StringFilter | None = None
    name: StringFilter | None = None
    kind: EnumFilter[OrganizationKind] | None = None


@strawberry.input(description="Filter programmes (pledges).")
class ProgramFilter:
    and_: list[ProgramFilter] | None = strawberry.field(name="and", default=None)
    or_: list[ProgramFilter] | None = strawberry.field(name="or", default=None)
    not_: ProgramFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    ref: StringFilter | None = None
    name: StringFilter | None = None
    pledged_amount: DecimalFilter | None = None
    pledged_currency: CurrencyFilter | None = None
    announced_on: DateFilter | None = None
    deadline: DateFilter | None = None
    sponsor: OrganizationFilter | None = strawberry.field(
        default=None, description="Programmes whose sponsor matches."
    )


@strawberry.input(description="Filter initiatives.")
class InitiativeFilter:
    and_: list[InitiativeFilter] | None = strawberry.field(name="and", default=None)
    or_: list[InitiativeFilter] | None = strawberry.field(name="or", default=None)
    not_: InitiativeFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    code: StringFilter | None = None
    position: IntFilter | None = None
    title: StringFilter | None = None
    summary: StringFilter | None = None
    focus_area: StringFilter | None = None
    status: EnumFilter[InitiativeStatus] | None = None
    region: StringFilter | None = None
    planned_start: DateFilter | None = None
    actual_start: DateFilter | None = None
    planned_end: DateFilter | None = None
    actual_end: DateFilter | None = None
    program: ProgramFilter | None = strawberry.field(
        default=None, description="Initiatives whose programme matches."
    )
    beneficiary_group: BeneficiaryGroupFilter | None = strawberry.field(
        default=None, description="Initiatives serving at least one matching beneficiary group."
    )
    budget_line: BudgetLineFilter | None = strawberry.field(
        default=None, description="Initiatives with at least one matching budget line."
    )
    transaction: TransactionFilter | None = strawberry.field(
        default=None, description="Initiatives with at least one matching transaction."
    )
    milestone: MilestoneFilter | None = strawberry.field(
        default=None, description="Initiatives with at least one matching milestone."
    )
    participant: OrganizationFilter | None = strawberry.field(
        default=None, description="Initiatives in which a matching organisation takes part."
    )


@strawberry.input(description="Filter budget lines.")
class BudgetLineFilter:
    and_: list[BudgetLineFilter] | None = strawberry.field(name="and", default=None)
    or_: list[BudgetLineFilter] | None = strawberry.field(name="or", default=None)
    not_: BudgetLineFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    initiative: InitiativeFilter | None = None
    period_start: DateFilter | None = None
    period_end: DateFilter | None = None
    type: EnumFilter[BudgetType] | None = None
    status: EnumFilter[BudgetStatus] | None = None
    category: StringFilter | None = None
    amount: DecimalFilter | None = None
    currency: CurrencyFilter | None = None
    value_date: DateFilter | None = None


@strawberry.input(description="Filter transactions.")
class TransactionFilter:
    and_: list[TransactionFilter] | None = strawberry.field(name="and", default=None)
    or_: list[TransactionFilter] | None = strawberry.field(name="or", default=None)
    not_: TransactionFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    initiative: InitiativeFilter | None = None
    budget_line: BudgetLineFilter | None = None
    type: EnumFilter[TransactionType] | None = None
    date: DateFilter | None = None
    amount: DecimalFilter | None = None
    currency: CurrencyFilter | None = None
    value_date: DateFilter | None = None
    description: StringFilter | None = None
    provider: OrganizationFilter | None = None
    receiver: OrganizationFilter | None = None


@strawberry.input(description="Filter milestones.")
class MilestoneFilter:
    and_: list[MilestoneFilter] | None = strawberry.field(name="and", default=None)
    or_: list[MilestoneFilter] | None = strawberry.field(name="or", default=None)
    not_: MilestoneFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    initiative: InitiativeFilter | None = None
    title: StringFilter | None = None
    planned_date: DateFilter | None = None
    forecast_date: DateFilter | None = None
    actual_date: DateFilter | None = None
    status: EnumFilter[MilestoneStatus] | None = None


@strawberry.input(description="Filter beneficiary groups.")
class BeneficiaryGroupFilter:
    and_: list[BeneficiaryGroupFilter] | None = strawberry.field(name="and", default=None)
    or_: list[BeneficiaryGroupFilter] | None = strawberry.field(name="or", default=None)
    not_: BeneficiaryGroupFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    code: StringFilter | None = None
    name: StringFilter | None = None
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Groups served by at least one matching initiative."
    )


@strawberry.input(description="Filter beneficiary figures (an initiative's target and reach).")
class BeneficiaryFigureFilter:
    and_: list[BeneficiaryFigureFilter] | None = strawberry.field(name="and", default=None)
    or_: list[BeneficiaryFigureFilter] | None = strawberry.field(name="or", default=None)
    not_: BeneficiaryFigureFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    initiative: InitiativeFilter | None = None
    group: BeneficiaryGroupFilter | None = None
    unit: StringFilter | None = None
    target: DecimalFilter | None = None
    reached: DecimalFilter | None = None
    reached_as_of: DateFilter | None = None


@strawberry.input(description="Filter exchange rates.")
class ExchangeRateFilter:
    and_: list[ExchangeRateFilter] | None = strawberry.field(name="and", default=None)
    or_: list[ExchangeRateFilter] | None = strawberry.field(name="or", default=None)
    not_: ExchangeRateFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    base: CurrencyFilter | None = None
    quote: CurrencyFilter | None = None
    rate: DecimalFilter | None = None
    rate_date: DateFilter | None = None
    source: StringFilter | None = None


@strawberry.input(description="Filter source documents.")
class SourceDocumentFilter:
    and_: list[SourceDocumentFilter] | None = strawberry.field(name="and", default=None)
    or_: list[SourceDocumentFilter] | None = strawberry.field(name="or", default=None)
    not_: SourceDocumentFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    ref: StringFilter | None = None
    title: StringFilter | None = None
    published_on: DateFilter | None = None
    language: StringFilter | None = None
    category: StringFilter | None = None


@strawberry.input(description="Filter citations (the evidence behind figures).")
class CitationFilter:
    and_: list[CitationFilter] | None = strawberry.field(name="and", default=None)
    or_: list[CitationFilter] | None = strawberry.field(name="or", default=None)
    not_: CitationFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    field: StringFilter | None = None
    quote: StringFilter | None = None
    is_estimate: BooleanFilter | None = None
    subject_type: EnumFilter[SubjectType] | None = None
    document: SourceDocumentFilter | None = None


@strawberry.input(description="Filter participations (organisation roles in initiatives).")
class ParticipationFilter:
    and_: list[ParticipationFilter] | None = strawberry.field(name="and", default=None)
    or_: list[ParticipationFilter] | None = strawberry.field(name="or", default=None)
    not_: ParticipationFilter | None = strawberry.field(name="not", default=None)
    id: IDFilter | None = None
    role: EnumFilter[ParticipationRole] | None = None
    organization: OrganizationFilter | None = None
    initiative: InitiativeFilter | None = None

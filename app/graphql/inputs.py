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
    eq: str | None = strawberry.field(default=None, description="Equal to this value.")
    ne: str | None = strawberry.field(
        default=None, description="Not equal to this value (rows without a value never match)."
    )
    in_: list[str] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )
    not_in: list[str] | None = strawberry.field(
        default=None,
        description="Equal to none of these values (rows without a value never match).",
    )
    contains: str | None = strawberry.field(
        default=None, description="Contains this text, ignoring case."
    )
    starts_with: str | None = strawberry.field(
        default=None, description="Starts with this text, ignoring case."
    )
    is_null: bool | None = strawberry.field(
        default=None, description="true: only rows without a value; false: only rows with one."
    )


@strawberry.input(description="Conditions on an ID (global IDs of the field's type).")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(default=None, description="Equal to this value.")
    in_: list[strawberry.ID] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )


@strawberry.input(description="Conditions on an ISO 4217 currency code.")
class CurrencyFilter:
    eq: str | None = strawberry.field(default=None, description="Equal to this value.")
    in_: list[str] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )


@strawberry.input(description="Conditions on a date; a range is gt/gte with lt/lte.")
class DateFilter:
    eq: date | None = strawberry.field(default=None, description="Equal to this value.")
    ne: date | None = strawberry.field(
        default=None, description="Not equal to this value (rows without a value never match)."
    )
    in_: list[date] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )
    gt: date | None = strawberry.field(default=None, description="Greater than this value.")
    gte: date | None = strawberry.field(
        default=None, description="Greater than or equal to this value."
    )
    lt: date | None = strawberry.field(default=None, description="Less than this value.")
    lte: date | None = strawberry.field(
        default=None, description="Less than or equal to this value."
    )
    is_null: bool | None = strawberry.field(
        default=None, description="true: only rows without a value; false: only rows with one."
    )


@strawberry.input(description="Conditions on an exact decimal; a range is gt/gte with lt/lte.")
class DecimalFilter:
    eq: Decimal | None = strawberry.field(default=None, description="Equal to this value.")
    ne: Decimal | None = strawberry.field(
        default=None, description="Not equal to this value (rows without a value never match)."
    )
    in_: list[Decimal] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )
    gt: Decimal | None = strawberry.field(default=None, description="Greater than this value.")
    gte: Decimal | None = strawberry.field(
        default=None, description="Greater than or equal to this value."
    )
    lt: Decimal | None = strawberry.field(default=None, description="Less than this value.")
    lte: Decimal | None = strawberry.field(
        default=None, description="Less than or equal to this value."
    )
    is_null: bool | None = strawberry.field(
        default=None, description="true: only rows without a value; false: only rows with one."
    )


@strawberry.input(description="Conditions on a whole number; a range is gt/gte with lt/lte.")
class IntFilter:
    eq: int | None = strawberry.field(default=None, description="Equal to this value.")
    ne: int | None = strawberry.field(
        default=None, description="Not equal to this value (rows without a value never match)."
    )
    in_: list[int] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )
    gt: int | None = strawberry.field(default=None, description="Greater than this value.")
    gte: int | None = strawberry.field(
        default=None, description="Greater than or equal to this value."
    )
    lt: int | None = strawberry.field(default=None, description="Less than this value.")
    lte: int | None = strawberry.field(
        default=None, description="Less than or equal to this value."
    )


@strawberry.input(description="Conditions on a true/false value.")
class BooleanFilter:
    eq: bool | None = strawberry.field(default=None, description="Equal to this value.")


@strawberry.input(description="Conditions on an enum value.")
class EnumFilter(Generic[E]):
    eq: E | None = strawberry.field(default=None, description="Equal to this value.")
    ne: E | None = strawberry.field(
        default=None, description="Not equal to this value (rows without a value never match)."
    )
    in_: list[E] | None = strawberry.field(
        name="in", default=None, description="Equal to one of these values."
    )
    not_in: list[E] | None = strawberry.field(
        default=None,
        description="Equal to none of these values (rows without a value never match).",
    )


# --- one filter per record type; and/or/not combine them -------------------------------


@strawberry.input(description="Filter organisations.")
class OrganizationFilter:
    and_: list[OrganizationFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[OrganizationFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: OrganizationFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    ref: StringFilter | None = strawberry.field(default=None, description="Conditions on the ref.")
    name: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the name."
    )
    kind: EnumFilter[OrganizationKind] | None = strawberry.field(
        default=None, description="Conditions on the kind."
    )


@strawberry.input(description="Filter programmes (pledges).")
class ProgramFilter:
    and_: list[ProgramFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[ProgramFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: ProgramFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    ref: StringFilter | None = strawberry.field(default=None, description="Conditions on the ref.")
    name: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the name."
    )
    pledged_amount: DecimalFilter | None = strawberry.field(
        default=None, description="Conditions on the pledged amount."
    )
    pledged_currency: CurrencyFilter | None = strawberry.field(
        default=None, description="Conditions on the pledged currency."
    )
    announced_on: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the announced on."
    )
    deadline: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the deadline."
    )
    sponsor: OrganizationFilter | None = strawberry.field(
        default=None, description="Programmes whose sponsor matches."
    )


@strawberry.input(description="Filter initiatives.")
class InitiativeFilter:
    and_: list[InitiativeFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[InitiativeFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: InitiativeFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    code: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the code."
    )
    position: IntFilter | None = strawberry.field(
        default=None, description="Conditions on the position."
    )
    title: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the title."
    )
    summary: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the summary."
    )
    focus_area: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the focus area."
    )
    status: EnumFilter[InitiativeStatus] | None = strawberry.field(
        default=None, description="Conditions on the status."
    )
    region: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the region."
    )
    planned_start: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the planned start."
    )
    actual_start: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the actual start."
    )
    planned_end: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the planned end."
    )
    actual_end: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the actual end."
    )
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
    and_: list[BudgetLineFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[BudgetLineFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: BudgetLineFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Conditions on the related initiative."
    )
    period_start: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the period start."
    )
    period_end: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the period end."
    )
    type: EnumFilter[BudgetType] | None = strawberry.field(
        default=None, description="Conditions on the type."
    )
    status: EnumFilter[BudgetStatus] | None = strawberry.field(
        default=None, description="Conditions on the status."
    )
    category: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the category."
    )
    amount: DecimalFilter | None = strawberry.field(
        default=None, description="Conditions on the amount."
    )
    currency: CurrencyFilter | None = strawberry.field(
        default=None, description="Conditions on the currency."
    )
    value_date: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the value date."
    )


@strawberry.input(description="Filter transactions.")
class TransactionFilter:
    and_: list[TransactionFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[TransactionFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: TransactionFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Conditions on the related initiative."
    )
    budget_line: BudgetLineFilter | None = strawberry.field(
        default=None, description="Conditions on the related budget line."
    )
    type: EnumFilter[TransactionType] | None = strawberry.field(
        default=None, description="Conditions on the type."
    )
    date: DateFilter | None = strawberry.field(default=None, description="Conditions on the date.")
    amount: DecimalFilter | None = strawberry.field(
        default=None, description="Conditions on the amount."
    )
    currency: CurrencyFilter | None = strawberry.field(
        default=None, description="Conditions on the currency."
    )
    value_date: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the value date."
    )
    description: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the description."
    )
    provider: OrganizationFilter | None = strawberry.field(
        default=None, description="Conditions on the related provider."
    )
    receiver: OrganizationFilter | None = strawberry.field(
        default=None, description="Conditions on the related receiver."
    )


@strawberry.input(description="Filter milestones.")
class MilestoneFilter:
    and_: list[MilestoneFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[MilestoneFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: MilestoneFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Conditions on the related initiative."
    )
    title: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the title."
    )
    planned_date: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the planned date."
    )
    forecast_date: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the forecast date."
    )
    actual_date: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the actual date."
    )
    status: EnumFilter[MilestoneStatus] | None = strawberry.field(
        default=None, description="Conditions on the status."
    )


@strawberry.input(description="Filter beneficiary groups.")
class BeneficiaryGroupFilter:
    and_: list[BeneficiaryGroupFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[BeneficiaryGroupFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: BeneficiaryGroupFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    code: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the code."
    )
    name: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the name."
    )
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Groups served by at least one matching initiative."
    )


@strawberry.input(description="Filter beneficiary figures (an initiative's target and reach).")
class BeneficiaryFigureFilter:
    and_: list[BeneficiaryFigureFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[BeneficiaryFigureFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: BeneficiaryFigureFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Conditions on the related initiative."
    )
    group: BeneficiaryGroupFilter | None = strawberry.field(
        default=None, description="Conditions on the related group."
    )
    unit: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the unit."
    )
    target: DecimalFilter | None = strawberry.field(
        default=None, description="Conditions on the target."
    )
    reached: DecimalFilter | None = strawberry.field(
        default=None, description="Conditions on the reached."
    )
    reached_as_of: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the reached as of."
    )


@strawberry.input(description="Filter exchange rates.")
class ExchangeRateFilter:
    and_: list[ExchangeRateFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[ExchangeRateFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: ExchangeRateFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    base: CurrencyFilter | None = strawberry.field(
        default=None, description="Conditions on the base."
    )
    quote: CurrencyFilter | None = strawberry.field(
        default=None, description="Conditions on the quote."
    )
    rate: DecimalFilter | None = strawberry.field(
        default=None, description="Conditions on the rate."
    )
    rate_date: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the rate date."
    )
    source: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the source."
    )


@strawberry.input(description="Filter source documents.")
class SourceDocumentFilter:
    and_: list[SourceDocumentFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[SourceDocumentFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: SourceDocumentFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    ref: StringFilter | None = strawberry.field(default=None, description="Conditions on the ref.")
    title: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the title."
    )
    published_on: DateFilter | None = strawberry.field(
        default=None, description="Conditions on the published on."
    )
    language: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the language."
    )
    category: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the category."
    )


@strawberry.input(description="Filter citations (the evidence behind figures).")
class CitationFilter:
    and_: list[CitationFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[CitationFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: CitationFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    field: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the field."
    )
    quote: StringFilter | None = strawberry.field(
        default=None, description="Conditions on the quote."
    )
    is_estimate: BooleanFilter | None = strawberry.field(
        default=None, description="Conditions on the is estimate."
    )
    subject_type: EnumFilter[SubjectType] | None = strawberry.field(
        default=None, description="Conditions on the subject type."
    )
    document: SourceDocumentFilter | None = strawberry.field(
        default=None, description="Conditions on the related document."
    )


@strawberry.input(description="Filter participations (organisation roles in initiatives).")
class ParticipationFilter:
    and_: list[ParticipationFilter] | None = strawberry.field(
        name="and", default=None, description="Every one of these filters matches."
    )
    or_: list[ParticipationFilter] | None = strawberry.field(
        name="or", default=None, description="At least one of these filters matches."
    )
    not_: ParticipationFilter | None = strawberry.field(
        name="not",
        default=None,
        description="This filter does not match (rows it cannot decide included).",
    )
    id: IDFilter | None = strawberry.field(default=None, description="Conditions on the id.")
    role: EnumFilter[ParticipationRole] | None = strawberry.field(
        default=None, description="Conditions on the role."
    )
    organization: OrganizationFilter | None = strawberry.field(
        default=None, description="Conditions on the related organization."
    )
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Conditions on the related initiative."
    )

"""Filter and order inputs of every list. What they compile to lives in `listings.py`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry

from app.graphql.enums import described_enum
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
    described_enum(_enum, description=_doc)


@strawberry.enum(description="Sort direction; NULLs sort last either way.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value("asc", description="Ascending: smallest, earliest, A first.")
    DESC = strawberry.enum_value("desc", description="Descending: largest, latest, Z first.")


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

F = TypeVar("F")


def on(what: str) -> Any:
    """An optional filter field: conditions on `what`."""
    return strawberry.field(default=None, description=f"Conditions on {what}.")


def filter_input(description: str) -> Callable[[type[F]], type[F]]:
    """A record type's filter input, with `and`, `or` and `not` over the filter itself."""

    def build(cls: type[F]) -> type[F]:
        name = cls.__name__
        cls.__annotations__ = {
            "and_": f"list[{name}] | None",
            "or_": f"list[{name}] | None",
            "not_": f"{name} | None",
            **cls.__annotations__,
        }
        combinators = {
            "and_": ("and", "Every one of these filters matches."),
            "or_": ("or", "At least one of these filters matches."),
            "not_": ("not", "This filter does not match (rows it cannot decide included)."),
        }
        for attribute, (graphql_name, doc) in combinators.items():
            setattr(
                cls, attribute, strawberry.field(name=graphql_name, default=None, description=doc)
            )
        return strawberry.input(cls, description=description)

    return build


@filter_input("Filter organisations.")
class OrganizationFilter:
    id: IDFilter | None = on("its ID")
    ref: StringFilter | None = on("its stable reference")
    name: StringFilter | None = on("the name")
    kind: EnumFilter[OrganizationKind] | None = on("the kind")


@filter_input("Filter programmes (pledges).")
class ProgramFilter:
    id: IDFilter | None = on("its ID")
    ref: StringFilter | None = on("its stable reference")
    name: StringFilter | None = on("the name")
    pledged_amount: DecimalFilter | None = on("the pledged amount")
    pledged_currency: CurrencyFilter | None = on("the pledged currency")
    announced_on: DateFilter | None = on("the announcement date")
    deadline: DateFilter | None = on("the deadline")
    sponsor: OrganizationFilter | None = strawberry.field(
        default=None, description="Programmes whose sponsor matches."
    )


@filter_input("Filter initiatives.")
class InitiativeFilter:
    id: IDFilter | None = on("its ID")
    code: StringFilter | None = on("the code")
    position: IntFilter | None = on("the position")
    title: StringFilter | None = on("the title")
    summary: StringFilter | None = on("the summary")
    focus_area: StringFilter | None = on("the focus area")
    status: EnumFilter[InitiativeStatus] | None = on("the status")
    region: StringFilter | None = on("the region")
    planned_start: DateFilter | None = on("the planned start date")
    actual_start: DateFilter | None = on("the actual start date")
    planned_end: DateFilter | None = on("the planned end date")
    actual_end: DateFilter | None = on("the actual end date")
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


@filter_input("Filter budget lines.")
class BudgetLineFilter:
    id: IDFilter | None = on("its ID")
    initiative: InitiativeFilter | None = on("the related initiative")
    period_start: DateFilter | None = on("the first day of the budget period")
    period_end: DateFilter | None = on("the last day of the budget period")
    type: EnumFilter[BudgetType] | None = on("the type")
    status: EnumFilter[BudgetStatus] | None = on("the status")
    category: StringFilter | None = on("the category")
    amount: DecimalFilter | None = on("the amount")
    currency: CurrencyFilter | None = on("the currency")
    value_date: DateFilter | None = on("the value date")


@filter_input("Filter transactions.")
class TransactionFilter:
    id: IDFilter | None = on("its ID")
    initiative: InitiativeFilter | None = on("the related initiative")
    budget_line: BudgetLineFilter | None = on("the related budget line")
    type: EnumFilter[TransactionType] | None = on("the type")
    date: DateFilter | None = on("the transaction date")
    amount: DecimalFilter | None = on("the amount")
    currency: CurrencyFilter | None = on("the currency")
    value_date: DateFilter | None = on("the value date")
    description: StringFilter | None = on("the description")
    provider: OrganizationFilter | None = on("the related provider")
    receiver: OrganizationFilter | None = on("the related receiver")


@filter_input("Filter milestones.")
class MilestoneFilter:
    id: IDFilter | None = on("its ID")
    initiative: InitiativeFilter | None = on("the related initiative")
    title: StringFilter | None = on("the title")
    planned_date: DateFilter | None = on("the planned date")
    forecast_date: DateFilter | None = on("the forecast date")
    actual_date: DateFilter | None = on("the actual date")
    status: EnumFilter[MilestoneStatus] | None = on("the status")


@filter_input("Filter beneficiary groups.")
class BeneficiaryGroupFilter:
    id: IDFilter | None = on("its ID")
    code: StringFilter | None = on("the code")
    name: StringFilter | None = on("the name")
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Groups served by at least one matching initiative."
    )


@filter_input("Filter beneficiary figures (an initiative's target and reach).")
class BeneficiaryFigureFilter:
    id: IDFilter | None = on("its ID")
    initiative: InitiativeFilter | None = on("the related initiative")
    group: BeneficiaryGroupFilter | None = on("the related group")
    unit: StringFilter | None = on("the unit")
    target: DecimalFilter | None = on("the target")
    reached: DecimalFilter | None = on("the reached")
    reached_as_of: DateFilter | None = on("the date of the reached figure")


@filter_input("Filter exchange rates.")
class ExchangeRateFilter:
    id: IDFilter | None = on("its ID")
    base: CurrencyFilter | None = on("the currency converted from")
    quote: CurrencyFilter | None = on("the currency converted into")
    rate: DecimalFilter | None = on("the rate")
    rate_date: DateFilter | None = on("the date the rate is valid from")
    source: StringFilter | None = on("the source")


@filter_input("Filter source documents.")
class SourceDocumentFilter:
    id: IDFilter | None = on("its ID")
    ref: StringFilter | None = on("its stable reference")
    title: StringFilter | None = on("the title")
    published_on: DateFilter | None = on("the publication date")
    language: StringFilter | None = on("the language")
    category: StringFilter | None = on("the category")


@filter_input("Filter citations (the evidence behind figures).")
class CitationFilter:
    id: IDFilter | None = on("its ID")
    field: StringFilter | None = on("the cited field's name")
    quote: StringFilter | None = on("the cited words")
    is_estimate: BooleanFilter | None = on("whether the value is an estimate")
    subject_type: EnumFilter[SubjectType] | None = on("the kind of record cited")
    document: SourceDocumentFilter | None = on("the related document")


@filter_input("Filter participations (organisation roles in initiatives).")
class ParticipationFilter:
    id: IDFilter | None = on("its ID")
    role: EnumFilter[ParticipationRole] | None = on("the role")
    organization: OrganizationFilter | None = on("the related organization")
    initiative: InitiativeFilter | None = on("the related initiative")

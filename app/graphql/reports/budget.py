"""`budgetSummary`: committed, disbursed and spent against budget, grouped as asked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry

import app.graphql.nodes  # noqa: F401  (object types load before app.graphql.money)
from app.errors import DomainError, ErrorCode
from app.graphql.context import Info
from app.graphql.extensions.views import AsOf, HeldForEvent
from app.graphql.extensions.work import BUDGET_REPORT, reads
from app.graphql.figures import BudgetMeasures, measures
from app.graphql.inputs import (
    CurrencyFilter,
    DateFilter,
    DecimalFilter,
    EnumFilter,
    InitiativeFilter,
    IntFilter,
    OrderDirection,
    StringFilter,
)
from app.graphql.money import Money
from app.graphql.nodes import BeneficiaryGroup, ExchangeRate, Initiative, Program
from app.graphql.reports.common import filter_limits
from app.models import BudgetStatus, TransactionType
from app.money.conversion import reciprocal
from app.reports.budget import service
from app.reports.budget.filters import BudgetScope
from app.reports.budget.repository import Dimension, RateUse


@strawberry.enum(description="What a budget summary groups by.")
class BudgetDimension(Enum):
    PROGRAM = strawberry.enum_value("program", description="The programme (pledge).")
    INITIATIVE = strawberry.enum_value("initiative", description="The initiative.")
    FOCUS_AREA = strawberry.enum_value("focus_area", description="The initiative's focus area.")
    BENEFICIARY_GROUP = strawberry.enum_value(
        "beneficiary_group",
        description="The beneficiary group: each initiative's figures are split by its "
        "beneficiary shares; what the shares leave is in a group with no beneficiary group.",
    )
    REGION = strawberry.enum_value("region", description="The initiative's region.")
    CATEGORY = strawberry.enum_value(
        "category", description="The budget category (a transaction's is its budget line's)."
    )
    TRANSACTION_TYPE = strawberry.enum_value(
        "transaction_type",
        description="The transaction type; budget lines are in the group without one.",
    )
    YEAR = strawberry.enum_value(
        "year",
        description="The calendar year of the record's date (a transaction's date; a "
        "budget's period start).",
    )
    QUARTER = strawberry.enum_value(
        "quarter", description="The calendar quarter, within its year (groups by YEAR too)."
    )
    MONTH = strawberry.enum_value(
        "month", description="The calendar month, within its year (groups by YEAR too)."
    )


@strawberry.enum(description="A figure of a budget summary group.")
class BudgetMeasure(Enum):
    BUDGET_ORIGINAL = strawberry.enum_value("budget_original", description="Original budget.")
    BUDGET_CURRENT = strawberry.enum_value("budget_current", description="Current budget.")
    COMMITTED = strawberry.enum_value("committed", description="Outgoing commitments.")
    DISBURSED = strawberry.enum_value("disbursed", description="Disbursements.")
    SPENT = strawberry.enum_value("spent", description="Expenditure.")
    VARIANCE = strawberry.enum_value("variance", description="Current budget minus spent.")
    COUNT = strawberry.enum_value("count", description="Records (budget lines + transactions).")


@strawberry.type(
    description="Which group a row of a budget summary is: the value of each "
    "dimension grouped by; null for dimensions not grouped by."
)
class BudgetGroupKey:
    _key: strawberry.Private[dict[Dimension, Any]]

    def _get(self, dim: Dimension) -> Any:
        return self._key.get(dim)

    @strawberry.field(description="The programme, when grouped by PROGRAM.")
    async def program(
        self, info: Info
    ) -> Annotated[Program, strawberry.lazy("app.graphql.programs.types")] | None:
        return await info.context.loaders.node(Program).load(self._get(Dimension.PROGRAM))

    @strawberry.field(description="The initiative, when grouped by INITIATIVE.")
    async def initiative(
        self, info: Info
    ) -> Annotated[Initiative, strawberry.lazy("app.graphql.initiatives.types")] | None:
        return await info.context.loaders.node(Initiative).load(self._get(Dimension.INITIATIVE))

    @strawberry.field(
        description="The beneficiary group, when grouped by BENEFICIARY_GROUP; null for the "
        "part of the money no beneficiary share covers."
    )
    async def beneficiary_group(
        self, info: Info
    ) -> Annotated[BeneficiaryGroup, strawberry.lazy("app.graphql.beneficiaries.groups")] | None:
        return await info.context.loaders.node(BeneficiaryGroup).load(
            self._get(Dimension.BENEFICIARY_GROUP)
        )

    @strawberry.field(description="The focus area, when grouped by FOCUS_AREA.")
    def focus_area(self) -> str | None:
        return self._get(Dimension.FOCUS_AREA)  # type: ignore[no-any-return]

    @strawberry.field(description="The region, when grouped by REGION.")
    def region(self) -> str | None:
        return self._get(Dimension.REGION)  # type: ignore[no-any-return]

    @strawberry.field(description="The budget category, when grouped by CATEGORY.")
    def category(self) -> str | None:
        return self._get(Dimension.CATEGORY)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The transaction type, when grouped by TRANSACTION_TYPE; null for budgets."
    )
    def transaction_type(self) -> TransactionType | None:
        value = self._get(Dimension.TRANSACTION_TYPE)
        return TransactionType(value) if value is not None else None

    @strawberry.field(description="The year, when grouped by YEAR, QUARTER or MONTH.")
    def year(self) -> int | None:
        return self._get(Dimension.YEAR)  # type: ignore[no-any-return]

    @strawberry.field(description="The quarter (1 to 4), when grouped by QUARTER.")
    def quarter(self) -> int | None:
        return self._get(Dimension.QUARTER)  # type: ignore[no-any-return]

    @strawberry.field(description="The month (1 to 12), when grouped by MONTH.")
    def month(self) -> int | None:
        return self._get(Dimension.MONTH)  # type: ignore[no-any-return]


def _money(summary: service.Summary, minor: int) -> Money:
    return Money(amount=summary.amount(minor), currency=summary.currency)


@strawberry.type(description="One group of a budget summary.")
class BudgetGroup:
    key: BudgetGroupKey = strawberry.field(description="Which group this is.")
    measures: BudgetMeasures = strawberry.field(description="The group's figures.")


@strawberry.type(description="An exchange rate a report converted with, and how much.")
class RateUsed:
    _rate_id: strawberry.Private[int]
    currency: str = strawberry.field(description="The currency converted from.")
    rate: Decimal = strawberry.field(
        description="1 unit of `currency` in the report currency (the reciprocal, rounded, "
        "when only the reverse rate is stored)."
    )
    rate_date: date = strawberry.field(description="The date the rate is valid from.")
    source: str = strawberry.field(description="Who states the rate.")
    inverted: bool = strawberry.field(
        description="True when the stored rate is the reverse pair; amounts were divided by it."
    )
    records: int = strawberry.field(description="How many records were converted at it.")
    original: Money = strawberry.field(description="Their sum as published.")
    converted: Money = strawberry.field(
        description="Their sum converted (each record converted and rounded, then summed)."
    )

    @strawberry.field(description="The stored rate, with its evidence.")
    async def exchange_rate(
        self, info: Info
    ) -> Annotated[ExchangeRate, strawberry.lazy("app.graphql.rates.types")] | None:
        return await info.context.loaders.node(ExchangeRate).load(self._rate_id)


@strawberry.type(
    description="Budget against execution, grouped. Reconciles: the shown `groups` plus "
    "`others` add up to `total`, and `total` is the sum over every matching record."
)
class BudgetSummary:
    _s: strawberry.Private[service.Summary]
    # A live report's snapshot or view, until its fields are resolved (HeldForEvent).
    _held: strawberry.Private[HeldForEvent | None] = None

    @strawberry.field(description="The currency of every figure (ISO 4217).")
    def currency(self) -> str:
        return self._s.currency

    @strawberry.field(
        description="The groups that pass `having`, in order, cut to `first`.",
        metadata={"list_size": "top_n"},
    )
    def groups(self) -> list[BudgetGroup]:
        return [
            BudgetGroup(
                key=BudgetGroupKey(_key=g.key), measures=measures(self._s.currency, g.measures)
            )
            for g in self._s.groups
        ]

    @strawberry.field(description="All matching records together (before `having` and `first`).")
    def total(self) -> BudgetMeasures:
        return measures(self._s.currency, self._s.total)

    @strawberry.field(
        description="The groups left out by `having` or `first`, together; zero when none is."
    )
    def others(self) -> BudgetMeasures:
        return measures(self._s.currency, self._s.others)

    @strawberry.field(description="How many groups there are before `having` and `first`.")
    def group_count(self) -> int:
        return self._s.group_count

    @strawberry.field(
        description="Every exchange rate used, per currency converted from; empty when "
        "nothing needed converting.",
        metadata={"list_size": "report"},
    )
    async def rates_used(self, info: Info) -> list[RateUsed]:
        async with info.context.reads() as session:
            uses = await service.rates_used(session, self._s)
        return [_rate_used(self._s, use) for use in uses]


def _rate_used(summary: service.Summary, use: RateUse) -> RateUsed:
    inverted = use.base != use.currency
    rate = reciprocal(use.rate) if inverted else use.rate
    return RateUsed(
        _rate_id=use.rate_id,
        currency=use.currency,
        rate=rate,
        rate_date=use.rate_date,
        source=use.source,
        inverted=inverted,
        records=use.records,
        original=Money(amount=use.original, currency=use.currency),
        converted=_money(summary, use.converted_minor),
    )


@strawberry.input(
    description="Which budget lines and transactions a summary covers. Conditions on one "
    "kind of record leave the other kind alone."
)
class BudgetSummaryFilter:
    initiative: InitiativeFilter | None = strawberry.field(
        default=None, description="Records of matching initiatives."
    )
    date: DateFilter | None = strawberry.field(
        default=None,
        description="The record's date: a transaction's date, a budget's period start.",
    )
    category: StringFilter | None = strawberry.field(
        default=None,
        description="The budget category; a transaction's is that of its budget line.",
    )
    currency: CurrencyFilter | None = strawberry.field(
        default=None, description="The currency the record is published in."
    )
    transaction_type: EnumFilter[TransactionType] | None = strawberry.field(
        default=None, description="Transactions of these types (budget lines unaffected)."
    )
    budget_status: EnumFilter[BudgetStatus] | None = strawberry.field(
        default=None, description="Budget lines of this status (transactions unaffected)."
    )


@strawberry.input(
    description="Keep only groups whose figures match; amounts in the report currency."
)
class BudgetMeasureFilter:
    budget_original: DecimalFilter | None = strawberry.field(
        default=None, description="Original budget."
    )
    budget_current: DecimalFilter | None = strawberry.field(
        default=None, description="Current budget."
    )
    committed: DecimalFilter | None = strawberry.field(default=None, description="Committed.")
    disbursed: DecimalFilter | None = strawberry.field(default=None, description="Disbursed.")
    spent: DecimalFilter | None = strawberry.field(default=None, description="Spent.")
    variance: DecimalFilter | None = strawberry.field(default=None, description="Variance.")
    count: IntFilter | None = strawberry.field(default=None, description="Record count.")


@strawberry.input(description="Order groups by a figure.")
class BudgetSummaryOrder:
    measure: BudgetMeasure = strawberry.field(description="The figure to sort by.")
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="DESC (default) puts the largest first."
    )


def _conditions(having: BudgetMeasureFilter | None) -> list[service.Condition]:
    conditions: list[service.Condition] = []
    if having is None:
        return conditions
    for measure in (str(item.value) for item in BudgetMeasure):
        operand = getattr(having, measure, None)
        if operand is None:
            continue
        for op in ("eq", "ne", "gt", "gte", "lt", "lte"):
            value = getattr(operand, op, None)
            if value is not None:
                conditions.append(service.Condition(measure, op, Decimal(value)))
        if getattr(operand, "in_", None) is not None or getattr(operand, "is_null", None):
            raise DomainError(
                f"having.{measure}: only eq, ne, gt, gte, lt and lte apply to a figure",
                code=ErrorCode.INVALID_ARGUMENT,
                field=f"having.{measure}",
            )
    return conditions


@strawberry.type
class BudgetQueries:
    @strawberry.field(
        description="Budget against commitments, disbursements and spending, grouped by the "
        "given dimensions and computed in the database. Every amount is converted into "
        "`currency` at the rate valid on its value date (a missing rate is an error), then "
        "summed; `ratesUsed` lists the rates.",
        metadata=reads(*BUDGET_REPORT),
    )
    async def budget_summary(
        self,
        info: Info,
        group_by: Annotated[
            list[BudgetDimension],
            strawberry.argument(description="Dimensions to group by; empty: one total only."),
        ],
        currency: Annotated[
            str | None,
            strawberry.argument(
                description="ISO 4217 code of the figures; default: the currency every "
                "programme is pledged in (required when they differ)."
            ),
        ] = None,
        filter: Annotated[
            BudgetSummaryFilter | None, strawberry.argument(description="Records to cover.")
        ] = None,
        having: Annotated[
            BudgetMeasureFilter | None,
            strawberry.argument(description="Keep only groups whose figures match."),
        ] = None,
        order_by: Annotated[
            list[BudgetSummaryOrder] | None,
            strawberry.argument(
                description="Order groups by figures, most significant first; default: by key."
            ),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Keep the first n groups (top N).")
        ] = None,
        as_of: AsOf = None,
    ) -> BudgetSummary:
        return await summarize(info, group_by, currency, filter, having, order_by, first)


async def summarize(
    info: Info,
    group_by: list[BudgetDimension],
    currency: str | None,
    filter: BudgetSummaryFilter | None,
    having: BudgetMeasureFilter | None,
    order_by: list[BudgetSummaryOrder] | None,
    first: int | None,
) -> BudgetSummary:
    """The budget summary, for `budgetSummary` and its live form."""
    settings = info.context.settings
    dimensions = [Dimension(str(d.value)) for d in dict.fromkeys(group_by)]
    if first is not None and first < 0:
        raise DomainError(
            "first must not be negative", code=ErrorCode.INVALID_ARGUMENT, field="first"
        )
    scope = BudgetScope.of(filter, filter_limits(info))
    order = [
        service.OrderTerm(str(o.measure.value), o.direction is OrderDirection.DESC)
        for o in order_by or ()
    ]
    async with info.context.reads() as session:
        summary = await service.budget_summary(
            session,
            dimensions=dimensions,
            scope=scope,
            currency=currency,
            having=_conditions(having),
            order=order,
            first=first,
            max_groups=settings.max_report_groups,
        )
    return BudgetSummary(_s=summary)

"""Every SQL statement of the budget reports: one GROUP BY over budget lines and
transactions, each amount converted at its own value date's rate before summing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.finance.repository import is_current_budget_line
from app.models import (
    BeneficiaryShare,
    BudgetLine,
    BudgetType,
    Initiative,
    Program,
    Transaction,
    TransactionType,
)
from app.money.sql import RateLookup, amounts_in_range

# The budget line a transaction is booked against; filters on a transaction's
# category refer to it.
TRANSACTION_LINE = aliased(BudgetLine, name="transaction_line")

BUDGET_LINE = "budget_line"
TRANSACTION = "transaction"


class Dimension(StrEnum):
    PROGRAM = "program"
    INITIATIVE = "initiative"
    FOCUS_AREA = "focus_area"
    BENEFICIARY_GROUP = "beneficiary_group"
    REGION = "region"
    CATEGORY = "category"
    TRANSACTION_TYPE = "transaction_type"
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"


# Measures summed in SQL, in the order of `GroupRow.sums`.
SUMMED = ("budget_original", "budget_current", "committed", "disbursed", "spent")
_TRANSACTION_MEASURE = {
    "committed": TransactionType.OUTGOING_COMMITMENT,
    "disbursed": TransactionType.DISBURSEMENT,
    "spent": TransactionType.EXPENDITURE,
}


@dataclass(frozen=True)
class GroupRow:
    """One group as SQL returns it: key values by dimension, sums in minor units."""

    key: dict[Dimension, Any]
    sums: dict[str, int]
    budget_lines: int
    transactions: int
    # "CUR YYYY-MM-DD" of a record that has no rate into the target currency.
    missing_rate: str | None


@dataclass(frozen=True)
class RateUse:
    rate_id: int
    currency: str
    base: str
    quote: str
    rate: Decimal
    rate_date: date
    source: str
    records: int
    original: Decimal
    converted_minor: int


def records(budget_where: ColumnElement[bool], transaction_where: ColumnElement[bool]) -> CTE:
    """Budget lines and transactions as one relation of dated, signed amounts."""
    budget = select(
        literal(BUDGET_LINE).label("kind"),
        BudgetLine.initiative_id.label("initiative_id"),
        BudgetLine.category.label("category"),
        literal(None, type_=Transaction.type.type).label("transaction_type"),
        # A budget counts in the period it starts (IATI periods span at most 12 months).
        BudgetLine.period_start.label("record_date"),
        BudgetLine.currency.label("currency"),
        BudgetLine.value_date.label("value_date"),
        BudgetLine.amount.label("amount"),
        case((BudgetLine.type == BudgetType.ORIGINAL, 1), else_=0).label("is_original"),
        case((is_current_budget_line(), 1), else_=0).label("is_current"),
        BudgetLine.status.label("budget_status"),
    ).where(budget_where)
    transaction = (
        select(
            literal(TRANSACTION),
            Transaction.initiative_id,
            TRANSACTION_LINE.category,
            Transaction.type,
            Transaction.transaction_date,
            Transaction.currency,
            Transaction.value_date,
            Transaction.amount,
            literal(0),
            literal(0),
            literal(None, type_=BudgetLine.status.type),
        )
        .outerjoin(TRANSACTION_LINE, TRANSACTION_LINE.id == Transaction.budget_line_id)
        .where(transaction_where)
    )
    return union_all(budget, transaction).cte("records")


def record_year_month(record_date: Any) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """The year and month of a record's date, as the YEAR, QUARTER and MONTH groups read it."""
    return (
        cast(extract("year", record_date), Integer),
        cast(extract("month", record_date), Integer),
    )


def dimension_columns(
    dimensions: Sequence[Dimension],
    *,
    initiative_id: Any,
    category: Any,
    transaction_type: Any,
    year: Any,
    month: Any,
) -> dict[Dimension, Any]:
    """The key column of each dimension over rows holding these columns (the records,
    or their rollups), in key order; programme, focus area and region are the
    initiative's (`Initiative` joined)."""
    columns: dict[Dimension, Any] = {}
    for dim in dimensions:
        if dim is Dimension.PROGRAM:
            columns[dim] = Initiative.program_id
        elif dim is Dimension.INITIATIVE:
            columns[dim] = initiative_id
        elif dim is Dimension.FOCUS_AREA:
            columns[dim] = Initiative.focus_area
        elif dim is Dimension.REGION:
            columns[dim] = Initiative.region
        elif dim is Dimension.CATEGORY:
            columns[dim] = category
        elif dim is Dimension.TRANSACTION_TYPE:
            columns[dim] = transaction_type
        elif dim is Dimension.YEAR:
            columns[dim] = year
        elif dim is Dimension.QUARTER:
            columns[Dimension.YEAR] = year
            columns[dim] = (month + 2) // 3
        elif dim is Dimension.MONTH:
            columns[Dimension.YEAR] = year
            columns[dim] = month
        else:  # BENEFICIARY_GROUP: shares are per initiative, split by the service
            columns[Dimension.INITIATIVE] = initiative_id
    return columns


def _dimension_columns(rec: CTE, dimensions: Sequence[Dimension]) -> dict[Dimension, Any]:
    year, month = record_year_month(rec.c.record_date)
    return dimension_columns(
        dimensions,
        initiative_id=rec.c.initiative_id,
        category=rec.c.category,
        transaction_type=rec.c.transaction_type,
        year=year,
        month=month,
    )


def summary_statement(
    *,
    dimensions: Sequence[Dimension],
    budget_where: ColumnElement[bool],
    transaction_where: ColumnElement[bool],
    target: str,
    minor_units: int,
) -> tuple[Select[Any], list[Dimension]]:
    """The GROUP BY of sums per group in `target` minor units, and the dimensions of its
    key columns (`d_<dimension>`), in order."""
    rec = records(budget_where, transaction_where)
    conv = RateLookup(rec, rec.c.amount, rec.c.currency, rec.c.value_date, target)
    amount = conv.converted(minor_units)
    columns = _dimension_columns(rec, dimensions)
    is_budget = rec.c.kind == BUDGET_LINE
    sums = measure_conditions(
        is_budget, rec.c.is_original, rec.c.is_current, rec.c.transaction_type
    )
    dims = list(columns.items())
    stmt = (
        select(
            *(col.label(f"d_{dim.value}") for dim, col in dims),
            *(
                func.coalesce(func.sum(case((cond, amount), else_=0)), 0).label(name)
                for name, cond in sums.items()
            ),
            func.coalesce(func.sum(case((is_budget, 1), else_=0)), 0).label("n_lines"),
            func.coalesce(func.sum(case((is_budget, 0), else_=1)), 0).label("n_transactions"),
            conv.missing().label("missing_rate"),
        )
        .select_from(conv.join(rec).join(Initiative, Initiative.id == rec.c.initiative_id))
        .group_by(*(col for _, col in dims))
        .order_by(*(col for _, col in dims))
    )
    return stmt, [dim for dim, _ in dims]


def measure_conditions(
    is_budget: ColumnElement[bool], is_original: Any, is_current: Any, transaction_type: Any
) -> dict[str, ColumnElement[bool]]:
    """Which rows each measure of `SUMMED` adds up (records, or their rollups)."""
    return {
        "budget_original": and_(is_budget, is_original == 1),
        "budget_current": and_(is_budget, is_current == 1),
        **{
            name: and_(~is_budget, transaction_type == kind)
            for name, kind in _TRANSACTION_MEASURE.items()
        },
    }


async def summarize(
    session: AsyncSession,
    *,
    dimensions: Sequence[Dimension],
    budget_where: ColumnElement[bool],
    transaction_where: ColumnElement[bool],
    target: str,
    minor_units: int,
    limit: int,
) -> list[GroupRow]:
    """Sums per group, in `target` minor units; at most `limit` groups."""
    stmt, keys = summary_statement(
        dimensions=dimensions,
        budget_where=budget_where,
        transaction_where=transaction_where,
        target=target,
        minor_units=minor_units,
    )
    return await group_rows(session, stmt.limit(limit), keys)


async def summarize_owners(
    session: AsyncSession,
    owner: Dimension,
    ids: Sequence[int],
    *,
    target: str,
    minor_units: int,
    transactions: bool,
) -> list[GroupRow]:
    """`summarize` grouped by programme or initiative, for the records of `ids` (only
    their budget lines unless `transactions`). Programme and initiative figures are
    asked for in most requests, so the statement is built once per owner kind, currency
    and kind of records, the ids its parameter: building it costs more than running it
    on a few hundred records."""
    stmt, keys = _owner_statement(owner, target, minor_units, transactions)
    return await group_rows(session, stmt, keys, {OWNER_IDS: list(ids)})


OWNER_IDS = "owner_ids"


@lru_cache(maxsize=256)
def _owner_statement(
    owner: Dimension, target: str, minor_units: int, transactions: bool
) -> tuple[Select[Any], list[Dimension]]:
    budget_where, transaction_where = records_of(owner, bindparam(OWNER_IDS, expanding=True))
    return summary_statement(
        dimensions=[owner],
        budget_where=budget_where,
        transaction_where=transaction_where if transactions else false(),
        target=target,
        minor_units=minor_units,
    )


async def group_rows(
    session: AsyncSession,
    stmt: Select[Any],
    keys: list[Dimension],
    params: dict[str, Any] | None = None,
) -> list[GroupRow]:
    with amounts_in_range():
        result = (await session.execute(stmt, params)).all()
    rows = []
    for row in result:
        values = row._mapping
        rows.append(
            GroupRow(
                key={dim: values[f"d_{dim.value}"] for dim in keys},
                sums={name: int(values[name]) for name in SUMMED},
                budget_lines=int(values["n_lines"]),
                transactions=int(values["n_transactions"]),
                missing_rate=values["missing_rate"],
            )
        )
    return rows


async def rates_used(
    session: AsyncSession,
    *,
    budget_where: ColumnElement[bool],
    transaction_where: ColumnElement[bool],
    target: str,
    minor_units: int,
) -> list[RateUse]:
    """Each rate the report converted with: how many records, how much, into what."""
    rec = records(budget_where, transaction_where)
    conv = RateLookup(rec, rec.c.amount, rec.c.currency, rec.c.value_date, target)
    rate = conv.rate
    stmt = (
        select(
            rate.id,
            rec.c.currency,
            rate.base,
            rate.quote,
            rate.rate,
            rate.rate_date,
            rate.source,
            func.count(),
            func.sum(rec.c.amount),
            func.sum(conv.converted(minor_units)),
        )
        .select_from(conv.join(rec))
        .where(rec.c.currency != target, rate.id.is_not(None))
        .group_by(
            rate.id, rec.c.currency, rate.base, rate.quote, rate.rate, rate.rate_date, rate.source
        )
        .order_by(rec.c.currency, rate.rate_date, rate.id)
    )
    with amounts_in_range():
        result = (await session.execute(stmt)).all()
    return [
        RateUse(
            rate_id=row[0],
            currency=row[1],
            base=row[2],
            quote=row[3],
            rate=row[4],
            rate_date=row[5],
            source=row[6],
            records=int(row[7]),
            original=row[8],
            converted_minor=int(row[9]),
        )
        for row in result
    ]


def records_of(
    owner: Dimension, ids: Sequence[int] | BindParameter[Any]
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Conditions selecting the budget lines and transactions of these programmes or
    initiatives (ids, or an expanding parameter that will hold them)."""
    if owner is Dimension.PROGRAM:
        initiatives: Any = select(Initiative.id).where(Initiative.program_id.in_(ids))
    else:
        initiatives = ids
    return BudgetLine.initiative_id.in_(initiatives), Transaction.initiative_id.in_(initiatives)


async def pledge_currencies(session: AsyncSession) -> list[str]:
    """The distinct currencies programmes are pledged in."""
    stmt = select(Program.pledged_currency).distinct().order_by(Program.pledged_currency)
    return list((await session.scalars(stmt)).all())


async def program_currencies(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> dict[int, str]:
    stmt = (
        select(Initiative.id, Program.pledged_currency)
        .join(Program, Program.id == Initiative.program_id)
        .where(Initiative.id.in_(initiative_ids))
    )
    return {row[0]: row[1] for row in (await session.execute(stmt)).all()}


async def shares_by_initiative(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> dict[int, list[tuple[int, Decimal]]]:
    """Beneficiary shares (group id, percentage) of each initiative, by group id."""
    stmt = (
        select(
            BeneficiaryShare.initiative_id, BeneficiaryShare.group_id, BeneficiaryShare.percentage
        )
        .where(BeneficiaryShare.initiative_id.in_(initiative_ids))
        .order_by(BeneficiaryShare.initiative_id, BeneficiaryShare.group_id)
    )
    shares: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for initiative_id, group_id, percentage in (await session.execute(stmt)).all():
        shares[initiative_id].append((group_id, percentage))
    return shares

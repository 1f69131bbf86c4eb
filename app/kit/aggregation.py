"""Aggregates over a filtered list in SQL: count, sum, min, max (avg from sum/count).

Like pagination, one statement serves every parent of a nested list (GROUP BY the
parent key). Amounts are summed in their own currency when the list holds one; with
a converter every amount is first converted at its value date's rate (the caller hands
in app/money/sql.py's), so amounts of different currencies are never added unconverted.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import CTE, ColumnElement, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import RateNotFound


@dataclass(frozen=True)
class Amount:
    """A money column with its currency and value date columns."""

    amount: Any
    currency: Any
    value_date: Any


@dataclass(frozen=True)
class Number:
    """An exact decimal or integer column."""

    column: Any


@dataclass(frozen=True)
class Day:
    """A date column: min and max only."""

    column: Any


Measure = Amount | Number | Day


class RateJoin(Protocol):
    """A CTE's rows joined to the rates that convert their amounts."""

    def join(self, from_: Any) -> Any:
        """`from_` joined to each row's rate."""

    def converted(self, minor_units: int) -> ColumnElement[int]:
        """Each row's amount in the target currency's minor units."""

    def missing(self) -> ColumnElement[str | None]:
        """An aggregate: "CUR YYYY-MM-DD" of a row no rate converts, else NULL."""


class Converter(Protocol):
    """Converts amounts into one currency inside the statement (app/money/sql.py's
    `IntoCurrency`: the one rule of conversion, which this module does not know)."""

    @property
    def target(self) -> str: ...

    @property
    def minor_units(self) -> int: ...

    def rates(
        self,
        rows: CTE,
        amount: ColumnElement[Any],
        currency: ColumnElement[str],
        value_date: ColumnElement[date],
    ) -> RateJoin: ...


@dataclass
class Aggregate:
    """One parent's aggregates. Money sums are minor units when converted."""

    count: int = 0
    sums: dict[str, Any] = field(default_factory=dict)
    mins: dict[str, Any] = field(default_factory=dict)
    maxs: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # Unconverted money: the one currency of the measure's rows, or None; and when the
    # rows have several, two of them (their sums need a target currency).
    currency: dict[str, str | None] = field(default_factory=dict)
    mixed: dict[str, tuple[str, str] | None] = field(default_factory=dict)


async def fetch_aggregates(
    session: AsyncSession,
    *,
    entity: Any,
    where: ColumnElement[bool],
    measures: Mapping[str, Measure],
    parent: Any | None = None,
    parent_keys: Sequence[Hashable] = (None,),
    join: tuple[Any, Any] | None = None,
    convert: Converter | None = None,
) -> dict[Hashable, Aggregate]:
    """Aggregates of every parent in `parent_keys` (or of the whole list); with `convert`,
    of the amounts converted into its currency (in its minor units). A sum beyond what the
    database holds fails there: the caller turns that into its own error."""
    parent_col = parent if parent is not None else literal(None)
    columns: list[Any] = [parent_col.label("_parent")]
    for name, measure in measures.items():
        if isinstance(measure, Amount):
            columns += [
                measure.amount.label(f"{name}__amount"),
                measure.currency.label(f"{name}__currency"),
                measure.value_date.label(f"{name}__date"),
            ]
        else:
            columns.append(measure.column.label(name))
    source: Select[Any] = select(*columns).select_from(entity).where(where)
    if join is not None:
        source = source.join(*join)
    if parent is not None:
        source = source.where(parent.in_(list(parent_keys)))
    rows = source.cte("aggregated_rows")
    out: list[Any] = [rows.c["_parent"], func.count().label("_count")]
    from_: Any = rows
    missing: list[Any] = []
    for name, measure in measures.items():
        if isinstance(measure, Amount):
            amount = rows.c[f"{name}__amount"]
            currency = rows.c[f"{name}__currency"]
            if convert is not None:
                lookup = convert.rates(rows, amount, currency, rows.c[f"{name}__date"])
                from_ = lookup.join(from_)
                value = lookup.converted(convert.minor_units)
                missing.append(lookup.missing().label(f"{name}__missing"))
            else:
                value = amount
                out += [
                    func.count(func.distinct(currency)).label(f"{name}__ncur"),
                    func.min(currency).label(f"{name}__mincur"),
                    func.max(currency).label(f"{name}__maxcur"),
                ]
        else:
            value = rows.c[name]
        out.append(func.count(value).label(f"{name}__count"))
        if not isinstance(measure, Day):
            out.append(func.sum(value).label(f"{name}__sum"))
        out += [func.min(value).label(f"{name}__min"), func.max(value).label(f"{name}__max")]
    stmt = select(*out, *missing).select_from(from_).group_by(rows.c["_parent"])
    found: dict[Hashable, Aggregate] = {key: Aggregate() for key in parent_keys}
    fetched = (await session.execute(stmt)).all()
    for row in fetched:
        values = row._mapping
        for name in measures:
            gap = values.get(f"{name}__missing")
            if gap:
                currency, on = gap.split(" ", 1)
                assert convert is not None  # only a conversion looks rates up
                raise RateNotFound(
                    f"no exchange rate {currency}→{convert.target} valid on {on}",
                    details={"base": currency, "quote": convert.target, "date": on},
                )
        key = values["_parent"] if parent is not None else None
        result = found[key]
        result.count = int(values["_count"])
        for name, measure in measures.items():
            result.counts[name] = int(values[f"{name}__count"])
            if not isinstance(measure, Day):
                result.sums[name] = values[f"{name}__sum"]
            result.mins[name] = values[f"{name}__min"]
            result.maxs[name] = values[f"{name}__max"]
            if isinstance(measure, Amount) and convert is None:
                low, high = values[f"{name}__mincur"], values[f"{name}__maxcur"]
                several = int(values[f"{name}__ncur"]) > 1
                result.currency[name] = None if several else low
                result.mixed[name] = (low, high) if several else None
    return found


def average(total: Decimal | int | None, count: int, places: int) -> Decimal | None:
    """total / count rounded half-even to `places` decimals; None over no values."""
    if total is None or count == 0:
        return None
    return (Decimal(total) / count).quantize(Decimal(1).scaleb(-places))

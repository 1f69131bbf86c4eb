"""Budget summary rules: the report currency, beneficiary splits, having, order, top N.

SQL sums every group: from the rollups when they can answer (a live request, a
currency kept, no date filter: app/reports/budget/rollups.py), else from the records
(see the repository), the same sums either way; what happens here works on those sums
only: splitting an initiative's figures across its beneficiary groups, filtering
groups by a measure, ordering them and cutting the list, while `total` and `others`
keep the report reconciled (the shown groups plus `others` equal `total`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, RateNotFound
from app.money.currencies import from_minor_units, minor_units, parse_currency
from app.reports.budget import repository, rollups
from app.reports.budget.filters import BudgetScope
from app.reports.budget.repository import SUMMED, Dimension, GroupRow, RateUse

# The currency code for "no currency involved" (ISO 4217), for a report over nothing.
NO_CURRENCY = "XXX"


@dataclass(frozen=True)
class Measures:
    """A group's figures in minor units of the report currency, and record counts."""

    budget_original: int = 0
    budget_current: int = 0
    committed: int = 0
    disbursed: int = 0
    spent: int = 0
    budget_lines: int = 0
    transactions: int = 0

    @property
    def variance(self) -> int:
        """Current budget minus spent."""
        return self.budget_current - self.spent

    @property
    def count(self) -> int:
        return self.budget_lines + self.transactions

    def __add__(self, other: Measures) -> Measures:
        return Measures(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))

    def value(self, measure: str) -> int:
        return int(getattr(self, measure))


_FIELDS = (*SUMMED, "budget_lines", "transactions")
MONEY_MEASURES = (*SUMMED, "variance")


@dataclass(frozen=True)
class Group:
    key: dict[Dimension, Any]
    measures: Measures


@dataclass(frozen=True)
class Condition:
    """`measure op value`; money values are in the report currency's major unit."""

    measure: str
    op: str
    value: Decimal


@dataclass(frozen=True)
class OrderTerm:
    measure: str
    descending: bool = False


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@dataclass
class Summary:
    currency: str
    minor_units: int
    groups: list[Group]
    total: Measures
    others: Measures
    group_count: int
    # For `rates_used`: the records summed, so the same records are read again, only
    # when the rates are asked for.
    scope: BudgetScope | None = field(repr=False, default=None)

    def amount(self, minor: int) -> Decimal:
        return from_minor_units(minor, self.currency)


async def report_currency(session: AsyncSession, currency: str | None) -> str:
    """The asked-for currency, else the one currency every programme is pledged in."""
    if currency is not None:
        return parse_currency(currency, field="currency")
    pledged = await repository.pledge_currencies(session)
    if len(pledged) > 1:
        raise DomainError(
            "programmes are pledged in several currencies "
            f"({', '.join(pledged)}): pass `currency` to convert them into one",
            code=ErrorCode.CURRENCY_REQUIRED,
            field="currency",
            details={"currencies": pledged},
        )
    return pledged[0] if pledged else NO_CURRENCY


async def budget_summary(
    session: AsyncSession,
    *,
    dimensions: Sequence[Dimension],
    scope: BudgetScope,
    currency: str | None,
    having: Sequence[Condition] = (),
    order: Sequence[OrderTerm] = (),
    first: int | None = None,
    max_groups: int,
) -> Summary:
    target = await report_currency(session, currency)
    units = minor_units(target)
    rows = None
    if scope.rollups is not None:
        rows = await rollups.summarize_if_readable(
            session,
            dimensions=dimensions,
            where=scope.rollups,
            target=target,
            limit=max_groups + 1,
        )
    if rows is None:
        rows = await repository.summarize(
            session,
            dimensions=dimensions,
            budget_where=scope.budget_lines,
            transaction_where=scope.transactions,
            target=target,
            minor_units=units,
            limit=max_groups + 1,
        )
    # SQL stopped after max_groups + 1 rows: more means the rows are incomplete (with
    # BENEFICIARY_GROUP they are per initiative, and fewer groups could hide that).
    _raise_too_large(len(rows), max_groups)
    _raise_missing_rate(rows, target)
    total = sum((_measures(row) for row in rows), Measures())
    if Dimension.BENEFICIARY_GROUP in dimensions:
        groups = await _split_by_beneficiary_group(session, rows, dimensions)
    else:
        groups = [Group(row.key, _measures(row)) for row in rows]
    _raise_too_large(len(groups), max_groups)
    unit = Decimal(1).scaleb(-units)
    kept = [g for g in groups if all(_holds(g.measures, c, unit) for c in having)]
    for term in reversed(order):
        # Stable sorts, least significant key first; ties keep the key order.
        kept.sort(key=_by_measure(term.measure), reverse=term.descending)
    shown = kept if first is None else kept[:first]
    shown_total = sum((g.measures for g in shown), Measures())
    others = _difference(total, shown_total)
    return Summary(
        currency=target,
        minor_units=units,
        groups=shown,
        total=total,
        others=others,
        group_count=len(groups),
        scope=scope,
    )


async def figures_by_owner(
    session: AsyncSession,
    owner: Dimension,
    ids: Sequence[int],
    currency: str,
    *,
    transactions: bool = True,
) -> dict[int, Measures]:
    """The figures of each programme or initiative, in `currency` (zero without records).

    `transactions=False` reads the budget lines alone: the budget figures are the same,
    the transaction figures zero, and a programme with a million transactions answers
    its budget at the cost of its budget lines."""
    rows = await rollups.summarize_if_readable(
        session,
        dimensions=[owner],
        where=rollups.owners_condition(owner, ids, transactions=transactions),
        target=currency,
    )
    if rows is None:
        rows = await repository.summarize_owners(
            session,
            owner,
            ids,
            target=currency,
            minor_units=minor_units(currency),
            transactions=transactions,
        )
    _raise_missing_rate(rows, currency)
    found = {row.key[owner]: _measures(row) for row in rows}
    return {owner_id: found.get(owner_id, Measures()) for owner_id in ids}


async def current_budgets(
    session: AsyncSession, owner: Dimension, ids: Sequence[int], currency: str
) -> dict[int, Decimal]:
    """The current budget of each programme or initiative in `currency`: the
    `budgetCurrent` of its figures, which every field, report and check shows
    (`allocated`, `budget`, the pledge check). RATE_NOT_FOUND when a line has no rate."""
    figures = await figures_by_owner(session, owner, ids, currency, transactions=False)
    return {i: from_minor_units(m.budget_current, currency) for i, m in figures.items()}


async def rates_used(session: AsyncSession, summary: Summary) -> list[RateUse]:
    assert summary.scope is not None, "a summary built by budget_summary"
    return await repository.rates_used(
        session,
        budget_where=summary.scope.budget_lines,
        transaction_where=summary.scope.transactions,
        target=summary.currency,
        minor_units=summary.minor_units,
    )


def _by_measure(measure: str) -> Callable[[Group], int]:
    return lambda group: group.measures.value(measure)


def _measures(row: GroupRow) -> Measures:
    return Measures(**row.sums, budget_lines=row.budget_lines, transactions=row.transactions)


def _difference(a: Measures, b: Measures) -> Measures:
    return Measures(*(getattr(a, f) - getattr(b, f) for f in _FIELDS))


def _holds(measures: Measures, condition: Condition, unit: Decimal) -> bool:
    value = measures.value(condition.measure)
    if condition.measure in MONEY_MEASURES:
        return _OPS[condition.op](Decimal(value) * unit, condition.value)
    return _OPS[condition.op](Decimal(value), condition.value)


def _raise_too_large(count: int, max_groups: int) -> None:
    if count > max_groups:
        raise DomainError(
            f"the report has more than {max_groups} groups: group by fewer dimensions "
            "or filter the records",
            code=ErrorCode.REPORT_TOO_LARGE,
            field="groupBy",
            details={"maxGroups": max_groups},
        )


def _raise_missing_rate(rows: Sequence[GroupRow], target: str) -> None:
    missing = sorted(row.missing_rate for row in rows if row.missing_rate)
    if missing:
        currency, on = missing[0].split(" ", 1)
        raise RateNotFound(
            f"no exchange rate {currency}→{target} valid on {on}: store one dated on or "
            "before it (either direction) to convert these records",
            details={"base": currency, "quote": target, "date": on},
        )


async def _split_by_beneficiary_group(
    session: AsyncSession, rows: Sequence[GroupRow], dimensions: Sequence[Dimension]
) -> list[Group]:
    """Split each initiative's sums across its beneficiary groups by their shares.

    Largest remainder: every part is rounded down to the minor unit and the units left
    over go to the largest fractions, so the parts add up exactly to the whole. What
    the shares leave (they sum to less than 100) stays in a group without beneficiary
    group (key null).
    """
    shares = await repository.shares_by_initiative(
        session, sorted({row.key[Dimension.INITIATIVE] for row in rows})
    )
    keep_initiative = Dimension.INITIATIVE in dimensions
    merged: dict[tuple[Any, ...], Measures] = {}
    keys: dict[tuple[Any, ...], dict[Dimension, Any]] = {}
    for row in rows:
        initiative_id = row.key[Dimension.INITIATIVE]
        weights = _weights(shares.get(initiative_id, []))
        parts: dict[int | None, dict[str, int]] = {g: {} for g, _ in weights}
        for name in SUMMED:
            for group_id, amount in zip(
                [g for g, _ in weights], _largest_remainder(row.sums[name], weights), strict=True
            ):
                parts[group_id][name] = amount
        for group_id, sums in parts.items():
            key = {d: v for d, v in row.key.items() if keep_initiative or d != Dimension.INITIATIVE}
            key[Dimension.BENEFICIARY_GROUP] = group_id
            # A group's counts are the records of the initiatives it has a share of.
            measures = Measures(
                **sums, budget_lines=row.budget_lines, transactions=row.transactions
            )
            ident = tuple(key.get(d) for d in _ordered(dimensions))
            merged[ident] = merged[ident] + measures if ident in merged else measures
            keys[ident] = key
    return [
        Group(keys[ident], merged[ident])
        for ident in sorted(merged, key=lambda k: [(v is None, v) for v in k])
    ]


def _ordered(dimensions: Sequence[Dimension]) -> list[Dimension]:
    out = list(dimensions)
    if Dimension.QUARTER in out or Dimension.MONTH in out:
        out.insert(0, Dimension.YEAR)
    return out


def _weights(shares: Sequence[tuple[int, Decimal]]) -> list[tuple[int | None, Fraction]]:
    """Each group's fraction of the whole; the part no share covers goes to None."""
    total = sum((Fraction(p) for _, p in shares), Fraction(0))
    whole = max(total, Fraction(100))  # shares over 100 in all are scaled down
    weights: list[tuple[int | None, Fraction]] = [(g, Fraction(p) / whole) for g, p in shares]
    rest = 1 - total / whole
    if rest > 0:
        weights.append((None, rest))
    return weights


def _largest_remainder(amount: int, weights: Sequence[tuple[int | None, Fraction]]) -> list[int]:
    exact = [amount * w for _, w in weights]
    parts = [floor(x) for x in exact]
    left = amount - sum(parts)
    by_fraction = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_fraction[:left]:
        parts[i] += 1
    return parts

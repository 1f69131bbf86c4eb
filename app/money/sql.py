"""Currency conversion inside SQL: which rate converts an amount, and the exact, rounded
result. The one rule of conversion (see `conversion`), for reports and single amounts.

Reports convert every amount at the rate valid on its own value date and round it to
the target's minor unit (half-even) before anything is summed, so a converted total
is the sum of the converted records, whatever the grouping. The result of
`converted_minor_units` is an integer count of the target's minor units (cents).

PostgreSQL computes it with NUMERIC integer arithmetic. SQLite stores amounts and
rates as scaled 64-bit integers (see `ExactDecimal`) whose product can overflow, so
there the same function runs in Python, registered on each connection; it also converts
the single amounts the API shows (`conversion.converted`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import GenericFunction

from app.db.session import SqliteFunction
from app.errors import DomainError, ErrorCode
from app.models import ExchangeRate
from app.models._columns import AMOUNT, RATE

SQLITE_CONVERT = "pl_convert_minor"
AMOUNT_SCALE = AMOUNT.scale
RATE_SCALE = RATE.scale


def half_even_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-even to an integer (denominator > 0)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def convert_scaled(amount: int, rate: int | None, inverted: int | bool, minor_units: int) -> int:
    """The converted amount in target minor units, from scaled integers.

    `amount` counts 10**-AMOUNT_SCALE units and `rate` 10**-RATE_SCALE units (as SQLite
    stores them); `rate` None means the same currency. An inverted rate is the stored
    quote→base rate, divided by rather than multiplied with.
    """
    if rate is None:
        numerator, denominator = amount * 10**minor_units, 10**AMOUNT_SCALE
    elif inverted:
        numerator = amount * 10 ** (RATE_SCALE + minor_units)
        denominator = rate * 10**AMOUNT_SCALE
    else:
        numerator = amount * rate * 10**minor_units
        denominator = 10 ** (AMOUNT_SCALE + RATE_SCALE)
    return half_even_div(numerator, denominator)


# Converted amounts are 64-bit integers of minor units in SQL, on both backends.
MAX_MINOR_UNITS = 2**63 - 1


def sqlite_convert(
    amount: int | None, rate: int | None, inverted: int | None, minor_units: int
) -> int | None:
    """The SQLite function: NULL in, NULL out; a result beyond 64 bits is an error."""
    if amount is None:
        return None
    result = convert_scaled(amount, rate, bool(inverted), minor_units)
    if abs(result) > MAX_MINOR_UNITS:
        raise ValueError(OUT_OF_RANGE)  # SQLite reports it as a failed function
    return result


OUT_OF_RANGE = "converted amount out of range"
# What every SQLite connection needs to run this module's SQL (app/engines.py).
SQLITE_FUNCTIONS = (SqliteFunction(SQLITE_CONVERT, 4, sqlite_convert),)


@contextmanager
def amounts_in_range() -> Iterator[None]:
    """Turns the database's overflow of a converted amount or of a sum of them (64-bit
    integers of minor units) into a typed error instead of an unexpected failure."""
    try:
        yield
    except DBAPIError as exc:
        text = str(exc.orig).lower()
        overflow = ("out of range", "integer overflow", "user-defined function raised")
        if not any(sign in text for sign in overflow):
            raise
        raise DomainError(
            "a converted amount or a sum of them exceeds what a report can hold "
            f"({MAX_MINOR_UNITS} minor units of the currency): filter the records or report "
            "in a currency with larger units",
            code=ErrorCode.AMOUNT_OUT_OF_RANGE,
            field="currency",
        ) from None


class converted_minor_units(GenericFunction[int]):
    """converted_minor_units(amount, rate, inverted, minor_units): see the module doc.

    `rate` NULL means no conversion (same currency); `minor_units` is an integer written
    into the SQL text (see `convert_expr`).
    """

    type = BigInteger()
    inherit_cache = True


@compiles(converted_minor_units, "sqlite")
def _convert_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    amount, rate, _inverted, minor = (compiler.process(c, **kw) for c in element.clauses)
    call = f"{SQLITE_CONVERT}({compiler.process(element.clauses, **kw)})"
    # The common case, no conversion (same currency), without a call into Python per
    # row: the stored integer itself, scaled by SQLite's integer arithmetic, where that
    # is exact. Otherwise the call rounds, or refuses a result beyond 64 bits (SQLite
    # would turn an overflowing product into a float).
    m = int(minor)
    if m < AMOUNT_SCALE:  # cents from thousandths: exact when the last digit is 0
        divisor = 10 ** (AMOUNT_SCALE - m)
        exact = f"({rate}) IS NULL AND ({amount}) % {divisor} = 0"
        scaled = f"({amount}) / {divisor}"
    elif m == AMOUNT_SCALE:
        exact, scaled = f"({rate}) IS NULL", f"({amount})"
    else:  # CLF's ten-thousandths: within 64 bits
        factor = 10 ** (m - AMOUNT_SCALE)
        exact = f"({rate}) IS NULL AND abs({amount}) <= {MAX_MINOR_UNITS // factor}"
        scaled = f"({amount}) * {factor}"
    return f"(CASE WHEN {exact} THEN {scaled} ELSE {call} END)"


@compiles(converted_minor_units)
def _convert_numeric(element: Any, compiler: Any, **kw: Any) -> str:
    amount, rate, inverted, minor = (compiler.process(c, **kw) for c in element.clauses)
    m = int(minor)
    a = f"(({amount}) * {10**AMOUNT_SCALE})"  # exact integer: amounts have AMOUNT_SCALE places
    r = f"(({rate}) * {10**RATE_SCALE})"
    if m >= AMOUNT_SCALE:  # exact: no rounding needed, and much cheaper per row
        same = f"(({amount}) * {10**m})::bigint"
    else:
        # Cents from thousandths: the amount itself where its last digits are 0 (every
        # amount in a currency of m minor units), rounded half-even only otherwise.
        same = (
            f"(CASE WHEN ({amount}) = trunc(({amount}), {m}) "
            f"THEN (({amount}) * {10**m})::bigint "
            f"ELSE {_half_even(f'({a} * {10**m})', str(10**AMOUNT_SCALE))} END)"
        )
    direct = _half_even(f"({a} * {r} * {10**m})", str(10 ** (AMOUNT_SCALE + RATE_SCALE)))
    reverse = _half_even(f"({a} * {10 ** (RATE_SCALE + m)})", f"({r} * {10**AMOUNT_SCALE})")
    return (
        f"(CASE WHEN ({rate}) IS NULL THEN {same} "
        f"WHEN ({inverted}) THEN {reverse} ELSE {direct} END)"
    )


def _half_even(numerator: str, denominator: str) -> str:
    """NUMERIC SQL for numerator / denominator rounded half-even (denominator > 0)."""
    q = f"div(abs({numerator}), {denominator})"
    r = f"mod(abs({numerator}), {denominator})"
    up = (
        f"CASE WHEN 2 * {r} > {denominator} OR (2 * {r} = {denominator} AND mod({q}, 2) = 1) "
        "THEN 1 ELSE 0 END"
    )
    return f"(sign({numerator}) * ({q} + {up}))::bigint"


def convert_expr(
    amount: ColumnElement[Any],
    rate: ColumnElement[Any],
    inverted: ColumnElement[Any],
    minor_units: int,
) -> ColumnElement[int]:
    # A literal column, not a bound parameter: the NUMERIC SQL bakes 10**minor_units into
    # its text, so the value must be part of the statement cache key (a parameter's value
    # is not, and a JPY report then reused the SQL compiled for a report in cents).
    minor = literal_column(str(int(minor_units)), Integer())
    return converted_minor_units(amount, rate, inverted, minor)


def applicable_rate_id(
    currency: ColumnElement[str], on: ColumnElement[date], target: str
) -> Select[Any]:
    """A scalar subquery: the id of the rate that converts `currency` into `target` on
    `on` — the newest of the pair in either direction dated on or before it; on the
    same date the direct rate wins. The only place that rule is written."""
    rate = ExchangeRate
    return (
        select(rate.id)
        .where(
            or_(
                and_(rate.base == currency, rate.quote == target),
                and_(rate.base == target, rate.quote == currency),
            ),
            rate.rate_date <= on,
        )
        # The direct rate (quote = target) first; no outer column here, which SQLite
        # would not resolve inside ORDER BY of a correlated subquery.
        .order_by(rate.rate_date.desc(), case((rate.quote == target, 0), else_=1))
        .limit(1)
    )


class RateLookup:
    """Joins the rows of a CTE to the rate that converts each into `target`.

    The rate is looked up once per distinct (currency, value date) of the rows, not
    once per row; rows already in `target` need none.
    """

    def __init__(
        self,
        rows: CTE,
        amount: ColumnElement[Any],
        currency: ColumnElement[str],
        value_date: ColumnElement[date],
        target: str,
    ) -> None:
        keys = (
            select(currency.label("currency"), value_date.label("value_date"))
            .where(currency != target)
            .distinct()
            .cte(f"{rows.name}_rate_keys")
        )
        # MATERIALIZED: SQLite would otherwise fold this into the join and run the
        # lookup once per row (a 100k-row report went from 7 s to well under 1 s).
        self.picked = (
            select(
                keys.c.currency,
                keys.c.value_date,
                applicable_rate_id(keys.c.currency, keys.c.value_date, target)
                .scalar_subquery()
                .label("rate_id"),
            )
            .cte(f"{rows.name}_rates")
            .prefix_with("MATERIALIZED")
        )
        self.rate = aliased(ExchangeRate, name=f"{rows.name}_rate")
        self.amount, self.currency, self.value_date = amount, currency, value_date
        self.target = target

    def join(self, from_: Any) -> Any:
        picked = self.picked
        return from_.outerjoin(
            picked,
            and_(picked.c.currency == self.currency, picked.c.value_date == self.value_date),
        ).outerjoin(self.rate, self.rate.id == picked.c.rate_id)

    def converted(self, minor_units: int) -> ColumnElement[int]:
        """Each row's amount in `target` minor units (see `convert_expr`)."""
        return convert_expr(
            self.amount,
            case((self.currency == self.target, None), else_=self.rate.rate),
            self.rate.base != self.currency,
            minor_units,
        )

    def missing(self) -> ColumnElement[str | None]:
        """An aggregate: "CUR YYYY-MM-DD" of a row no rate converts, else NULL."""
        return func.min(
            case(
                (
                    and_(self.currency != self.target, self.picked.c.rate_id.is_(None)),
                    self.currency + " " + cast(self.value_date, String),
                )
            )
        )


@dataclass(frozen=True)
class IntoCurrency:
    """Amounts converted into `target` (in its `minor_units`) inside a statement: the
    converter aggregates over many rows are handed (app/kit/aggregation.py)."""

    target: str
    minor_units: int

    def rates(
        self,
        rows: CTE,
        amount: ColumnElement[Any],
        currency: ColumnElement[str],
        value_date: ColumnElement[date],
    ) -> RateLookup:
        return RateLookup(rows, amount, currency, value_date, self.target)

"""Column types that keep money exact and time in UTC on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Dialect,
    Numeric,
    Text,
    case,
    cast,
    func,
    literal_column,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.db.functions import by_dialect


class ExactDecimal(TypeDecorator[Decimal]):
    """A fixed-point decimal that stays exact in SQL arithmetic.

    PostgreSQL stores it as NUMERIC(precision, scale). SQLite has no exact decimal
    type (NUMERIC there degrades to a binary float, and SUM drifts), so on SQLite the
    value is stored as a 64-bit integer count of 10**-scale units: SUM, MIN, MAX and
    comparisons stay exact, and reads turn the integer back into a Decimal.

    Both backends refuse the same values: more decimals than `scale`, or more digits
    than `precision` (at most 18, so that every value fits SQLite's 64-bit integers).
    Caveats on SQLite: AVG() needs `type_coerce(..., ExactDecimal)` to be read back
    scaled; and a change of `scale` is invisible to autogenerate (the column stays
    BIGINT), so it needs a hand-written migration that rescales the stored integers.
    """

    impl = Numeric
    cache_ok = True
    MAX_PRECISION = 18

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        if not 0 <= scale <= precision <= self.MAX_PRECISION:
            raise ValueError(f"need 0 <= scale <= precision <= {self.MAX_PRECISION}")
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._unit = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def check(self, value: Any) -> Decimal:
        """The value as stored, or ValueError if the column cannot hold it exactly."""
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if not amount.is_finite() or abs(amount) >= self._limit:
            raise ValueError(f"{amount} does not fit {self.precision} digits")
        quantized = amount.quantize(self._unit)
        if quantized != amount:
            raise ValueError(f"{amount} has more than {self.scale} decimal places")
        return quantized

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = self.check(value)
        if dialect.name == "sqlite":
            return int(quantized.scaleb(self.scale))
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            if isinstance(value, float):  # AVG() and friends return REAL
                value = Decimal(repr(value))
            return (Decimal(value).scaleb(-self.scale)).quantize(self._unit)
        return Decimal(value).quantize(self._unit)

    def __repr__(self) -> str:
        return f"ExactDecimal(precision={self.precision}, scale={self.scale})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    Naive datetimes are refused on write rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware UTC value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps no offset; we only ever wrote UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_decimal_text(column: Any, scale: int) -> ColumnElement[str]:
    """The text `str()` gives the Decimal an ExactDecimal column of `scale` is read back
    as (`process_result_value`), written by the database: PostgreSQL's text of the
    NUMERIC; on SQLite, from the stored count of 10**-scale units."""
    return by_dialect(cast(column, Text), sqlite_fixed(column, scale))


def sqlite_fixed(units: Any, scale: int) -> ColumnElement[str]:
    """On SQLite, the integer `units` counted in 10**-scale as text with `scale`
    decimals: 12345 at 3 is 12.345, -5 at 2 is -0.05, 7 at 0 is 7. NULL for a value not
    an integer (a REAL or a text written by other SQL): not spelled here."""
    return case((sqlite_is_integer(units), sqlite_digits(units, scale, scale)))


def sqlite_is_integer(value: Any) -> ColumnElement[bool]:
    """Whether SQLite holds `value` as an integer: an INTEGER column holds whatever other
    SQL wrote (a REAL, a text, a BLOB), and arithmetic reads a text or a BLOB as 0."""
    return func.typeof(value) == literal_column("'integer'")


def sqlite_digits(units: Any, scale: int, places: int) -> ColumnElement[str]:
    """`sqlite_fixed` of `units` that SQLite holds as an integer (`sqlite_is_integer`),
    with `places` decimals (at most `scale`): those beyond are zeros, not written
    (12340 at 3 with 2 places is 12.34). One printf() of the sign, the whole part and the
    decimals, each from `units` directly: no abs() of `units` itself, which fails on the
    smallest integer."""
    if scale == 0:
        return cast(units, Text)
    # (Operators that bind nothing: an ExactDecimal's would scale their operands.)
    step = literal_column(str(10**scale), BigInteger)
    whole = func.abs(units.op("/")(step))
    if places == 0:
        return cast(units.op("/")(step), Text)
    zero: ColumnElement[int] = literal_column("0")
    sign = case((units.op("<")(zero), literal_column("'-'")), else_=literal_column("''"))
    fraction: ColumnElement[int] = func.abs(units.op("%")(step))
    if places < scale:
        fraction = fraction.op("/")(literal_column(str(10 ** (scale - places)), BigInteger))
    return func.printf(literal_column(f"'%s%d.%0{places}d'"), sign, whole, fraction)

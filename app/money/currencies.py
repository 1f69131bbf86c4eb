"""ISO 4217 active currency codes (list as published by the ISO 4217 maintenance agency, 2024)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    case,
    cast,
    func,
    literal_column,
)

from app.db.functions import by_dialect
from app.db.types import sqlite_digits, sqlite_is_integer
from app.errors import DomainError, ErrorCode

ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
    IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
    VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW
    ZWG
    """.split()
)


# Minor-unit digits where they are not 2 (ISO 4217's "minor unit" column); funds and
# metals without a minor unit (XAU, XDR, ...) are treated as 2 here too.
_MINOR_UNITS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_units(code: str) -> int:
    """How many decimals an amount in this currency has (JPY 0, KWD 3, most 2)."""
    return _MINOR_UNITS.get(code, 2)


@lru_cache(maxsize=512)
def unit(code: str) -> Decimal:
    """The currency's minor unit as an amount: 0.01 for most, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-minor_units(code))


def finer_than_minor_unit(amount: Decimal, code: str) -> bool:
    """Whether the amount has more decimals than the currency has (100.50 yen, 0.125 CNY);
    zeros do not count (100.00 yen is whole yen)."""
    return amount != amount.quantize(unit(code))


def shown(amount: Decimal, code: str) -> Decimal:
    """An amount as the ledger shows it, everywhere (the API's `Money`, CSV downloads,
    the audit trail): to the currency's minor unit, whatever the column's scale —
    100 yen, 100.50 CNY, 12.345 KWD. Never rounded: an amount stored finer than its
    currency (100.5 yen, written before the write rules refused it) keeps the decimals
    it needs."""
    at_unit = amount.quantize(unit(code))
    if at_unit == amount:
        return at_unit
    return amount.normalize()


def shown_sql(amount: Any, code: Any) -> ColumnElement[str]:
    """`shown` in PostgreSQL, as the text the Decimal scalar gives the Decimal `shown`
    returns (an amount column of at most `AMOUNT`'s three decimals): rounded to the
    minor unit when that loses nothing, else its digits without trailing zeros. The
    currency is looked up once per amount (most are of 2 digits: the last case)."""

    def at(units: int) -> ColumnElement[str]:
        at_unit = func.round(amount, units)
        return case(
            (amount == at_unit, cast(at_unit, Text)), else_=cast(func.trim_scale(amount), Text)
        )

    return by_dialect(_by_currency(code, at), _shown_sqlite(amount, code))


def _by_currency(code: Any, at: Callable[[int], ColumnElement[str]]) -> ColumnElement[str]:
    """`at(minor units)` of the currency `code`."""
    return case(*_not_two(code, at), else_=at(2))


def _not_two(code: Any, at: Callable[[int], ColumnElement[str]]) -> list[Any]:
    """`at(minor units)` for the currencies whose minor unit is not 2, by their units."""
    others = sorted(set(_MINOR_UNITS.values()))
    return [
        (code.in_(sorted(c for c, n in _MINOR_UNITS.items() if n == units)), at(units))
        for units in others
    ]


def _shown_sqlite(amount: Any, code: Any) -> ColumnElement[str]:
    """`shown_sql` on SQLite, where the amount (an ExactDecimal) is stored as a count of
    its scale's units: its digits at the currency's minor unit when no unit is lost
    (zeros added for a finer currency), else all its digits, trailing zeros trimmed.
    NULL for a value SQLite does not hold as an integer (other SQL wrote it): not spelled
    here. Each row's cost counts (the compiled answer's JSON, issue 15): the type is
    looked at once, a currency of two digits (most) is found by one look-up, and each
    spelling is one printf()."""
    scale = amount.type.scale

    def at(minor: int) -> ColumnElement[str]:
        if minor > scale:
            return sqlite_digits(amount, scale, scale).concat("0" * (minor - scale))
        if minor == scale:
            return sqlite_digits(amount, scale, scale)
        # (Operators that bind nothing: an ExactDecimal's would scale their operands.)
        step = literal_column(str(10 ** (scale - minor)), BigInteger)
        zero: ColumnElement[int] = literal_column("0")
        return case(
            (amount.op("%")(step).op("=")(zero), sqlite_digits(amount, scale, minor)),
            else_=func.rtrim(sqlite_digits(amount, scale, scale), "0"),
        )

    others = sorted(c for c, n in _MINOR_UNITS.items() if n != 2)
    by_currency = case((code.not_in(others), at(2)), *_not_two(code, at), else_=at(2))
    return case((sqlite_is_integer(amount), by_currency))


def from_minor_units(minor: int, code: str) -> Decimal:
    """An amount counted in the currency's minor units, as an amount (250 cents: 2.50)."""
    return Decimal(minor).scaleb(-minor_units(code))


def parse_currency(code: str, *, field: str = "currency") -> str:
    """Return the ISO 4217 code, or raise INVALID_CURRENCY. "RMB" is a name, not a code."""
    if code in ISO_4217:
        return code
    hint = " (the code for renminbi is CNY)" if code.upper() == "RMB" else ""
    raise DomainError(
        f"{code[:16]!r} is not an ISO 4217 currency code{hint}",
        code=ErrorCode.INVALID_CURRENCY,
        field=field,
    )

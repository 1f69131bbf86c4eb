"""Scalars. Decimal travels as a string so no client ever sees a binary float; Date and
DateTime accept only the days and moments of the ledger's range (app/kit/dates.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from graphql import FloatValueNode, GraphQLError, IntValueNode, StringValueNode, ValueNode

from app.kit.dates import RANGE, parse_date, parse_moment
from app.kit.numbers import parse_decimal


def _to_decimal(text: str) -> Decimal:
    if len(text) > 64:
        raise GraphQLError("Decimal values have at most 64 characters")
    # One spelling per number (app/kit/numbers.py): Decimal() alone would also read
    # " 1", "1_0", "+1", ".5", "NaN" and digits of other scripts.
    parsed = parse_decimal(text)
    if parsed is None:
        raise GraphQLError(
            f"{text[:40]!r} is not a decimal number written as JSON writes one "
            '(ASCII digits, an optional "-", fraction and exponent: "-1234.50", "1e6")'
        )
    # The exponent counts too: "1e999999999" is short, but written out (as amounts are,
    # to store, hash and answer them) it has a billion digits.
    _, digits, exponent = parsed.as_tuple()
    assert isinstance(exponent, int)  # finite
    if len(digits) + exponent > 64 or -exponent > 64:
        raise GraphQLError(
            "Decimal values have at most 64 digits before the decimal point and 64 after"
        )
    return parsed


def _parse_value(value: Any) -> Decimal:
    # Variables: strings only. A JSON number went through a JSON decoder, and most read
    # it as a binary float (0.1 + 0.2 is 0.30000000000000004 to them): 10.5 came here as
    # a float already, and accepting 10 but not 10.5 taught clients that numbers work
    # until the first amount with cents.
    if not isinstance(value, str):
        raise GraphQLError(
            'Decimal values in variables are strings, e.g. "1234.50": a JSON number is '
            "refused, whole or not, since JSON decoders read numbers as binary floats"
        )
    return _to_decimal(value)


def _parse_literal(node: ValueNode, _variables: Any = None) -> Decimal:
    # In query text the digits are exact, so 12.50 is as good as "12.50".
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return _to_decimal(node.value)
    raise GraphQLError('Decimal values are strings, e.g. "1234.50"')


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number, as a string (e.g. "100000000000.00"), spelled as JSON '
        'spells a number: ASCII digits without leading zeros, an optional leading "-", '
        'an optional fraction (".50") and an optional exponent ("1e6", "2.5E-3"); no '
        "spaces, signs other than a leading minus, or other digits. At most 64 digits "
        "before the decimal point and 64 after. In a query's text a number literal "
        "(12.50 or 12) is read the same, its digits being exact; in variables only a "
        "string is, never a JSON number (whole or not: JSON decoders read numbers as "
        "binary floats)."
    ),
    serialize=lambda value: format(value, "f"),
    parse_value=_parse_value,
    parse_literal=_parse_literal,
)


T = TypeVar("T")


def _reader(parse: Callable[[str], T], kind: str, example: str) -> Callable[[Any], T]:
    """A scalar's parser: text of the right form, else the client's mistake; a value
    outside the range raises INVALID_ARGUMENT (a DomainError, coded as such)."""

    def read(value: Any) -> T:
        if not isinstance(value, str):
            raise GraphQLError(f'{kind} values are strings, e.g. "{example}"')
        try:
            return parse(value)
        except ValueError:
            raise GraphQLError(
                f"{value[:40]!r} is not a {kind} (ISO 8601, e.g. {example})"
            ) from None

    return read


def _iso(value: date) -> str:
    return value.isoformat()


DateScalar = strawberry.scalar(
    name="Date",
    description=f"A calendar day, ISO 8601 (e.g. 2024-05-01), from {RANGE}: a day outside "
    "that range is refused with INVALID_ARGUMENT.",
    serialize=_iso,
    parse_value=_reader(parse_date, "date", "2024-05-01"),
)

DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="A moment, ISO 8601 with its UTC offset (e.g. 2024-05-01T12:00:00Z), from "
    f"{RANGE} in UTC: a moment outside that range is refused with INVALID_ARGUMENT.",
    serialize=_iso,
    parse_value=_reader(parse_moment, "date and time", "2024-05-01T12:00:00Z"),
)

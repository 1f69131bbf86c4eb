"""Scalars. Decimal travels as a string so no client ever sees a binary float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from graphql import FloatValueNode, GraphQLError, IntValueNode, StringValueNode, ValueNode

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
    # Variables: strings or whole numbers only; a JSON float has already lost precision.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise GraphQLError('Decimal values are strings, e.g. "1234.50"')
    return _to_decimal(str(value))


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
        "(12.50) is read the same; in variables a JSON integer is too, a JSON float never."
    ),
    serialize=lambda value: format(value, "f"),
    parse_value=_parse_value,
    parse_literal=_parse_literal,
)

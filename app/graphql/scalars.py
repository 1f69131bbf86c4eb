"""Scalars. Decimal travels as a string so no client ever sees a binary float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry
from graphql import GraphQLError


def _parse_decimal(value: Any) -> Decimal:
    # Strings only (and whole numbers): a JSON float has already lost precision.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise GraphQLError('Decimal values are strings, e.g. "1234.50"')
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise GraphQLError(f"{str(value)[:40]!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise GraphQLError("Decimal values must be finite")
    return parsed


DecimalScalar = strawberry.scalar(
    Decimal,
    name="Decimal",
    description='An exact decimal number, as a string (e.g. "100000000000.00").',
    serialize=lambda value: format(value, "f"),
    parse_value=_parse_decimal,
)

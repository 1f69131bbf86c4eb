"""`aggregate { count sum min max avg }` on list connections, one type per record type.

The types are generated from each listing's measures (`Listing.aggregates`): money
columns become `Money` (converted into `aggregate(currency:)` when given), numbers
`Decimal`, dates take part in `min` and `max` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry

from app.errors import DomainError, ErrorCode
from app.graphql.money import Money
from app.kit.aggregation import Aggregate, Amount, Day, Measure, Number, average
from app.kit.filtering import graphql_name
from app.money.currencies import minor_units

_DEFAULT_PLACES = 4


@dataclass(frozen=True)
class Computed:
    """What an aggregate field resolves from: the SQL result and the target currency."""

    result: Aggregate
    target: str | None


def _places(measure: Measure) -> int:
    """Decimals of an average: the column's own scale (4 for whole numbers)."""
    scale = getattr(getattr(measure, "column", None), "type", None)
    places = getattr(scale, "scale", None)
    return places if isinstance(places, int) else _DEFAULT_PLACES


def _money(
    computed: Computed, name: str, raw: Any, *, avg_count: int | None = None
) -> Money | None:
    result = computed.result
    if computed.target is not None:
        if raw is None:
            return None
        units = minor_units(computed.target)
        amount = Decimal(int(raw)).scaleb(-units)
        currency = computed.target
    else:
        mixed = result.mixed.get(name)
        if mixed is not None:
            raise DomainError(
                f"{graphql_name(name)}: amounts in several currencies ({mixed[0]}, {mixed[1]}, "
                "…) are never added unconverted: pass aggregate(currency: …)",
                code=ErrorCode.CURRENCY_REQUIRED,
                field="currency",
                details={"currencies": list(mixed)},
            )
        own = result.currency.get(name)
        if raw is None or own is None:
            return None
        currency, amount, units = own, Decimal(raw), minor_units(own)
    if avg_count is not None:
        value = average(amount, avg_count, units)
        return None if value is None else Money(amount=value, currency=currency)
    return Money(amount=amount, currency=currency)


def _value_type(
    type_name: str,
    kind: str,
    measures: Mapping[str, Measure],
    describe: Callable[[str], str],
) -> type[Any] | None:
    """`<Type>Aggregate<Kind>`: one field per measure that `kind` applies to."""
    namespace: dict[str, Any] = {"__annotations__": {"_computed": strawberry.Private[Computed]}}
    fields = 0
    for name, measure in measures.items():
        if isinstance(measure, Day) and kind in ("sum", "avg"):
            continue
        namespace[name] = strawberry.field(
            resolver=_resolver(kind, name, measure), description=describe(name)
        )
        fields += 1
    if not fields:
        return None
    cls = type(f"{type_name}Aggregate{kind.title()}", (), namespace)
    return strawberry.type(
        cls,
        description=f"The {kind} of each figure of the matching "
        f"{type_name} records (null over none).",
    )


def _resolver(kind: str, name: str, measure: Measure) -> Callable[..., Any]:
    def resolve(self: Any) -> Any:
        computed: Computed = self._computed
        result = computed.result
        source = {"sum": result.sums, "avg": result.sums, "min": result.mins, "max": result.maxs}
        raw = source[kind].get(name)
        count = result.counts.get(name, 0)
        if isinstance(measure, Amount):
            return _money(computed, name, raw, avg_count=count if kind == "avg" else None)
        if raw is None:
            return None
        if isinstance(measure, Day):
            return raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        if kind == "avg":
            return average(Decimal(raw), count, _places(measure))
        return Decimal(raw)

    resolve.__annotations__["return"] = (
        Money | None
        if isinstance(measure, Amount)
        else date | None
        if isinstance(measure, Day)
        else Decimal | None
    )
    return resolve


def _nested(value_type: type[Any]) -> Callable[..., Any]:
    def resolve(self: Any) -> Any:
        return value_type(_computed=self._computed)

    resolve.__annotations__["return"] = value_type
    return resolve


def aggregate_type(type_name: str, measures: Mapping[str, Measure]) -> type[Any]:
    """`<Type>Aggregate { count sum avg min max }` for one record type."""

    def describe(name: str) -> str:
        measure = measures[name]
        if isinstance(measure, Amount):
            return f"`{graphql_name(name)}`, in one currency (see `aggregate(currency:)`)."
        return f"`{graphql_name(name)}`."

    namespace: dict[str, Any] = {
        "__annotations__": {"_computed": strawberry.Private[Computed]},
    }

    def count(self: Any) -> int:
        return int(self._computed.result.count)

    namespace["count"] = strawberry.field(
        resolver=count, description="How many records match (the list's totalCount)."
    )
    for kind in ("sum", "avg", "min", "max"):
        value_type = _value_type(type_name, kind, measures, describe)
        if value_type is None:
            continue
        resolve = _nested(value_type)
        docs = {
            "sum": "Sums.",
            "avg": "Averages, rounded half-even (money: to the currency's minor unit).",
            "min": "Smallest values.",
            "max": "Largest values.",
        }
        namespace[kind] = strawberry.field(resolver=resolve, description=docs[kind])
    cls = type(f"{type_name}Aggregate", (), namespace)
    return strawberry.type(
        cls,
        description=f"Aggregates over every {type_name} record the list's filter matches "
        "(not just the page), computed in the database.",
    )


__all__ = ["Amount", "Computed", "Day", "Number", "aggregate_type"]

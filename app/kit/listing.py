"""What a list is, in SQL: its rows, their parent, filters, sort keys and measures.

Each domain declares its lists with these (`app/<domain>/listing.py`); the GraphQL
connections page, filter, sort and aggregate any of them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy import Enum as SAEnum

from app.kit.filtering import FilterLimits, FilterSpec, condition_of
from app.kit.keyset import Order
from app.kit.ordering import OrderKey, order_clauses, sort_keys


@dataclass(frozen=True)
class SortKey:
    """One key a list can be sorted by: its SQL expression, and what that is in words
    ("the initiative's code"), from which its order field is described ("Sort by the
    initiative's code.")."""

    column: Any
    what: str

    @property
    def description(self) -> str:
        """The order field's description. An enum column sorts by its stored values, its
        names in lowercase (app/models/_columns.py): alphabetically, not in the order the
        schema lists them."""
        column_type = getattr(self.column, "type", None)
        if isinstance(column_type, SAEnum):
            if any(m.value != m.name.lower() for m in column_type.enum_class or ()):
                raise TypeError(f"{self.what}: its enum's values are not its names in lowercase")
            return f"Sort by {self.what} (alphabetically by lowercase name)."
        return f"Sort by {self.what}."


@dataclass(frozen=True)
class Listing:
    """How one list maps to SQL: its rows, their parent, filters and order keys."""

    name: str
    model: type[Any]
    filters: Callable[[], FilterSpec]
    order_keys: Mapping[str, SortKey]
    default_order: Callable[[], Sequence[ColumnElement[Any]]]
    # The column holding the parent's key, for lists nested under a parent.
    parent: Callable[[], Any] | None = None
    # A fixed condition of the list (e.g. citations of one subject type).
    scope: Callable[[], ColumnElement[bool]] | None = None
    # A table joined in to reach the parent key, and its ON clause.
    join: Callable[[], tuple[Any, Any]] | None = None
    # What `aggregate` computes over the list: name → Amount / Number / Day.
    aggregates: Callable[[], Mapping[str, Any]] | None = None

    def condition(self, value: Any, limits: FilterLimits) -> ColumnElement[bool]:
        """The rows a client's filter (None: no filter) keeps, within the list's scope."""
        where = condition_of(self.filters(), value, limits)
        return where if self.scope is None else and_(where, self.scope())

    def order(self, keys: Sequence[OrderKey] | None) -> list[ColumnElement[Any]]:
        """ORDER BY for a client's sort keys (none: the list's default); ties by id."""
        columns = {name: key.column for name, key in self.order_keys.items()}
        return order_clauses(columns, keys, self.model.id, self.default_order())

    def ordering(self, keys: Sequence[OrderKey] | None) -> Order:
        """The order for a client's sort keys, named for this list and those keys: its
        cursors serve only here, with the same orderBy."""
        spelled = ",".join(
            f"{getattr(k.field, 'value', k.field)} {getattr(k.direction, 'value', k.direction)}"
            for k in keys or ()
        )
        return Order.of(self.order(keys), f"{self.name}|{spelled}")


def nested(base: Listing, name: str, parent: Callable[[], Any], **more: Any) -> Listing:
    """`base` nested under a parent: its rows are those whose `parent` column holds the
    parent's key."""
    return replace(base, name=name, parent=parent, **more)


def ascending(*columns: Any) -> Callable[[], list[ColumnElement[Any]]]:
    """A default order. Sorted as client orders are, so both backends agree on it too."""
    return lambda: [term for c in columns for term in sort_keys(c)]


def sorts(model: Any, **keys: str | tuple[Any, str]) -> dict[str, SortKey]:
    """The keys a list sorts by, each with what it is in words: `title="the initiative's
    title"` sorts by the model's column of that name; `date=(column, "…")` by another."""
    return {
        name: SortKey(*key) if isinstance(key, tuple) else SortKey(getattr(model, name), key)
        for name, key in keys.items()
    }

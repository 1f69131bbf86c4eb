"""What a caller may see of a stored record: the columns its object type shows them.

The trail keeps whole records, column by column. Wherever the API hands such a stored
state out (a live event's `record`, the trail's `before` and `after`), it shows only
the columns the record's object type shows the same caller in queries. The rule is
read off the object types themselves, so queries and stored states cannot disagree:

- a field shows the column of its own name (`title`), or the columns it declares with
  `Shows` (`target` shows `target_value`; a relation such as `initiative` shows its
  key, `initiative_id`);
- a field marked `OnlyFor(...)` is null in queries for callers without one of those
  permissions, and its columns are left out of their stored states too;
- a column no field shows is shown to no one (a whitelist: a new column stays out of
  every event until a field shows it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from strawberry.extensions import FieldExtension
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField

from app.auth.principal import Principal
from app.auth.roles import Permission

T = TypeVar("T")

# Table name → the object type that shows its records.
RECORD_TYPES: dict[str, Any] = {}


class Shows(FieldExtension):
    """Declares the stored columns a field shows, where its name is not one of them."""

    def __init__(self, *columns: str) -> None:
        self.columns = frozenset(columns)


class OnlyFor(FieldExtension):
    """The field is null for callers without one of `permissions` (who may not learn
    whether there is a value at all), in queries and in stored states alike."""

    def __init__(self, *permissions: Permission) -> None:
        self.permissions = frozenset(permissions)

    def apply(self, field: StrawberryField) -> None:
        if not isinstance(field.type, StrawberryOptional):
            raise TypeError(f"{field.python_name}: a field only some may see must be nullable")

    def admits(self, permissions: frozenset[Permission]) -> bool:
        return bool(self.permissions & permissions)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        if not self.admits(info.context.principal.permissions):
            return None
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        if not self.admits(info.context.principal.permissions):
            return None
        return await next_(source, info, **kwargs)


def shows_records_of(model: type[Any]) -> Callable[[T], T]:
    """Record an object type as the one that shows `model`'s rows to callers."""

    def add(cls: T) -> T:
        RECORD_TYPES[model.__tablename__] = cls
        return cls

    return add


@cache
def visible_columns(table: str, permissions: frozenset[Permission]) -> frozenset[str]:
    """The columns of `table` that a caller with `permissions` sees in queries."""
    from app.audit.records import audited_tables

    object_type = RECORD_TYPES.get(table)
    model = audited_tables().get(table)
    if object_type is None or model is None:
        return frozenset()  # no type shows these records: nothing of them is shown
    columns = frozenset(model.__table__.columns.keys())
    shown: set[str] = set()
    for field in object_type.__strawberry_definition__.fields:
        extensions = field.extensions
        if any(isinstance(e, OnlyFor) and not e.admits(permissions) for e in extensions):
            continue
        declared = [e.columns for e in extensions if isinstance(e, Shows)]
        if declared:
            named = frozenset().union(*declared)
            if not named <= columns:
                raise ValueError(f"{table}: {field.python_name} names no column {named - columns}")
            shown |= named
        elif field.python_name in columns:
            shown.add(field.python_name)
    return frozenset(shown)


def shown_state(principal: Principal, table: str, state: dict[str, Any] | None) -> Any:
    """A stored state of a `table` record (None stays None), with only the columns
    `principal` may see."""
    if state is None:
        return None
    visible = visible_columns(table, principal.permissions)
    return {name: value for name, value in state.items() if name in visible}

"""Stable multi-key ordering: client keys first, the primary key last, NULLs last.

Text sorts by its lowercase form, then exactly, both by Unicode code point: the same
order on SQLite and PostgreSQL whatever the database's locale (an ICU or libc
collation would put "Émile" elsewhere on each installation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, String

from app.db.functions import code_point, unicode_lower
from app.errors import DomainError, ErrorCode

MAX_ORDER_KEYS = 5


class OrderKey(Protocol):
    @property
    def field(self) -> Any: ...
    @property
    def direction(self) -> Any: ...


def sort_keys(expr: Any, *, descending: bool = False) -> list[ColumnElement[Any]]:
    """The ORDER BY terms for one key; NULLs last either way."""
    terms = [code_point(unicode_lower(expr)), code_point(expr)] if _is_text(expr) else [expr]
    return [(t.desc() if descending else t.asc()).nulls_last() for t in terms]


def _is_text(expr: Any) -> bool:
    return isinstance(getattr(expr, "type", None), String)


def order_clauses(
    columns: Mapping[Any, Any], keys: Sequence[OrderKey] | None, pk: Any, default: Sequence[Any]
) -> list[ColumnElement[Any]]:
    if keys and len(keys) > MAX_ORDER_KEYS:
        raise DomainError(
            f"orderBy: at most {MAX_ORDER_KEYS} keys are allowed, got {len(keys)}",
            code=ErrorCode.INVALID_ARGUMENT,
            field="orderBy",
        )
    clauses: list[ColumnElement[Any]] = []
    if keys:
        for key in keys:
            descending = getattr(key.direction, "value", key.direction) == "desc"
            clauses.extend(sort_keys(columns[key.field], descending=descending))
    else:
        clauses.extend(default)
    # The primary key makes every order total, so pages never overlap or skip.
    clauses.append(pk.asc())
    return clauses

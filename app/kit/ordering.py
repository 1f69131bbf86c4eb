"""Stable multi-key ordering: client keys first, the primary key last, NULLs last."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement

from app.errors import DomainError, ErrorCode

MAX_ORDER_KEYS = 5


class OrderKey(Protocol):
    @property
    def field(self) -> Any: ...
    @property
    def direction(self) -> Any: ...


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
            expr = columns[key.field]
            descending = getattr(key.direction, "value", key.direction) == "desc"
            clauses.append((expr.desc() if descending else expr.asc()).nulls_last())
    else:
        clauses.extend(default)
    # The primary key makes every order total, so pages never overlap or skip.
    clauses.append(pk.asc())
    return clauses

"""Compile filter trees (and/or/not, per-field operators, relations) into SQL.

A filter value is any object with attributes named like the spec's keys (the
GraphQL input types are such objects); unset attributes are None. The compiler
checks what SQL cannot: inverted ranges, oversized `in` lists, runaway nesting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from app.errors import DomainError, ErrorCode
from app.kit.ids import decode_id_of

_COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Column:
    """A filterable column; `id_type` marks one that takes global ids of that type."""

    expr: Any
    id_type: str | None = None
    # Turns a client value into what the column stores (e.g. an enum into its value).
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Relation:
    """A filter on related records: `build(child_condition)` returns the parent condition."""

    spec: Callable[[], FilterSpec]
    build: Callable[[ColumnElement[bool]], ColumnElement[bool]]


FilterSpec = Mapping[str, Column | Relation]


@dataclass(frozen=True)
class FilterLimits:
    max_depth: int = 8
    max_list: int = 500
    # Longest text operand (contains, eq, ...); longer ones cannot match any stored value.
    max_text: int = 1000


def graphql_name(attribute: str) -> str:
    """`planned_start` → `plannedStart`, `and_` → `and`: how the client wrote it."""
    head, *rest = attribute.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


def compile_filter(
    spec: FilterSpec, value: Any, limits: FilterLimits, *, path: str = "filter", depth: int = 1
) -> ColumnElement[bool]:
    if depth > limits.max_depth:
        raise DomainError(
            f"{path}: filters nest deeper than {limits.max_depth} levels",
            code=ErrorCode.FILTER_TOO_COMPLEX,
            field=path,
        )
    clauses: list[ColumnElement[bool]] = []
    for name in ("and_", "or_"):
        items = getattr(value, name, None)
        if items is None:
            continue
        _check_list(items, limits, f"{path}.{graphql_name(name)}")
        parts = [
            compile_filter(
                spec, item, limits, path=f"{path}.{graphql_name(name)}[{i}]", depth=depth + 1
            )
            for i, item in enumerate(items)
        ]
        if name == "and_":
            clauses.append(and_(true(), *parts))
        else:
            clauses.append(or_(false(), *parts))
    negated = getattr(value, "not_", None)
    if negated is not None:
        inner = compile_filter(spec, negated, limits, path=f"{path}.not", depth=depth + 1)
        # `not` is the exact complement: a row the inner filter cannot decide (a NULL
        # compared) counts as not matching it, so it is kept here, not lost from both.
        clauses.append(not_(func.coalesce(inner, false())))
    for name, target in spec.items():
        operand = getattr(value, name, None)
        if operand is None:
            continue
        where = f"{path}.{graphql_name(name)}"
        if isinstance(target, Relation):
            child = compile_filter(target.spec(), operand, limits, path=where, depth=depth + 1)
            clauses.append(target.build(child))
        else:
            clauses.extend(_column_clauses(target, operand, limits, where))
    return and_(true(), *clauses)


def _check_list(items: list[Any], limits: FilterLimits, where: str) -> None:
    if len(items) > limits.max_list:
        raise DomainError(
            f"{where}: at most {limits.max_list} values are allowed, got {len(items)}",
            code=ErrorCode.INVALID_ARGUMENT,
            field=where,
        )


def _column_clauses(
    column: Column, operand: Any, limits: FilterLimits, where: str
) -> list[ColumnElement[bool]]:
    check = getattr(getattr(column.expr, "type", None), "check", None)

    def convert(raw: Any) -> Any:
        if column.id_type is not None:
            return decode_id_of(raw, column.id_type)
        if column.convert is not None:
            return column.convert(raw)
        if check is not None:  # exact decimals: a value the column cannot hold is an error
            try:
                check(raw)
            except ValueError as exc:
                raise DomainError(
                    f"{where}: {exc}", code=ErrorCode.INVALID_ARGUMENT, field=where
                ) from None
        return raw

    expr = column.expr
    clauses: list[ColumnElement[bool]] = []
    for op in ("eq", "ne", "contains", "starts_with"):
        text = getattr(operand, op, None)
        if isinstance(text, str) and len(text) > limits.max_text:
            raise DomainError(
                f"{where}.{graphql_name(op)}: at most {limits.max_text} characters, "
                f"got {len(text)}",
                code=ErrorCode.INVALID_ARGUMENT,
                field=where,
            )
    values = {op: getattr(operand, op, None) for op in _COMPARISONS}
    _check_range(values, where)
    for op, raw in values.items():
        if raw is None:
            continue
        val = convert(raw)
        clauses.append(
            {
                "eq": lambda v: expr == v,
                "ne": lambda v: expr != v,
                "gt": lambda v: expr > v,
                "gte": lambda v: expr >= v,
                "lt": lambda v: expr < v,
                "lte": lambda v: expr <= v,
            }[op](val)
        )
    for op in ("in_", "not_in"):
        raw_list = getattr(operand, op, None)
        if raw_list is None:
            continue
        _check_list(raw_list, limits, f"{where}.{graphql_name(op)}")
        converted = [convert(raw) for raw in raw_list]
        clauses.append(expr.in_(converted) if op == "in_" else expr.not_in(converted))
    contains = getattr(operand, "contains", None)
    if contains is not None:
        # Case-insensitive on both backends; the pattern's own % and _ are literal.
        clauses.append(expr.icontains(contains, autoescape=True))
    starts_with = getattr(operand, "starts_with", None)
    if starts_with is not None:
        clauses.append(expr.istartswith(starts_with, autoescape=True))
    is_null = getattr(operand, "is_null", None)
    if is_null is not None:
        clauses.append(expr.is_(None) if is_null else expr.is_not(None))
    return clauses


def _check_range(values: dict[str, Any], where: str) -> None:
    lower = [(op, values[op]) for op in ("gt", "gte") if values.get(op) is not None]
    upper = [(op, values[op]) for op in ("lt", "lte") if values.get(op) is not None]
    for lo_op, lo in lower:
        for hi_op, hi in upper:
            empty = lo > hi if (lo_op == "gte" and hi_op == "lte") else lo >= hi
            if empty:
                raise DomainError(
                    f"{where}: the range is empty ({lo_op} {lo} is not below {hi_op} {hi})",
                    code=ErrorCode.INVALID_RANGE,
                    field=where,
                )

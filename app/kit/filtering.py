"""Compile filter trees (and/or/not, per-field operators, relations) into SQL.

A filter value is any object with attributes named like the spec's keys (the
GraphQL input types are such objects); unset attributes are None. The compiler
checks what SQL cannot, before any SQL runs: inverted ranges, values a column
cannot hold, oversized lists and texts, runaway nesting, and a budget on the
number of values in the whole tree (drivers cap the parameters of a statement).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true

from app.db.functions import unicode_lower
from app.errors import DomainError, ErrorCode
from app.kit.ids import decode_id_of
from app.kit.text import encoding_problem

_COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")
_SQL = {
    "eq": lambda e, v: e == v,
    "ne": lambda e, v: e != v,
    "gt": lambda e, v: e > v,
    "gte": lambda e, v: e >= v,
    "lt": lambda e, v: e < v,
    "lte": lambda e, v: e <= v,
}


@dataclass(frozen=True)
class Column:
    """A filterable column; `id_type` marks one that takes global ids of that type."""

    expr: Any
    id_type: str | None = None
    # Turns a client value into what the column stores (e.g. a checked currency code);
    # called with the value and the filter path the client wrote, for its errors.
    convert: Callable[[Any, str], Any] | None = None


@dataclass(frozen=True)
class Relation:
    """A filter on related records: `build(child_condition)` returns the parent condition."""

    spec: Callable[[], FilterSpec]
    build: Callable[[ColumnElement[bool]], ColumnElement[bool]]


FilterSpec = Mapping[str, Column | Relation]


def member_of(fk: Any, target: Any, spec: Callable[[], FilterSpec]) -> Relation:
    """Many-to-one: the row's foreign key points at a matching target row."""
    return Relation(spec, lambda cond: fk.in_(select(target.id).where(cond)))


def has_some(fk: Any, parent_pk: Any, spec: Callable[[], FilterSpec]) -> Relation:
    """One-to-many: at least one child row points at this row and matches."""
    return Relation(spec, lambda cond: exists().where(fk == parent_pk, cond))


@dataclass(frozen=True)
class FilterLimits:
    max_depth: int = 8
    max_list: int = 500
    # Longest text operand; longer ones cannot match any stored value.
    max_text: int = 1000
    # Values in the whole tree, lists included.
    max_terms: int = 2000

    @classmethod
    def of(cls, settings: Any) -> FilterLimits:
        """The limits an object with max_filter_depth/list/terms attributes sets."""
        return cls(
            max_depth=settings.max_filter_depth,
            max_list=settings.max_filter_list,
            max_terms=settings.max_filter_terms,
        )


def graphql_name(attribute: str) -> str:
    """`planned_start` → `plannedStart`, `and_` → `and`: how the client wrote it."""
    head, *rest = attribute.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


def compile_filter(spec: FilterSpec, value: Any, limits: FilterLimits) -> ColumnElement[bool]:
    return _Compiler(limits).tree(spec, value, "filter", 1)


def condition_of(spec: FilterSpec, value: Any, limits: FilterLimits) -> ColumnElement[bool]:
    """`compile_filter`, where no filter at all (None) matches every row."""
    return true() if value is None else compile_filter(spec, value, limits)


def _invalid(where: str, message: str, code: ErrorCode = ErrorCode.INVALID_ARGUMENT) -> DomainError:
    return DomainError(f"{where}: {message}", code=code, field=where)


class _Compiler:
    def __init__(self, limits: FilterLimits) -> None:
        self.limits = limits
        self.terms = 0

    def tree(self, spec: FilterSpec, value: Any, path: str, depth: int) -> ColumnElement[bool]:
        if depth > self.limits.max_depth:
            raise _invalid(
                path,
                f"filters nest deeper than {self.limits.max_depth} levels",
                ErrorCode.FILTER_TOO_COMPLEX,
            )
        clauses: list[ColumnElement[bool]] = []
        for name, combine in (("and_", and_), ("or_", or_)):
            items = getattr(value, name, None)
            if items is None:
                continue
            where = f"{path}.{graphql_name(name)}"
            self._check_list(items, where)
            parts = [
                self.tree(spec, item, f"{where}[{i}]", depth + 1) for i, item in enumerate(items)
            ]
            clauses.append(combine(true() if name == "and_" else false(), *parts))
        negated = getattr(value, "not_", None)
        if negated is not None:
            inner = self.tree(spec, negated, f"{path}.not", depth + 1)
            # `not` is the exact complement: a row the inner filter cannot decide (a NULL
            # compared) counts as not matching it, so it is kept here, not lost from both.
            clauses.append(not_(func.coalesce(inner, false())))
        for name, target in spec.items():
            operand = getattr(value, name, None)
            if operand is None:
                continue
            where = f"{path}.{graphql_name(name)}"
            if isinstance(target, Relation):
                child = self.tree(target.spec(), operand, where, depth + 1)
                clauses.append(target.build(child))
            else:
                clauses.extend(self.column(target, operand, where))
        return and_(true(), *clauses)

    def column(self, column: Column, operand: Any, where: str) -> list[ColumnElement[bool]]:
        expr = column.expr
        clauses: list[ColumnElement[bool]] = []
        values = {op: getattr(operand, op, None) for op in _COMPARISONS}
        _check_range(values, where)
        for op, raw in values.items():
            if raw is not None:
                clauses.append(_SQL[op](expr, self.value(column, raw, f"{where}.{op}")))
        for op in ("in_", "not_in"):
            raw_list = getattr(operand, op, None)
            if raw_list is None:
                continue
            at = f"{where}.{graphql_name(op)}"
            self._check_list(raw_list, at)
            converted = [self.value(column, raw, at) for raw in raw_list]
            clauses.append(expr.in_(converted) if op == "in_" else expr.not_in(converted))
        for op in ("contains", "starts_with"):
            text = getattr(operand, op, None)
            if text is None:
                continue
            # Case-insensitive for every script on both backends; % and _ are literal.
            folded = str(self.value(column, text, f"{where}.{graphql_name(op)}")).lower()
            lowered = unicode_lower(expr)
            clauses.append(
                lowered.contains(folded, autoescape=True)
                if op == "contains"
                else lowered.startswith(folded, autoescape=True)
            )
        is_null = getattr(operand, "is_null", None)
        if is_null is not None:
            self._spend(1, where)
            clauses.append(expr.is_(None) if is_null else expr.is_not(None))
        return clauses

    def value(self, column: Column, raw: Any, where: str) -> Any:
        """One client value, checked and turned into what the column stores."""
        self._spend(1, where)
        if isinstance(raw, str):
            if len(raw) > self.limits.max_text:
                raise _invalid(where, f"at most {self.limits.max_text} characters, got {len(raw)}")
            problem = encoding_problem(raw)
            if problem is not None:  # refused at the GraphQL boundary already
                raise _invalid(where, problem)
        if column.id_type is not None:
            return decode_id_of(raw, column.id_type)
        if column.convert is not None:
            return column.convert(raw, where)
        check = getattr(getattr(column.expr, "type", None), "check", None)
        if callable(check):  # exact decimals: a value the column cannot hold is an error
            try:
                check(raw)
            except ValueError as exc:
                raise _invalid(where, str(exc)) from None
        return raw

    def _check_list(self, items: list[Any], where: str) -> None:
        if len(items) > self.limits.max_list:
            raise _invalid(where, f"at most {self.limits.max_list} values, got {len(items)}")

    def _spend(self, terms: int, where: str) -> None:
        self.terms += terms
        if self.terms > self.limits.max_terms:
            raise _invalid(
                where,
                f"the filter holds more than {self.limits.max_terms} values in all",
                ErrorCode.FILTER_TOO_COMPLEX,
            )


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

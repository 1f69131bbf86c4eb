"""Keyset cursors: a cursor names its row by the values it is sorted by.

A list's order (app/kit/ordering.py) is a series of ORDER BY terms, each a function of
one column (a text key sorts by its lowercase form, then exactly), ending with the
primary key, so no two rows tie. A cursor holds the values of those columns for its
row, once per column, and the name of the order it was issued for; `after` and
`before` then become a condition on the terms ("sorts after these values"), which an
inserted or deleted row cannot shift the way it shifts a row's position.

Inside, a cursor is JSON, `[order, value, …]`, in base64url; every value has one
spelling (decoding and encoding again gives the same cursor, as one ID per record).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    and_,
    false,
    literal,
    or_,
    true,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnClause, UnaryExpression
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from app.errors import DomainError, ErrorCode

# The longest cursor any list issues: at most five client keys and the ID, text keys
# at most 300 characters, each at most 6 bytes in JSON (an escaped control
# character), in base64 (4 characters per 3 bytes). Longer is refused unread.
MAX_CURSOR_LENGTH = 16_384
_BIGINT = 2**63
_OLD_PREFIX = "pos:"


@dataclass(frozen=True)
class _Term:
    expression: ColumnElement[Any]  # the term without its direction
    key: int  # which of the order's columns it is a function of
    descending: bool
    # Whether the term may be NULL (then it sorts NULLs last): its column may be.
    nullable: bool


@dataclass(frozen=True, eq=False)
class Order:
    """A list's ORDER BY terms and the name its cursors carry (`tag`: which list, which
    orderBy; a cursor of another is refused)."""

    terms: tuple[ColumnElement[Any], ...]
    tag: str
    # The columns the terms are functions of, once each: a cursor's values.
    columns: tuple[ColumnElement[Any], ...] = field(init=False)
    _parsed: tuple[_Term, ...] = field(init=False, repr=False)

    @classmethod
    def of(cls, terms: Sequence[ColumnElement[Any]], issued_for: str) -> Order:
        digest = hashlib.blake2b(issued_for.encode(), digest_size=6).digest()
        return cls(tuple(terms), base64.urlsafe_b64encode(digest).decode())

    def __post_init__(self) -> None:
        columns: list[ColumnElement[Any]] = []
        parsed: list[_Term] = []
        for term in self.terms:
            parsed.append(_parse(term, columns))
        object.__setattr__(self, "columns", tuple(columns))
        object.__setattr__(self, "_parsed", tuple(parsed))

    # --- cursors --------------------------------------------------------------------

    def encode(self, values: Sequence[Any]) -> str:
        items = [self.tag, *(_to_json(v) for v in values)]
        text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(text.encode()).decode()

    def decode(self, cursor: str, argument: str) -> tuple[Any, ...]:
        """The values in a cursor this order issued, or INVALID_CURSOR."""
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise _invalid(argument, f"{argument}: a cursor is at most {MAX_CURSOR_LENGTH} long")
        try:
            text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
        except ValueError:  # not ASCII, not base64, not UTF-8
            text = ""
        if text.startswith(_OLD_PREFIX):
            raise _invalid(
                argument,
                f"{argument}: cursors changed format and this one is from before; start "
                "again from the first page (without after/before) and use the cursors it "
                "returns",
            )
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            items = None
        if not isinstance(items, list) or not items or not isinstance(items[0], str):
            raise _not_ours(argument, cursor)
        if items[0] != self.tag:
            raise _invalid(
                argument,
                f"{argument}: this cursor was issued for another list or another orderBy; "
                "page with the list and orderBy it came from, or start again from the "
                "first page",
            )
        if len(items) != len(self.columns) + 1:
            raise _not_ours(argument, cursor)
        try:
            values = tuple(
                _from_json(column, item)
                for column, item in zip(self.columns, items[1:], strict=True)
            )
            again = self.encode(values)
        except (ValueError, TypeError, ArithmeticError, UnicodeError, RecursionError):
            raise _not_ours(argument, cursor) from None
        if again != cursor:
            raise _not_ours(argument, cursor)
        return values

    # --- conditions -----------------------------------------------------------------

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows that sort after the row with these values (never NULL for such a row;
        FALSE or NULL for the others)."""
        return self._beyond(values, later=True)

    def before(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows that sort before the row with these values."""
        return self._beyond(values, later=False)

    def _beyond(self, values: Sequence[Any], *, later: bool) -> ColumnElement[bool]:
        bound = [
            literal(value, type_=column.type) if value is not None else None
            for column, value in zip(self.columns, values, strict=True)
        ]
        alternatives: list[ColumnElement[bool]] = []
        equal: list[ColumnElement[bool]] = []
        lead: ColumnElement[bool] | None = None
        for term in self._parsed:
            value = bound[term.key]
            expr = term.expression
            if value is None:
                # NULLs sort last: after NULL only NULL follows (equal); before it, any value.
                beyond: ColumnElement[bool] = false() if later else expr.is_not(None)
                same: ColumnElement[bool] = expr.is_(None)
            else:
                at = _with(expr, self.columns[term.key], value)
                greater = later != term.descending
                beyond = expr > at if greater else expr < at
                if later and term.nullable:
                    beyond = or_(beyond, expr.is_(None))
                same = expr == at
                if not alternatives:
                    # The same bound on the first term alone, which an index can seek to
                    # (the alternatives below can only filter).
                    lead = expr >= at if greater else expr <= at
                    lead = or_(lead, expr.is_(None)) if later and term.nullable else lead
            alternatives.append(and_(*equal, beyond) if equal else beyond)
            equal.append(same)
        if not alternatives:
            return true()
        return and_(lead, or_(*alternatives)) if lead is not None else or_(*alternatives)


def _invalid(argument: str, message: str) -> DomainError:
    return DomainError(message, code=ErrorCode.INVALID_CURSOR, field=argument)


def _not_ours(argument: str, cursor: str) -> DomainError:
    return _invalid(argument, f"{argument}: {cursor[:60]!r} is not a cursor of this list")


def _parse(term: ColumnElement[Any], columns: list[ColumnElement[Any]]) -> _Term:
    """A term's expression, direction and NULL placement, and its column (added to
    `columns` when new)."""
    nulls_last = False
    element: Any = term
    if isinstance(element, UnaryExpression) and element.modifier is operators.nulls_last_op:
        nulls_last, element = True, element.element
    if not (
        isinstance(element, UnaryExpression)
        and element.modifier in (operators.asc_op, operators.desc_op)
    ):
        raise TypeError(f"an order term needs ASC or DESC (and NULLS LAST): {term}")
    descending = element.modifier is operators.desc_op
    expression = element.element
    found = [e for e in iterate(expression) if isinstance(e, ColumnClause)]
    if len({id(c) for c in found}) != 1:
        raise TypeError(f"an order term must be a function of one column: {term}")
    column = found[0]
    known = [index for index, seen in enumerate(columns) if seen is column]
    if not known:
        columns.append(column)
    nullable = bool(getattr(column, "nullable", True))
    if nullable and not nulls_last:
        raise TypeError(f"an order term of a nullable column needs NULLS LAST: {term}")
    return _Term(expression, known[0] if known else len(columns) - 1, descending, nullable)


def _with(expression: ColumnElement[Any], column: Any, value: Any) -> ColumnElement[Any]:
    """`expression` with `value` in place of `column`."""
    if expression is column:
        return value  # type: ignore[no-any-return]

    def swap(element: Any, **_kw: Any) -> Any:
        return value if element is column else None

    opts: dict[str, Any] = {}
    replaced: ColumnElement[Any] = replacement_traverse(expression, opts, swap)
    return replaced


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    raise TypeError(f"no cursor spelling for {type(value).__name__}")


def _from_json(column: Any, item: Any) -> Any:
    """The value of `column` from its cursor spelling; ValueError if it is not one that
    column could hold."""
    type_ = column.type
    if item is None:
        if not getattr(column, "nullable", True):
            raise ValueError("NULL in a column that holds none")
        return None
    impl = getattr(type_, "impl_instance", type_)
    if isinstance(impl, Boolean):
        if not isinstance(item, bool):
            raise ValueError("not a boolean")
        return item
    if isinstance(impl, Integer):
        if isinstance(item, bool) or not isinstance(item, int) or not -_BIGINT <= item < _BIGINT:
            raise ValueError("not a 64-bit integer")
        return item
    if not isinstance(item, str):
        raise ValueError("not text")
    if "\x00" in item:  # no column holds it (PostgreSQL text cannot)
        raise ValueError("a NUL character")
    if isinstance(impl, Numeric):
        try:
            amount = Decimal(item)
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not amount.is_finite():
            raise ValueError("not finite")
        check = getattr(type_, "check", None)
        if check is not None and str(check(amount)) != item:
            raise ValueError("not spelled as stored")
        return amount
    if isinstance(impl, DateTime):
        moment = datetime.fromisoformat(item)
        if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
            raise ValueError("not UTC")
        return moment.astimezone(UTC)
    if isinstance(impl, Date):
        return date.fromisoformat(item)
    if isinstance(impl, SAEnum):
        if item not in impl.enums:
            raise ValueError("not one of the enum's values")
        return item
    if isinstance(impl, String):
        if impl.length is not None and len(item) > impl.length:
            raise ValueError("longer than the column")
        return item
    raise ValueError(f"no cursor values for {type_!r}")

"""JSON text written by the database, spelled as the answer's encoder spells it.

The compiled path builds a whole answer in the database as one text (in_database.py).
That text goes into the response as it is, so it must be the same bytes orjson writes for
the answer the schema's serializers would build in Python: no spaces, keys in the
operation's order, strings escaped alike (`to_json` escapes the same characters:
quote, backslash, and control characters as \\b \\f \\n \\r \\t or \\u00xx), values
serialized as the schema does (`value_sql`). Objects and lists are therefore written
by concatenating text, not with `json_build_object` (which writes `"a" : 1`).

Where PostgreSQL and SQLite spell a value differently (SQLite keeps an ExactDecimal as
a count of units, dates and moments as text, and has no base64), the expression holds
both (`by_dialect`): the statement is written for the database it is sent to. SQLite's
`json_quote` escapes as orjson does (tests/graphql/compiled/test_in_database.py).

Each expression here is the JSON text of one value and is never NULL: a column that
may be NULL gives `null`, and a value this module cannot spell (an enum's column
holding a value the enum has not, a date PostgreSQL holds as infinity, whose `to_char`
is NULL) gives `UNWRITTEN`, a control character no JSON text holds unescaped: the
caller finds it in the answer and builds that answer from rows instead. Without it,
one NULL would make its row's whole text NULL, and `string_agg` would leave the row
out of its list without a word (review of h15json).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import reduce
from typing import Any

from graphql import GraphQLEnumType, GraphQLField, GraphQLNonNull, get_named_type
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from sqlalchemy import Boolean, ColumnElement, Date, Integer, String, Text, case, func, type_coerce
from sqlalchemy import Enum as SAEnum
from sqlalchemy import cast as sql_cast
from sqlalchemy import literal_column as _literal_column
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    ColumnClause,
    ExpressionClauseList,
    Grouping,
)

from app.db.functions import SQLITE_BASE64URL, UNWRITTEN_MARK, by_dialect
from app.db.types import ExactDecimal, UTCDateTime, sqlite_is_integer, stored_decimal_text

Json = ColumnElement[str]
# The most decimals of a Decimal column written by the database as Python's str() writes
# it: with more, a small value (0.0000001) is 1E-7 in Python.
MAX_PLAIN_SCALE = 6


def constant(text: str) -> Json:
    """A fixed piece of JSON text (a key, a punctuation mark, a type's name)."""
    return _literal_column("'" + text.replace("'", "''") + "'", Text)


def string(value: str) -> Json:
    return constant(json.dumps(value, ensure_ascii=False))


# What a value not spelled here gives (see the module's docstring).
UNWRITTEN_CHARACTER = UNWRITTEN_MARK
UNWRITTEN = by_dialect(_literal_column("chr(1)", Text), _literal_column("char(1)", Text))
NULL = constant("null")
TRUE, FALSE = constant("true"), constant("false")


def concat(parts: Sequence[Json | str]) -> Json:
    """The parts one after the other, as few concatenations as can be: concatenations
    among them are spliced in and adjacent constants merged (each `||` copies the
    text so far, for every row)."""
    merged: list[Any] = []
    for part in _spliced(parts):
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    pieces: list[Json] = [constant(p) if isinstance(p, str) else p for p in merged]
    return reduce(lambda a, b: a.concat(b), pieces)


def _spliced(parts: Sequence[Any]) -> list[Any]:
    found: list[Any] = []
    pending = list(reversed(parts))
    while pending:
        part = pending.pop()
        if isinstance(part, Grouping):
            pending.append(part.element)
        elif isinstance(part, BinaryExpression) and part.operator is operators.concat_op:
            pending += [part.right, part.left]
        elif isinstance(part, ExpressionClauseList) and part.operator is operators.concat_op:
            pending += reversed(part.clauses)
        elif isinstance(part, ColumnClause) and part.is_literal and part.name.startswith("'"):
            found.append(part.name[1:-1].replace("''", "'"))  # a constant's text
        else:
            found.append(part)
    return found


def quoted(text: Json) -> Json:
    """Text that needs no escaping (base64, digits, ISO dates) as a JSON string."""
    return concat(['"', text, '"'])


def escaped(value: Any) -> Json:
    """Any text as a JSON string (`null` for NULL). On SQLite, NULL for a value of
    another type there (a BLOB or a number written by other SQL): not spelled here."""
    text = type_coerce(value, Text)
    stored = func.typeof(text).in_([_literal_column("'text'"), _literal_column("'null'")])
    return by_dialect(sql_cast(func.to_json(text), Text), case((stored, func.json_quote(text))))


def boolean(condition: ColumnElement[bool]) -> Json:
    return case((condition, TRUE), else_=FALSE)


def base64url(text: Json) -> Json:
    """Text's UTF-8 bytes in base64url with padding, as Python's urlsafe_b64encode
    (PostgreSQL's base64 breaks lines every 76 characters; SQLite calls Python's)."""
    encoded = func.encode(func.convert_to(text, "UTF8"), "base64")
    return by_dialect(func.translate(encoded, "+/\n", "-_"), getattr(func, SQLITE_BASE64URL)(text))


# GraphQL's Int: a 32-bit signed integer (graphql-core's bounds, which its serializer
# holds every Int to).
INT_RANGE: tuple[int, int] = (int(GRAPHQL_MIN_INT), int(GRAPHQL_MAX_INT))


def integer(column: Any, bounds: tuple[int, int] | None = None) -> Json:
    """An integer column's digits. SQLite's INTEGER column holds whatever other SQL
    wrote (a REAL, a text, a BLOB, a number beyond `bounds`): NULL for those there, not
    spelled here (PostgreSQL's column holds its type's integers only)."""
    digits = sql_cast(column, Text)
    held = sqlite_is_integer(column)
    if bounds is not None:
        low, high = bounds
        held = held & column.between(_literal_column(str(low)), _literal_column(str(high)))
    return by_dialect(digits, case((held, digits)))


def moment(column: Any) -> Json:
    """A UTC timestamp as Python's isoformat writes it: microseconds only when not
    zero, the offset as +00:00. SQLite holds it as SQLAlchemy writes it, UTC
    `YYYY-MM-DD HH:MM:SS.ffffff`; any other text there gives NULL."""
    utc = column.op("AT TIME ZONE")(_literal_column("'UTC'"))
    fraction = case(
        (func.date_trunc("second", utc) == utc, constant("")),
        else_=func.to_char(utc, ".US"),
    )
    written = concat([func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS'), fraction, constant("+00:00")])
    stored = type_coerce(column, Text)
    on_sqlite = case(
        (
            func.length(stored) == 26,
            concat(
                [
                    func.substr(stored, 1, 10),
                    "T",
                    func.substr(stored, 12, 8),
                    case(
                        (func.substr(stored, 21) == "000000", constant("")),
                        else_=func.substr(stored, 20),
                    ),
                    "+00:00",
                ]
            ),
        )
    )
    return quoted(by_dialect(written, on_sqlite))


def day(column: Any) -> Json:
    """A date as its isoformat, quoted: SQLite holds that text already."""
    stored = type_coerce(column, Text)
    return quoted(
        by_dialect(
            func.to_char(column, "YYYY-MM-DD"),
            case((func.length(stored) == 10, stored)),
        )
    )


def or_unwritten(value: Json) -> Json:
    """`value`, or `UNWRITTEN` where it came out NULL."""
    return func.coalesce(value, UNWRITTEN)


def nullable(value: Json, column: Any) -> Json:
    """`value`, the JSON text of `column`'s value: `null` where the column is NULL,
    `UNWRITTEN` where the value is not but its text came out NULL."""
    written = or_unwritten(value)
    if getattr(column, "nullable", True):
        return case((column.is_(None), NULL), else_=written)
    return written


def unwritten_or_base64url(text: Json) -> Json:
    """`base64url(text)`, or `UNWRITTEN` when `text` holds a value not spelled here: the
    encoding would hide the mark (SQLite's base64url, in Python, looks for it itself)."""
    found = type_coerce(func.strpos(text, UNWRITTEN), Integer) > 0
    on_postgresql = case((found, UNWRITTEN), else_=base64url(text))
    return by_dialect(on_postgresql, getattr(func, SQLITE_BASE64URL)(text))


def stored_value(column: Any) -> Json | None:
    """A column's value as JSON the way a keyset cursor spells it (app/kit/keyset.py
    `_to_json`), or None for a type written differently."""
    type_ = column.type
    if isinstance(type_, SAEnum | String):  # a StrEnum is its stored text
        found = escaped(column)
    elif isinstance(type_, Boolean):
        found = boolean(column)
    elif isinstance(type_, Integer):
        found = integer(column)
    elif isinstance(type_, Date):
        found = day(column)
    elif isinstance(type_, ExactDecimal) and type_.scale <= MAX_PLAIN_SCALE:
        found = quoted(stored_decimal_text(column, type_.scale))
    elif isinstance(type_, UTCDateTime):
        found = moment(column)
    else:
        return None
    return nullable(found, column)


def value_sql(graphql_field: GraphQLField, column: Any) -> Json | None:
    """A column's value serialized as the field's GraphQL type serializes it, or None
    when that is not written here (the answer is then built in Python). A non-null
    field over a column that may hold NULL is left to Python, which hands such a row
    to the reference executor (an error there)."""
    required = isinstance(graphql_field.type, GraphQLNonNull)
    if required and getattr(column, "nullable", True):
        return None
    named = get_named_type(graphql_field.type)
    type_ = column.type
    found: Json | None = None
    if isinstance(named, GraphQLEnumType):
        if not isinstance(type_, SAEnum):
            return None
        # Every value the column may hold is one of the enum's (its CHECK constraint).
        found = case(
            *((column == value.value, string(name)) for name, value in named.values.items()),
            else_=UNWRITTEN,
        )
    elif (
        named.name in ("String", "ID")
        and isinstance(type_, String)
        and not isinstance(type_, SAEnum)
    ):
        found = escaped(column)
    elif named.name == "Int" and type(type_) is Integer:  # 32 bits, as GraphQL's Int
        found = integer(column, INT_RANGE)
    elif named.name == "Boolean" and isinstance(type_, Boolean):
        found = boolean(column)
    elif named.name == "Date" and isinstance(type_, Date):
        found = day(column)
    elif named.name == "DateTime" and isinstance(type_, UTCDateTime):
        found = moment(column)
    elif named.name == "Decimal" and isinstance(type_, ExactDecimal):
        # Read back at the column's scale (ExactDecimal), written as format(v, "f"):
        # PostgreSQL's text of a NUMERIC(p, s).
        found = quoted(stored_decimal_text(column, type_.scale))
    if found is None:
        return None
    return nullable(found, column)


def global_id(type_name: str, id_column: Any) -> Json:
    """app/kit/ids.py `encode_global_id`: base64url of `Type:pk`, unpadded."""
    raw = concat([f"{type_name}:", sql_cast(id_column, Text)])
    return quoted(func.rtrim(base64url(raw), "="))

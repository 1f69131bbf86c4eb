"""SQL functions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import binascii
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement, GenericFunction

SQLITE_LOWER = "pl_lower"


class unicode_lower(GenericFunction[str]):
    """lower() for every script. SQLite's own lower() folds only ASCII letters, so there
    it calls a Python function registered on each connection (see db/session.py)."""

    type = String()
    inherit_cache = True


@compiles(unicode_lower)
def _lower_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _lower_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


def python_lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


class code_point(GenericFunction[str]):
    """Compare text by Unicode code point, whatever the database's locale. SQLite
    already does (BINARY); PostgreSQL needs the "C" collation, or its ICU or libc
    locale would order text differently from SQLite and from other installations."""

    type = String()
    inherit_cache = True


@compiles(code_point)
def _code_point_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


@compiles(code_point, "sqlite")
def _code_point_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


class days_between(GenericFunction[int]):
    """`days_between(later, earlier)`: whole days from one date to another, negative
    when `later` is earlier. PostgreSQL subtracts dates to an integer; SQLite stores
    dates as ISO text, so there the Julian day numbers are subtracted (whole-day dates
    differ by exact integers in a double) and cast to an integer."""

    type = Integer()
    inherit_cache = True


@compiles(days_between)
def _days_between_default(element: Any, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)"
    )


SQLITE_BASE64URL = "pl_base64url"


# The mark of a value the compiled path's SQL did not spell (app/graphql/compiled/sql_json.py).
UNWRITTEN_MARK = "\x01"


# base64's two characters that base64url spells otherwise.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def python_base64url(text: str | None) -> str | None:
    """base64url of the text's UTF-8 bytes, padded (Python's `urlsafe_b64encode`):
    SQLite has no base64 of its own. A text holding UNWRITTEN_MARK gives the mark, which
    the encoding would hide: the text is built once, not again to look for it. Called
    for each row's global id: binascii directly, without urlsafe_b64encode's calls."""
    if text is None or UNWRITTEN_MARK in text:
        return text and UNWRITTEN_MARK
    return binascii.b2a_base64(text.encode(), newline=False).translate(_URL_SAFE).decode()


class by_dialect(FunctionElement[str]):
    """`by_dialect(postgresql, sqlite)`: one value spelled for each database, the first
    on PostgreSQL, the second on SQLite. Both are expressions of the statement (a
    `ClauseAdapter` moves both onto a subquery's columns); only the database's own is
    written into the SQL."""

    type = Text()
    inherit_cache = True
    name = "by_dialect"


@compiles(by_dialect)
def _by_dialect_default(element: Any, compiler: Any, **kw: Any) -> str:
    postgresql, _sqlite = list(element.clauses)
    return str(compiler.process(postgresql, **kw))


@compiles(by_dialect, "sqlite")
def _by_dialect_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    _postgresql, sqlite = list(element.clauses)
    return str(compiler.process(sqlite, **kw))

"""Reports as CSV: what a downloadable report is, and how its rows become a file.

A report is a fixed GraphQL operation (app/graphql/reports/downloads.py), the
arguments it takes and the columns it reads from the result; the route that runs it
is the transport's (`GET /reports/<name>.csv`, app/http/csv.py). Arguments are query
parameters; list arguments take comma-separated values, input objects take JSON.

Every column has a kind, and `cell` is the one place a value becomes a cell: text that
a spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage
return) gets an apostrophe in front, numbers stay numbers (negative ones too), booleans
are TRUE or FALSE, quantities of people lose the zeros after their decimal point. The
file starts with a UTF-8 byte-order mark, which is how Excel knows the encoding (and
shows Chinese text as written).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from app.config import Settings
from app.kit.numbers import parse_integer

Row = list[Any]


class Kind(Enum):
    """What a column holds, which decides how its cells are written (`cell`)."""

    # Anyone's words (titles, names, sources) and codes, enums and dates.
    TEXT = "text"
    # Money and shares: the API's decimal string as it is.
    DECIMAL = "decimal"
    # A quantity of people, households...: the API's decimal without trailing zeros.
    QUANTITY = "quantity"
    # Counts, days, years.
    INTEGER = "integer"
    # TRUE or FALSE, as spreadsheets write booleans.
    FLAG = "flag"


# (header, kind)
Column = tuple[str, Kind]

# What a spreadsheet takes for the start of a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BYTE_ORDER_MARK = "\ufeff"


def _number(text: str) -> bool:
    body = text.removeprefix("-")
    whole, _, fraction = body.partition(".")
    return (
        whole.isdigit()
        and whole.isascii()
        and (not fraction or (fraction.isdigit() and fraction.isascii()))
    )


def cell(kind: Kind, value: Any) -> str:
    """The text of one cell."""
    if value is None:
        return ""
    if kind is Kind.FLAG:
        return "TRUE" if value else "FALSE"
    text = str(value)
    if kind is not Kind.TEXT and _number(text):
        if kind is Kind.QUANTITY and "." in text:
            return text.rstrip("0").rstrip(".")
        return text
    # Text, or a figure that is not a plain number (never from the API's scalars): a
    # spreadsheet must show it, not run it.
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class CsvReport:
    """One downloadable report: its operation, its arguments and how rows are read."""

    query: str
    # Query parameter → (variable name, kind): "str", "int", "list" (comma-separated)
    # or "json" (an input object or a list of them).
    parameters: Mapping[str, tuple[str, str]]
    # The columns (they may depend on the arguments), and the rows, one value a column.
    header: Callable[[dict[str, Any]], list[Column]]
    rows: Callable[[dict[str, Any], dict[str, Any]], Iterator[Row]]
    # Path to a connection in the result: the operation is repeated with `$first` and
    # `$after` until the connection has no next page, so the CSV holds every row.
    paged: tuple[str, ...] | None = None


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def variables_of(report: CsvReport, params: Mapping[str, str]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(report.parameters))
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter; known: {', '.join(report.parameters)}")
    variables: dict[str, Any] = {}
    for name, raw in params.items():
        variable, kind = report.parameters[name]
        if kind == "list":
            variables[variable] = [part.strip() for part in raw.split(",") if part.strip()]
        elif kind == "int":
            number = parse_integer(raw)  # "5", not " 5", "05" or "5_0"
            if number is None:
                raise BadParameter(name, "not a whole number in plain digits")
            variables[variable] = number
        elif kind == "json":
            try:
                variables[variable] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise BadParameter(name, f"not valid JSON ({exc.msg})") from None
            except (ValueError, RecursionError):
                # Nested deeper than the parser follows, or a number of more digits
                # than Python converts: as unreadable as a syntax error.
                raise BadParameter(
                    name, "not readable JSON (nested too deeply, or a number too long)"
                ) from None
        else:
            variables[variable] = raw
    return variables


def write_csv(columns: list[Column], rows: Iterator[Row]) -> str:
    out = io.StringIO()
    out.write(BYTE_ORDER_MARK)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in columns])
    for row in rows:
        writer.writerow([cell(kind, value) for (_, kind), value in zip(columns, row, strict=True)])
    return out.getvalue()


def link_secret(settings: Settings) -> bytes:
    """The secret download links are signed with (create_app sets one when unset)."""
    assert settings.download_link_secret is not None
    return settings.download_link_secret.get_secret_value().encode("utf-8")


def dig(value: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` in nested result objects; None where a step is missing."""
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value

"""Reports as CSV downloads: `GET /reports/<name>.csv?<arguments>`.

Each download runs a fixed GraphQL operation through the same schema, context,
limits and access rules as `/graphql` (and needs the export permission), then writes
its rows as CSV. The figures are therefore the API's own: decimals are the API's
decimal strings, never re-formatted through floats. Arguments are query parameters;
list arguments take comma-separated values, input objects take JSON.

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
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.auth import links
from app.auth.principal import Principal
from app.auth.roles import Permission
from app.config import Settings
from app.db.session import SessionFactory
from app.errors import DomainError, ErrorCode
from app.graphql.http import status_headers
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


ContextAs = Callable[[Request, Callable[[SessionFactory], Awaitable[Principal]]], Awaitable[Any]]


def csv_router(
    schema: strawberry.Schema,
    context_getter: Callable[[Request], Awaitable[Any]],
    context_as: ContextAs,
    reports: Mapping[str, CsvReport],
    settings: Settings,
) -> APIRouter:
    """`context_getter` finds the caller from the Authorization header; `context_as`
    from a signed link (app/auth/links.py), which a browser can open."""
    router = APIRouter()
    secret = link_secret(settings)

    @router.get("/reports/{name}.csv", include_in_schema=False)
    async def download(name: str, request: Request) -> Response:
        # Who asks comes first: a caller who may not export learns nothing else.
        link = links.link_in(request.url.path, request.query_params.multi_items())
        if link is None:
            context = await context_getter(request)
            parameters = dict(request.query_params)
        else:
            if request.headers.get("authorization") is not None:
                return _error(
                    400, "BAD_REQUEST", "send a signed link or an Authorization header, not both"
                )
            context = await context_as(
                request,
                lambda sessions: links.caller_of(
                    link,
                    secret,
                    time.time(),
                    sessions,
                    anonymous_read=settings.anonymous_read,
                    jwt=settings.jwt_enabled,
                ),
            )
            parameters = link.parameters
        context.server_document = True  # the report's query, never the client's text
        try:
            context.principal.require(Permission.EXPORT)
        except DomainError as exc:
            return _refused(exc)
        report = reports.get(name)
        if report is None:
            return _error(404, "NOT_FOUND", f"no report {name!r}; reports: {', '.join(reports)}")
        try:
            variables = variables_of(report, parameters)
        except BadParameter as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        columns = report.header(variables)
        table: list[Row] = []
        limit = context.settings.max_report_groups
        if report.paged is not None:
            variables["first"] = context.settings.max_page_size
        while True:
            result = await schema.execute(
                report.query, variable_values=variables, context_value=context
            )
            if result.errors:
                errors = [error.formatted for error in result.errors]
                codes = {(error.extensions or {}).get("code") for error in result.errors}
                if ErrorCode.BUSY.value in codes:
                    # Nothing is wrong with the request: the client should come back.
                    return JSONResponse(
                        {"errors": errors},
                        status_code=503,
                        headers=status_headers(
                            503, retry_after=context.settings.retry_after_seconds
                        ),
                    )
                return JSONResponse({"errors": errors}, status_code=400)
            assert result.data is not None
            table.extend(report.rows(result.data, variables))
            # A list grows page by page; a report's other answers are bounded by the API.
            if report.paged and len(table) > limit:
                return _error(400, "REPORT_TOO_LARGE", f"more than {limit} rows: filter the report")
            page = dig(result.data, report.paged) if report.paged else None
            if not page or not page["pageInfo"]["hasNextPage"]:
                break
            variables["after"] = page["pageInfo"]["endCursor"]
        body = write_csv(columns, iter(table))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )

    return router


def link_secret(settings: Settings) -> bytes:
    """The secret download links are signed with (create_app sets one when unset)."""
    assert settings.download_link_secret is not None
    return settings.download_link_secret.get_secret_value().encode("utf-8")


def dig(value: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` in nested result objects; None where a step is missing."""
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def _refused(exc: DomainError) -> JSONResponse:
    if exc.code is ErrorCode.UNAUTHENTICATED:
        response = _error(401, exc.code.value, exc.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return _error(403, exc.code.value, exc.message)

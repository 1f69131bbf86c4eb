"""Reports as CSV downloads: `GET /reports/<name>.csv?<arguments>`.

Each download runs a fixed GraphQL operation through the same schema, context,
limits and access rules as `/graphql` (and needs the export permission), then writes
its rows as CSV. The figures are therefore the API's own: decimals are the API's
decimal strings, never re-formatted through floats. Arguments are query parameters;
list arguments take comma-separated values, input objects take JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import strawberry
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.auth.roles import Permission
from app.errors import DomainError, ErrorCode
from app.graphql.http import status_headers
from app.kit.numbers import parse_integer

Row = list[Any]


@dataclass(frozen=True)
class CsvReport:
    """One downloadable report: its operation, its arguments and how rows are read."""

    query: str
    # Query parameter → (variable name, kind): "str", "int", "list" (comma-separated)
    # or "json" (an input object or a list of them).
    parameters: Mapping[str, tuple[str, str]]
    header: Callable[[dict[str, Any]], Row]
    rows: Callable[[dict[str, Any], dict[str, Any]], Iterator[Row]]
    # Path to a connection in the result: the operation is repeated with `$first` and
    # `$after` until the connection has no next page, so the CSV holds every row.
    paged: tuple[str, ...] | None = None


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def _variables(report: CsvReport, params: Mapping[str, str]) -> dict[str, Any]:
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
        else:
            variables[variable] = raw
    return variables


def write_csv(rows: Iterator[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def csv_router(
    schema: strawberry.Schema,
    context_getter: Callable[[Request], Awaitable[Any]],
    reports: Mapping[str, CsvReport],
) -> APIRouter:
    router = APIRouter()

    @router.get("/reports/{name}.csv", include_in_schema=False)
    async def download(name: str, request: Request) -> Response:
        # Who asks comes first: a caller who may not export learns nothing else.
        context = await context_getter(request)
        context.server_document = True  # the report's query, never the client's text
        try:
            context.principal.require(Permission.EXPORT)
        except DomainError as exc:
            return _refused(exc)
        report = reports.get(name)
        if report is None:
            return _error(404, "NOT_FOUND", f"no report {name!r}; reports: {', '.join(reports)}")
        try:
            variables = _variables(report, dict(request.query_params))
        except BadParameter as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        table: list[Row] = [report.header(variables)]
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
            if len(table) > limit + 2:  # a header, and a total row some reports add
                return _error(400, "REPORT_TOO_LARGE", f"more than {limit} rows: filter the report")
            page = dig(result.data, report.paged) if report.paged else None
            if not page or not page["pageInfo"]["hasNextPage"]:
                break
            variables["after"] = page["pageInfo"]["endCursor"]
        body = write_csv(iter(table))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )

    return router


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

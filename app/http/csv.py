"""CSV downloads: `GET /reports/<name>.csv?<arguments>`.

Each download runs its report's fixed GraphQL operation (app/graphql/reports/) through
the same schema, context, limits and access rules as `/graphql` (and needs the export
permission), then writes its rows as CSV (app/graphql/reports/csv.py). The figures are
therefore the API's own: decimals are the API's decimal strings, never re-formatted
through floats. A browser, which cannot send a key, opens a signed link instead
(app/auth/links.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
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
from app.graphql.reports.csv import (
    BadParameter,
    CsvReport,
    Row,
    dig,
    link_secret,
    variables_of,
    write_csv,
)
from app.http.spec import status_headers

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
                    400,
                    ErrorCode.BAD_REQUEST,
                    "send a signed link or an Authorization header, not both",
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
            return refused(exc)
        report = reports.get(name)
        if report is None:
            return _error(
                404, ErrorCode.NOT_FOUND, f"no report {name!r}; reports: {', '.join(reports)}"
            )
        try:
            variables = variables_of(report, parameters)
        except BadParameter as exc:
            return _error(400, ErrorCode.BAD_REQUEST, str(exc))
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
                return _error(
                    400, ErrorCode.REPORT_TOO_LARGE, f"more than {limit} rows: filter the report"
                )
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


def _error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code.value}}]}
    return JSONResponse(body, status)


def refused(exc: DomainError) -> JSONResponse:
    if exc.code is ErrorCode.UNAUTHENTICATED:
        response = _error(401, exc.code, exc.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return _error(403, exc.code, exc.message)

"""IATI downloads: `GET /exports/iati.xml?program=REF&asOf=MOMENT`.

As the CSV downloads (app/http/csv.py): the caller needs the export permission, and the
file is read as of `asOf` and within a partner's initiatives through the same views
as every query (app/views/), so a partner's file holds its initiatives and nothing
else, and a view that cannot be built is refused rather than read unscoped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import strawberry
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.auth.roles import Permission
from app.errors import DomainError, ErrorCode
from app.graphql.context import caller_of
from app.graphql.extensions.query_slots import query_slots
from app.graphql.extensions.views import answered_from_snapshot, answered_from_view
from app.http.csv import refused
from app.http.spec import status_headers
from app.iati.export import CONTENT_TYPE
from app.iati.service import export_file
from app.views.service import check_moment, parse_moment

# A programme's ref in a file name; others get the general name.
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def iati_router(
    schema: strawberry.Schema, context_getter: Callable[[Request], Awaitable[Any]]
) -> APIRouter:
    router = APIRouter()

    @router.get("/exports/iati.xml", include_in_schema=False)
    async def download(request: Request) -> Response:
        # Who asks comes first: a caller who may not export learns nothing else.
        context = await context_getter(request)
        try:
            context.principal.require(Permission.EXPORT)
        except DomainError as exc:
            return refused(exc)
        program = request.query_params.get("program")
        as_of = request.query_params.get("asOf")
        try:
            moment = check_moment(parse_moment(as_of)) if as_of is not None else None
            async with ledger_for(
                context, schema, moment=moment, initiatives=context.principal.initiative_ids
            ):
                result = await export_file(context.reads, program_ref=program, moment=moment)
        except DomainError as exc:
            return export_failed(exc, context.settings.retry_after_seconds)
        name = f"iati-{program}.xml" if program and SAFE_NAME.fullmatch(program) else "iati.xml"
        return Response(
            result.xml,
            media_type=CONTENT_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router


@asynccontextmanager
async def ledger_for(
    context: Any,
    schema: Any,
    *,
    moment: datetime | None,
    initiatives: frozenset[int] | None,
) -> AsyncIterator[None]:
    """Point `context.reads` at what the caller may see as of `moment`: a view for a
    moment or a partner (as the ViewExtension does for queries), else one snapshot of
    the ledger, through one of the caller's query slots."""
    if moment is not None or initiatives is not None:
        async with answered_from_view(context, schema, moment=moment, initiatives=initiatives):
            yield
        return
    slots, caller = query_slots(schema, context.settings), caller_of(context)
    slots.take(caller)
    try:
        async with answered_from_snapshot(context):
            yield
    finally:
        slots.give_back(caller)


_STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BUSY: 503,
    ErrorCode.NOT_PUBLISHABLE: 422,
}


def export_failed(exc: DomainError, retry_after: int) -> JSONResponse:
    status = _STATUS.get(exc.code, 400)
    body = {
        "errors": [{"message": exc.message, "extensions": {"code": exc.code.value, **exc.details}}]
    }
    headers = status_headers(503, retry_after=retry_after) if status == 503 else None
    return JSONResponse(body, status, headers=headers)

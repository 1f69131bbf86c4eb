"""Backup downloads: `GET /exports/ledger.json` (or `.yaml`) `?program=REF&asOf=MOMENT`.

As the IATI download (app/http/iati.py): the caller needs the export permission, and
the file is read as of `asOf` and within a partner's initiatives through the same
views as every query, so a partner's backup holds its initiatives and nothing else.
Drafts of reached figures are written only for a caller who may see them in the API
(`sees_drafts`). Without `program`, the file is a list of documents, one per
programme; with it, one document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.roles import Permission
from app.backup.service import CONTENT_TYPES, Syntax, backup_from, render, sees_drafts
from app.errors import DomainError
from app.http.csv import refused
from app.http.iati import SAFE_NAME, export_failed, ledger_for
from app.views.service import check_moment, parse_moment


def backup_router(
    schema: strawberry.Schema, context_getter: Callable[[Request], Awaitable[Any]]
) -> APIRouter:
    router = APIRouter()

    @router.get("/exports/ledger.{suffix}", include_in_schema=False)
    async def download(request: Request, suffix: str) -> Response:
        # Who asks comes first: a caller who may not export learns nothing else.
        context = await context_getter(request)
        try:
            context.principal.require(Permission.EXPORT)
        except DomainError as exc:
            return refused(exc)
        syntax = Syntax.YAML if suffix in ("yaml", "yml") else Syntax.JSON
        if suffix not in ("json", "yaml", "yml"):
            return Response(status_code=404)
        program = request.query_params.get("program")
        as_of = request.query_params.get("asOf")
        principal = context.principal
        try:
            moment = check_moment(parse_moment(as_of)) if as_of is not None else None
            async with ledger_for(
                context, schema, moment=moment, initiatives=principal.initiative_ids
            ):
                backup = await backup_from(
                    context.reads, program_ref=program, drafts=sees_drafts(principal)
                )
        except DomainError as exc:
            return export_failed(exc, context.settings.retry_after_seconds)
        data = await render(backup, syntax, single=program is not None)
        stem = f"ledger-{program}" if program and SAFE_NAME.fullmatch(program) else "ledger"
        return Response(
            data,
            media_type=CONTENT_TYPES[syntax],
            headers={"Content-Disposition": f'attachment; filename="{stem}.{syntax.value}"'},
        )

    return router

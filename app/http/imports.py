"""The import over HTTP: `POST /imports` with a document of the ledger's format as the
request body (JSON or YAML, a workbook or a zip of CSV files, or IATI XML;
`?dryRun=true` to only see the report), and the format's JSON Schema at
`GET /schemas/ledger-v1.json`.

An import creates programmes, organisations and rates, so it needs the import
permission (admins; partner keys never have it). The body is capped by
MAX_BODY_BYTES like every request's (larger programmes load with `pledge-ledger
import`). The answer is the report the command line prints, as JSON: 200 when written
(or, in a dry run, when it would be), 422 when a row is refused (nothing written).
Every trail entry of the import names the caller's key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError

from app.audit.recorder import is_lock_timeout
from app.auth.roles import Permission
from app.config import Settings
from app.errors import DomainError, ErrorCode
from app.graphql.schema import cited_fields
from app.http.spec import refusal, status_headers
from app.iati.reader import read_any
from app.imports.apply import run_import
from app.imports.document import SCHEMA_PATH, document_schema

JSON = "application/json"
MEDIA_TYPES = {
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
    # An IATI 2.03 activity file (app/iati/reader.py).
    "application/xml",
    "text/xml",
    # A workbook, or a zip of CSV files, one table per record kind (app/imports/sheets.py).
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip",
    "application/x-zip-compressed",
}


@cache
def _published_schema() -> bytes:
    """The format's JSON Schema as served: the code's, so encoded once per process (pydantic
    takes ~50 ms to work it out)."""
    return json.dumps(document_schema(), ensure_ascii=False, separators=(",", ":")).encode()


def imports_router(
    context_getter: Callable[[Request], Awaitable[Any]], settings: Settings
) -> APIRouter:
    router = APIRouter()

    @router.get(SCHEMA_PATH, include_in_schema=False)
    async def ledger_schema() -> Response:
        return Response(_published_schema(), media_type="application/schema+json")

    @router.post("/imports", include_in_schema=False)
    async def upload(request: Request, dryRun: bool = False) -> Response:
        # Who asks comes first: a caller who may not import learns nothing else.
        context = await context_getter(request)
        try:
            context.principal.require(Permission.IMPORT)
        except DomainError as exc:
            return _refused(exc)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in MEDIA_TYPES:
            return refusal(
                415,
                "send the document as the body, Content-Type application/json, application/yaml, "
                "application/xml, application/zip or the xlsx type",
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                accept=JSON,
            )
        data = await request.body()
        try:
            report = await run_import(
                request.app.state.session_factory,
                data,
                context.principal.actor,
                dry_run=dryRun,
                fields=cited_fields(),
                max_bytes=settings.max_body_bytes,
                reason=request.headers.get("x-import-reason") or "import over HTTP",
                reader=read_any,
            )
        except DBAPIError as exc:
            if not is_lock_timeout(exc):
                raise
            return refusal(
                503,
                "another write held the ledger too long; nothing was written, retry",
                ErrorCode.BUSY,
                accept=JSON,
                headers=status_headers(503, retry_after=settings.retry_after_seconds),
            )
        return JSONResponse(report.as_json(), status_code=422 if report.refused else 200)

    return router


def _refused(exc: DomainError) -> Response:
    status = 401 if exc.code is ErrorCode.UNAUTHENTICATED else 403
    return refusal(status, exc.message, exc.code, accept=JSON)

"""/graphql over HTTP, as the GraphQL-over-HTTP specification describes it.

A client whose `Accept` names `application/graphql-response+json` gets that media type
and status codes that say what happened: 200 once execution began (even if a field
failed), 400 for a request that cannot run (unreadable, unparsable, invalid, over a
limit), 401/403 for a caller who may not run it, 503 (with `Retry-After`) when the
service is busy. Without it (no `Accept`, `*/*`, `application/json`) the answer is
`application/json` and 200 whatever the errors, as before: the specification's legacy
behaviour, which existing clients rely on.

Whatever the media type, every refusal is a GraphQL-shaped body with a stable
`extensions.code`, and it names the limit (the setting) it met.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.responses import Response
from strawberry.types import ExecutionResult

from app.errors import ErrorCode

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# graphql-response+json: the status of a result without data (execution never began),
# by the code of its first error; any other code is the client's mistake (400).
_REQUEST_ERROR_STATUS = {
    ErrorCode.UNAUTHENTICATED.value: 401,
    ErrorCode.FORBIDDEN.value: 403,
    ErrorCode.BUSY.value: 503,
    ErrorCode.INTERNAL.value: 500,
}
# Codes of errors that end an operation after execution began: its data stays (null).
_EXECUTION_ERRORS = frozenset({ErrorCode.TIMEOUT.value})
# The code of a refusal made over HTTP, before GraphQL runs, by its status.
_BY_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.REQUEST_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def _quality(accept: str, media_type: str) -> tuple[float, int]:
    """The quality `accept` gives `media_type`, and how specifically (2: by name,
    1: `type/*`, 0: `*/*`, -1: not at all)."""
    main = media_type.split("/", 1)[0]
    best = (0.0, -1)
    for part in accept.split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        name = name.lower()
        if name == media_type:
            specificity = 2
        elif name == f"{main}/*":
            specificity = 1
        elif name == "*/*":
            specificity = 0
        else:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def wants_graphql_response(accept: str | None) -> bool:
    """Whether the client asked for `application/graphql-response+json` by name, and
    likes it at least as well as `application/json`."""
    if not accept:
        return False
    quality, specificity = _quality(accept, GRAPHQL_RESPONSE_JSON)
    return specificity == 2 and quality > 0 and quality >= _quality(accept, JSON)[0]


def media_type_for(accept: str | None) -> str:
    return GRAPHQL_RESPONSE_JSON if wants_graphql_response(accept) else JSON


def status_headers(status: int, *, retry_after: int | None = None) -> dict[str, str]:
    """What a refusal with this status must tell the client besides its body: how to
    authenticate (401), and when to come back (503: `retry_after`, RETRY_AFTER_SECONDS)."""
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if status == 503 and retry_after is not None:
        return {"Retry-After": str(retry_after)}
    return {}


def request_error_status(result: ExecutionResult) -> int | None:
    """The status of a result whose operation never began executing (parse and
    validation errors, limits, refusals): its `data` is left out of the response.
    None for a result of an execution, which keeps its `data` (even null) and is 200."""
    errors = result.errors
    if result.data is not None or not errors:
        return None
    if any(error.path for error in errors):
        return None  # a field failed and nulled its parents: execution ran
    codes = [(error.extensions or {}).get("code") for error in errors]
    if _EXECUTION_ERRORS.intersection(codes):
        return None
    return _REQUEST_ERROR_STATUS.get(str(codes[0]), 400)


class Refused(HTTPException):
    """A request refused before GraphQL runs, with its code and any headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: ErrorCode,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.headers = dict(headers or {})
        self.extensions = extensions


def refusal(
    status: int,
    message: str,
    code: ErrorCode,
    *,
    accept: str | None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A GraphQL-shaped error response (no `data`: nothing ran)."""
    body = {"errors": [{"message": message, "extensions": {"code": code.value, **extensions}}]}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=media_type_for(accept),
        headers={**status_headers(status), **(headers or {})},
    )


def code_for_status(status: int) -> ErrorCode:
    return _BY_STATUS.get(status, ErrorCode.BAD_REQUEST)


def refusal_for(exc: HTTPException, accept: str | None) -> Response:
    """Strawberry's plain-text refusals (and ours) as GraphQL-shaped errors."""
    if isinstance(exc, Refused):
        return refusal(
            exc.status_code,
            exc.reason,
            exc.code,
            accept=accept,
            headers=exc.headers,
            **exc.extensions,
        )
    return refusal(exc.status_code, exc.reason, code_for_status(exc.status_code), accept=accept)

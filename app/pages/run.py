"""Running a page's operations: the schema executed in-process with the caller's
context, exactly as `/graphql` would run them for that caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry

from app.errors import ErrorCode
from app.graphql.context import Context

# What the page answers when an operation fails with a code (else 400).
_STATUS = {
    ErrorCode.UNAUTHENTICATED.value: 401,
    ErrorCode.FORBIDDEN.value: 403,
    ErrorCode.NOT_FOUND.value: 404,
    ErrorCode.BUSY.value: 503,
    ErrorCode.TIMEOUT.value: 503,
    ErrorCode.INTERNAL.value: 500,
}


@dataclass
class PageFailed(Exception):
    """An operation of the page answered with errors: the first one's code and message
    (what the API would have told the caller), and the HTTP status of the page. The
    pages' own failures (nothing found, a refused form) say so (`ours` in
    `extensions`): their message is a label of the catalogues, translated on the page."""

    code: str
    message: str
    status: int
    extensions: dict[str, Any] = field(default_factory=dict)


async def run(
    schema: strawberry.Schema, context: Context, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The data of `query` for the caller of `context`; PageFailed on any error. Each
    operation of a page runs on a copy of the request's context (loaders and views of
    its own), as each operation of a WebSocket connection does."""
    operation = context.for_operation()
    # The page's own document, not a client's: the allow-list does not apply to it.
    operation.server_document = True
    result = await schema.execute(query, variable_values=variables, context_value=operation)
    if result.errors:
        error = result.errors[0]
        extensions = dict(error.extensions or {})
        code = str(extensions.get("code", ErrorCode.INTERNAL.value))
        raise PageFailed(code, error.message, _STATUS.get(code, 400), extensions)
    assert result.data is not None
    return result.data

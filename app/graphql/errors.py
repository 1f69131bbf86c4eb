"""How errors reach GraphQL clients.

Expected problems (DomainError) keep their message and gain `extensions.code` (plus
`field` and details). Anything unexpected is masked: the client gets `INTERNAL` and an
error id, the log gets the detail under that id — never SQL, paths or tracebacks.
The client's own mistakes get GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED or
BAD_USER_INPUT (a value of the wrong type), unless a limit gave them a code already.
Unless FIELD_SUGGESTIONS is on, their "Did you mean ...?" hints are left out: they
would spell out the schema to a caller guessing at it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import DomainError

log = logging.getLogger("app.graphql")

INTERNAL_MESSAGE = "Internal server error"


class ErrorCodesExtension(SchemaExtension):
    """Gives every error a code; masks the unexpected ones (parse to execution)."""

    def __init__(self, *, field_suggestions: bool = True) -> None:
        self.field_suggestions = field_suggestions

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = [present(error, self.field_suggestions) for error in errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Each result of a subscription (and of any operation over WebSocket) is sent
        # before the operation ends: its errors are presented here, one by one.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [present(error, self.field_suggestions) for error in errors]
        yield


def present(error: GraphQLError, field_suggestions: bool = True) -> GraphQLError:
    """The error as a client may see it."""
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, Any] = {"code": original.code.value}
        if original.field:
            extensions["field"] = original.field
        extensions.update(original.details)
        return _rebuild(error, original.message, extensions, original)
    if original is None or isinstance(original, GraphQLError):
        # The client's own mistake: syntax, validation, a value of the wrong type.
        message = error.message if field_suggestions else without_suggestions(error.message)
        if (error.extensions or {}).get("code"):
            if message == error.message:
                return error
            return _rebuild(error, message, dict(error.extensions or {}), None)
        return _rebuild(error, message, {"code": _client_error_code(error)}, None)
    error_id = uuid.uuid4().hex[:16]
    log.error(
        "unexpected error %s at %s",
        error_id,
        ".".join(str(p) for p in error.path or ()),
        exc_info=(type(original), original, original.__traceback__),
    )
    return _rebuild(error, INTERNAL_MESSAGE, {"code": "INTERNAL", "errorId": error_id}, None)


def _rebuild(
    error: GraphQLError, message: str, extensions: dict[str, Any], original: Exception | None
) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


# graphql-core's hint, always at the end of a message: " Did you mean 'a' or 'b'?"
SUGGESTION = " Did you mean "


def without_suggestions(message: str) -> str:
    """The message without graphql-core's "Did you mean ...?" hint."""
    at = message.rfind(SUGGESTION)
    if at < 0 or not message.endswith("?"):
        return message
    return message[:at]


# Strawberry's limiters report plain validation errors; these give each its own code.
_LIMIT_CODES = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found", "TOO_MANY_ALIASES"),
    ("Document contains more than", "TOO_MANY_TOKENS"),
)


def _client_error_code(error: GraphQLError) -> str:
    for phrase, code in _LIMIT_CODES:
        if phrase in error.message:
            return code
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$") or error.path is not None:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"

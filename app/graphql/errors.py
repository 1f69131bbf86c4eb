"""How errors reach GraphQL clients.

Expected problems (DomainError) keep their message and gain `extensions.code` (plus
`field` and details). Anything unexpected is masked: the client gets `INTERNAL` and an
error id, the log gets the detail under that id — never SQL, paths or tracebacks.
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
    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = [present(error) for error in errors]


def present(error: GraphQLError) -> GraphQLError:
    """The error as a client may see it."""
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, Any] = {"code": original.code.value}
        if original.field:
            extensions["field"] = original.field
        extensions.update(original.details)
        return _rebuild(error, original.message, extensions, original)
    if original is None or isinstance(original, GraphQLError):
        return error  # syntax, validation and input-coercion errors are the client's own
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

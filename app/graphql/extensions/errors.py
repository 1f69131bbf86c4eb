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
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app.db.session import database_unreachable
from app.errors import DomainError, ErrorCode

log = logging.getLogger("app.graphql")

# Raised through the operation for the HTTP layer to answer (400, 405), not errors.
_ANSWERED_OVER_HTTP = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)

INTERNAL_MESSAGE = "Internal server error"
# The database was away (down, restarting, the connection cut): nothing the client did.
UNREACHABLE_MESSAGE = (
    "the database cannot be reached right now; retry shortly. A write that met this may "
    "or may not have been applied: retry it with the same idempotencyKey to apply it once"
)
# ... and the same before an operation began: it did not run.
UNREACHABLE_BEFORE_MESSAGE = "the database cannot be reached right now; nothing ran: retry shortly"


class ErrorCodesExtension(SchemaExtension):
    """Gives every error a code; masks the unexpected ones (parse to execution)."""

    def __init__(self, *, field_suggestions: bool = True) -> None:
        self.field_suggestions = field_suggestions

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except _ANSWERED_OVER_HTTP:
            raise
        except GraphQLError as error:
            raise present(error, self.field_suggestions) from None
        except Exception as exc:
            # Raised by another extension's hook (closing a view, say): strawberry would
            # answer with the exception's own message, unmasked. Presented here, it is
            # masked like any other unexpected error.
            unexpected = GraphQLError(str(exc), original_error=exc)
            raise present(unexpected, self.field_suggestions) from None
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
    if isinstance(original, GraphQLError) and isinstance(original.original_error, DomainError):
        # A variable's value a scalar refused with a code (a day outside the range):
        # graphql-core names the variable and wraps the scalar's error.
        domain, said = original.original_error, original.message
        where = error.message[: -len(said)] if error.message.endswith(said) else ""
        return _domain(error, domain, where + domain.message)
    if isinstance(original, DomainError):
        return _domain(error, original, original.message)
    if isinstance(original, _ANSWERED_OVER_HTTP):
        # Over HTTP the router answers these (400); over WebSocket they arrive here: an
        # operation name the document lacks, or none for a document of several.
        return _rebuild(error, error.message, {"code": ErrorCode.BAD_REQUEST.value}, None)
    if original is None or isinstance(original, GraphQLError):
        # The client's own mistake: syntax, validation, a value of the wrong type.
        message = error.message if field_suggestions else without_suggestions(error.message)
        if (error.extensions or {}).get("code"):
            if message == error.message:
                return error
            return _rebuild(error, message, dict(error.extensions or {}), None)
        return _rebuild(error, message, {"code": _client_error_code(error).value}, None)
    unread = f", but encountered error '{original}'; found"
    if unread in error.message:
        # graphql-core could not read a value with its scalar's parser (an Int of more
        # digits than Python converts, say): the client's mistake. What the parser said
        # is Python's, not the service's, and is left out.
        message = error.message.replace(unread, ", found")
        return _rebuild(error, message, {"code": _client_error_code(error).value}, None)
    error_id = uuid.uuid4().hex[:16]
    if database_unreachable(original):
        # Passing, and the client may retry: BUSY, as for the other limits it may wait out.
        where = ".".join(str(p) for p in error.path or ())
        log.warning("database unreachable %s at %s: %r", error_id, where, original)
        extensions = {"code": ErrorCode.BUSY.value, "errorId": error_id}
        return _rebuild(error, UNREACHABLE_MESSAGE, extensions, None)
    log.error(
        "unexpected error %s at %s",
        error_id,
        ".".join(str(p) for p in error.path or ()),
        exc_info=(type(original), original, original.__traceback__),
    )
    return _rebuild(
        error, INTERNAL_MESSAGE, {"code": ErrorCode.INTERNAL.value, "errorId": error_id}, None
    )


def _domain(error: GraphQLError, domain: DomainError, message: str) -> GraphQLError:
    extensions: dict[str, Any] = {"code": domain.code.value}
    if domain.field:
        extensions["field"] = domain.field
    extensions.update(domain.details)
    return _rebuild(error, message, extensions, domain)


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


# graphql-core's token limit (strawberry's MaxTokensLimiter) reports a plain syntax
# error; this gives it its own code. Our own limits name theirs (app/graphql/extensions/limits.py).
_LIMIT_CODES = (("Document contains more than", ErrorCode.TOO_MANY_TOKENS),)


def _client_error_code(error: GraphQLError) -> ErrorCode:
    for phrase, code in _LIMIT_CODES:
        if phrase in error.message:
            return code
    if error.message.startswith("Syntax Error"):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if error.message.startswith("Variable '$") or error.path is not None:
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.GRAPHQL_VALIDATION_FAILED

"""PERSISTED_OPERATIONS_ONLY inside the schema: a document that is not registered is
refused before it is parsed.

Which documents are registered is the transport's to know (the manifest it loads at
start-up, app/http/persisted.py): it hands them to every operation's context as its
`allow_list`. The schema is built from the settings alone, so the manifest can be
checked against the very schema that serves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from graphql import GraphQLError, parse
from strawberry.extensions import SchemaExtension

from app.auth.principal import Principal
from app.errors import ErrorCode


class AllowList(Protocol):
    """The documents that may run, and who may run any."""

    def allows(self, query: str | None, principal: Principal | None) -> bool: ...


class AllowListExtension(SchemaExtension):
    """Refuses the documents the context's `allow_list` does not allow (none without
    one) without parsing them.

    The refusal must reach the client the way every pre-execution error does (over
    HTTP and in a WebSocket's `error` message), so the document is swapped for a fixed
    placeholder query, which never runs: validation reports the refusal instead. The
    server's own documents (the CSV downloads', `Context.server_document`) run."""

    def __init__(self) -> None:
        self.refused = False

    def on_operation(self) -> Iterator[None]:
        # Before any parsing (the parser leaves a document it is given alone).
        context = self.execution_context
        if not allowed(context.context, context.query):
            self.refused = True
            # Nothing of the client's request is kept, its operation name included
            # (strawberry keeps it privately): the placeholder is always the same.
            context._provided_operation_name = None
            context.graphql_document = _PLACEHOLDER
        yield

    def on_validate(self) -> Iterator[None]:
        # Listed after the validation cache, which sets the placeholder's (no) errors.
        if self.refused:
            self.execution_context.pre_execution_errors = [
                GraphQLError(
                    "only registered operations run on this server "
                    "(PERSISTED_OPERATIONS_ONLY); send a registered document or its id",
                    extensions={"code": ErrorCode.OPERATION_NOT_ALLOWED.value},
                )
            ]
        yield


def allowed(context: object, query: str | None) -> bool:
    """Whether the caller of `context` may run the document `query`."""
    if getattr(context, "server_document", False):
        return True  # the server's own query (a CSV download), not a client's document
    principal = getattr(context, "principal", None)
    allow_list: AllowList | None = getattr(context, "allow_list", None)
    return allow_list is not None and allow_list.allows(
        query, principal if isinstance(principal, Principal) else None
    )


# What a refused operation is validated as: never parsed from the client's text.
_PLACEHOLDER = parse("query { __typename }")

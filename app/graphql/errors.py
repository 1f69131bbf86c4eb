"""How domain errors reach GraphQL clients: a message plus a stable `extensions.code`."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import DomainError

log = logging.getLogger("app.graphql")


class DomainErrorExtension(SchemaExtension):
    """Adds `extensions { code field ... }` to errors raised as DomainError."""

    def on_execute(self) -> Any:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = [self._decorate(error) for error in errors]

    @staticmethod
    def _decorate(error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            extensions: dict[str, Any] = {"code": original.code.value}
            if original.field:
                extensions["field"] = original.field
            extensions.update(original.details)
            return GraphQLError(
                original.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=original,
                extensions=extensions,
            )
        return error

"""GraphQL-side metrics: operations by name and type, their latency, errors by code.

List it before `ErrorCodesExtension` (app/graphql/schema.py): its end of the operation
then runs after that extension has given every error its code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.utils.operation import get_first_operation

from app.observability.metrics import ANONYMOUS, OTHER_NAME, Metrics

UNKNOWN_TYPE = "unknown"


class OperationMetricsExtension(SchemaExtension):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics
        self._labels: tuple[str, str] | None = None
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        escaped: list[GraphQLError] | None = None
        try:
            yield
        except GraphQLError as error:
            # Raised past the execution (the deadline's TIMEOUT, or another extension's
            # error, coded by ErrorCodesExtension): strawberry answers it as the only
            # error, in a result made after this hook.
            escaped = [error]
            raise
        finally:
            operation, kind = self._count()
            if kind != "subscription":
                seconds = time.perf_counter() - started
                self.metrics.operation_seconds.labels(operation, kind).observe(seconds)
            if not self._streamed:  # over HTTP: the one result, its errors coded by now
                errors = escaped or getattr(self.execution_context.result, "errors", None)
                self._count_errors(errors)

    def on_execute(self) -> Iterator[None]:
        # A subscription is counted when it starts, not when it ends.
        self._count()
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Over WebSocket each result is sent on its own; its errors are coded on the way
        # in (ErrorCodesExtension), so they are counted on the way out.
        self._streamed = True
        try:
            yield
        finally:
            self._count_errors(getattr(result, "errors", None))

    def _count(self) -> tuple[str, str]:
        """The operation's labels; counted once, the first time they are asked for (not
        for a parked subscription the server runs again: `Context.resumed`)."""
        if self._labels is None:
            self._labels = self._operation_labels()
            if not getattr(self.execution_context.context, "resumed", False):
                self.metrics.operations.labels(*self._labels).inc()
        return self._labels

    def _operation_labels(self) -> tuple[str, str]:
        context = self.execution_context
        return operation_labels(self.metrics, context.graphql_document, context.operation_name)

    def _count_errors(self, errors: Iterable[GraphQLError] | None) -> None:
        count_errors(self.metrics, errors)


def operation_labels(
    metrics: Metrics, document: DocumentNode | None, wanted: str | None
) -> tuple[str, str]:
    """The labels an operation is counted under: its name and its type."""
    if document is None:  # not even parsed
        return OTHER_NAME, UNKNOWN_TYPE
    definition: OperationDefinitionNode | None
    if wanted is None:
        definition = get_first_operation(document)
    else:
        definition = next(
            (
                d
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == wanted
            ),
            None,
        )
    if definition is None:  # an operationName the document does not have
        return OTHER_NAME, UNKNOWN_TYPE
    kind = definition.operation.value
    if definition.name is None:
        return ANONYMOUS, kind
    return metrics.operation_label(definition.name.value), kind


def count_errors(metrics: Metrics, errors: Iterable[GraphQLError] | None) -> None:
    """Counts an operation's errors by code."""
    for error in errors or ():
        code = (error.extensions or {}).get("code")
        metrics.errors.labels(metrics.code_label(code)).inc()


def operation_metrics(metrics: Metrics | None) -> list[Callable[[], SchemaExtension]]:
    """The extension for `build_schema`'s list, counting into `metrics` (none without)."""
    if metrics is None:
        return []
    return [lambda: OperationMetricsExtension(metrics)]

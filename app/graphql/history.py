"""`asOf` and partner scoping: an operation answered from a view of the ledger.

Before a query runs, `ViewExtension` reads every `asOf` in it (literals and
variables). With a moment, or for a partner (a caller limited to some initiatives),
it opens a view (app/history/views.py) and points the context's sessions and loaders
at it, so every field under the operation answers from that view; the view is closed
when the operation ends. Mutations never run in a view.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from app.errors import DomainError
from app.graphql.loaders import DataLoaders
from app.history.service import check_moment, one_moment, parse_moment
from app.history.views import open_view

AS_OF_DOC = (
    "Answer as of this moment (with a timezone, not in the future): the records as they "
    "were then, rebuilt from the audit trail; before the first entry there was nothing. "
    "It applies to everything under this field. One moment per operation: every asOf "
    "in an operation must be the same."
)

AsOf = Annotated[datetime | None, strawberry.argument(description=AS_OF_DOC)]

ARGUMENT = "asOf"


def moment_of(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]
) -> datetime | None:
    """The operation's moment, if it names one; DomainError when it names several,
    or one that is naive or in the future."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {
        d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
    }
    moments: list[datetime] = []
    for value in _as_of_values(operation.selection_set, fragments, set()):
        raw: Any = value
        if isinstance(value, VariableNode):
            name = value.name.value
            raw = variables[name] if name in variables else defaults.get(name)
        if isinstance(raw, StringValueNode):
            raw = raw.value
        if not isinstance(raw, str):
            continue  # null (no moment), or a wrong value strawberry will report
        moments.append(check_moment(parse_moment(raw)))
    return one_moment(moments)


def _as_of_values(
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: set[str],
) -> list[ValueNode]:
    found: list[ValueNode] = []
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            found.extend(a.value for a in selection.arguments or () if a.name.value == ARGUMENT)
            if selection.selection_set is not None:
                found.extend(_as_of_values(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            found.extend(_as_of_values(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                found.extend(_as_of_values(fragment.selection_set, fragments, seen))
    return found


def _refusal(error: DomainError) -> GraphQLExecutionResult:
    extensions: dict[str, Any] = {"code": error.code.value}
    if error.field:
        extensions["field"] = error.field
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(error.message, extensions=extensions)]
    )


class ViewExtension(SchemaExtension):
    """Runs a query as of its moment and within its caller's initiatives."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context: Any = execution.context
        document = execution.graphql_document
        operation = (
            get_operation_ast(document, execution.operation_name) if document is not None else None
        )
        if (
            execution.result is not None  # refused already (e.g. by the cost limit)
            or not isinstance(operation, OperationDefinitionNode)
            or operation.operation is not OperationType.QUERY
            or not hasattr(context, "write_sessions")
        ):
            yield
            return
        assert document is not None
        try:
            moment = moment_of(document, execution.operation_name, execution.variables or {})
        except DomainError as error:
            execution.result = _refusal(error)
            yield
            return
        principal = context.principal
        initiatives = principal.initiative_ids if principal.scoped else None
        if moment is None and initiatives is None:
            yield
            return
        # Views read the same database as the context's own sessions.
        engine = context.write_sessions.kw["bind"]
        view = await open_view(engine, moment=moment, initiatives=initiatives)
        sessions, loaders = context.session_factory, context.loaders
        context.session_factory, context.loaders = view.sessions, DataLoaders(view.sessions)
        try:
            yield
        finally:
            # The CSV downloads run several operations on one context.
            context.session_factory, context.loaders = sessions, loaders
            await view.close()

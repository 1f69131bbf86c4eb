"""Strings entering through GraphQL hold no NUL and no lone surrogate (app/kit/text.py).

Checked once per operation, before anything runs, wherever a string can be written:
the document's string literals (a validation rule, cached with the document's other
rules) and the variables sent with it (every string and object key, walked once,
without recursion, after validation). No resolver, filter or mutation has to remember
it. A refusal is INVALID_ARGUMENT, with the argument or variable in `field`
(`filter.title.contains`, `$input.title`); nothing runs, nothing is written.

What stored text may hold beyond that depends on the field (titles, codes, prose), and
is checked with the other rules of a write (app/writes/checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableDefinitionNode,
)
from strawberry.extensions import SchemaExtension

from app.errors import ErrorCode
from app.kit.text import encoding_problem


def _refusal(field: str, problem: str, node: Any = None) -> GraphQLError:
    return GraphQLError(
        f"{field}: {problem}",
        node,
        extensions={"code": ErrorCode.INVALID_ARGUMENT.value, "field": field},
    )


class EncodableStrings(ValidationRule):
    """Refuses string literals holding NUL (`"\\u0000"`). The parser already refuses
    lone surrogates in a document, escaped or not."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.at: list[str] = []  # the argument, variable and input fields being read

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
        self.at.append(f"${node.variable.name.value}")

    def leave_variable_definition(self, *_: Any) -> None:
        self.at.pop()

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self.at.append(node.name.value)

    def leave_argument(self, *_: Any) -> None:
        self.at.pop()

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self.at.append(node.name.value)

    def leave_object_field(self, *_: Any) -> None:
        self.at.pop()

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        problem = encoding_problem(node.value)
        if problem is not None:
            self.report_error(_refusal(".".join(self.at), problem, node))


# Where a value sits in the variables: its parent's place and its own key, so that a
# path is spelled out only for the value refused, and the walk stays linear however
# deeply the variables nest.
_Where = tuple[Any, str] | None


def variables_error(variables: object) -> GraphQLError | None:
    """The first string (or object key) in the variables that no field may take."""
    if not isinstance(variables, Mapping):
        return None  # not variables at all: strawberry refuses those itself
    pending: list[tuple[Mapping[Any, Any] | list[Any], _Where]] = [(variables, None)]
    while pending:
        container, where = pending.pop()
        items = container.items() if isinstance(container, Mapping) else enumerate(container)
        for key, item in items:
            if isinstance(key, str) and (problem := encoding_problem(key)) is not None:
                return _refusal(_path(where) or "variables", f"a name {problem}")
            if isinstance(item, str):
                if (problem := encoding_problem(item)) is not None:
                    return _refusal(_path((where, _step(where, key))), problem)
            elif isinstance(item, Mapping | list):
                pending.append((item, (where, _step(where, key))))
    return None


def _step(where: _Where, key: object) -> str:
    return f"${key}" if where is None else str(key)


def _path(where: _Where) -> str:
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(step)
    return ".".join(reversed(steps))


class VariableStrings(SchemaExtension):
    """Refuses an operation whose variables hold a string no field may take. List it
    after the validation cache: a document that does not validate keeps its own errors,
    and before the read gate, whose refusal replaces this one."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors:
            error = variables_error(context.variables)
            if error is not None:
                context.pre_execution_errors = [error]
        yield

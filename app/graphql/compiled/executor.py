"""Where the compiled path takes over: the executor's operation, once every extension
has let it run.

graphql-core's executor calls `execute_operation` after strawberry's extensions have
done their part (limits, cost, allow-list, read gate, the view or snapshot the
operation reads from) and inside the execution deadline. `answer` is asked there
first: with a plan for the operation, it returns the operation's data; without one,
or when the plan's answer must come from the reference executor (`Fallback`), None.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    located_error,
)

from app.auth.principal import Principal
from app.auth.roles import Permission
from app.db.session import database_error
from app.db.shared import any_statements
from app.graphql.compiled.plan import Fallback, Plan, Unsupported, compile_operation
from app.graphql.compiled.run import Answer
from app.graphql.extensions.memory import large

log = logging.getLogger(__name__)

# Plans kept per process (operations and permission sets): a plan is a few KB; each
# holds its document, which the parser's cache holds anyway.
MAX_PLANS = 512

# How many query operations each path answered in this process: "compiled",
# "fallback" (a plan's answer handed back to the reference executor) and
# "reference" (no plan); "in database": those of "compiled" whose answer the database
# wrote (in_database.py).
PATHS: Counter[str] = Counter()


class _Plans:
    """Plans by operation (its identity: the parser's cache hands out one document per
    distinct text) and permission set; the entry keeps the operation itself, so its
    identity cannot be reused by another while the entry lives."""

    def __init__(self) -> None:
        self._plans: OrderedDict[
            tuple[int, frozenset[Permission]], tuple[OperationDefinitionNode, Plan | None]
        ] = OrderedDict()

    def of(self, executor: Any, permissions: frozenset[Permission]) -> Plan | None:
        operation: OperationDefinitionNode = executor.operation
        key = (id(operation), permissions)
        found = self._plans.get(key)
        if found is not None and found[0] is operation:
            self._plans.move_to_end(key)
            return found[1]
        try:
            plan: Plan | None = compile_operation(
                executor.schema, operation, _fragments(executor), permissions
            )
        except Unsupported:
            plan = None
        except Exception:  # a fault of the compiler: the reference executor answers
            log.warning("operation not compiled", exc_info=True)
            plan = None
        # An operation of a large document is compiled afresh each time, as its
        # document is parsed afresh: an entry keeps the whole document alive.
        loc = operation.loc
        if loc is not None and not large(loc.source.body):
            self._plans[key] = (operation, plan)
            if len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
        return plan


def _located(operation: OperationDefinitionNode, exc: Exception) -> GraphQLError:
    """The error as the reference executor reports a resolver's: located at the
    operation's first root field (the compiled path reads every field at once)."""
    field = next(
        (node for node in operation.selection_set.selections if isinstance(node, FieldNode)),
        None,
    )
    if field is None:
        return located_error(exc, None, None)
    key = field.alias.value if field.alias else field.name.value
    return located_error(exc, [field], [key])


def _fragments(executor: Any) -> dict[str, FragmentDefinitionNode]:
    """The document's fragments by name (graphql-core keeps them with the signatures
    of their variables, an experimental feature no plan expresses)."""
    found: dict[str, FragmentDefinitionNode] = {}
    for name, details in executor.fragments.items():
        if details.variable_signatures:
            raise Unsupported("a fragment with variables")
        found[name] = details.definition
    return found


_PLANS = _Plans()


def compiled_for(executor: Any) -> Plan | None:
    """The plan of the executor's operation, if it is a query the compiled path answers
    for this caller."""
    context = executor.context_value
    settings = getattr(context, "settings", None)
    principal = getattr(context, "principal", None)
    if (
        executor.operation.operation is not OperationType.QUERY
        or settings is None
        or not settings.compiled_reads
        or not isinstance(principal, Principal)
        or not hasattr(context, "writes")  # a context of our own, with our sessions
    ):
        return None
    plan = _PLANS.of(executor, principal.permissions)
    if plan is None:
        PATHS["reference"] += 1
    return plan


async def answer(executor: Any, plan: Plan) -> dict[str, Any] | None:
    """The operation's data by its plan, or None: the reference executor answers."""
    return await answer_by(
        plan,
        executor.schema._strawberry_schema,
        executor.context_value,
        executor.variable_values,
        executor.operation,
    )


async def answer_by(
    plan: Plan,
    strawberry_schema: Any,
    context: Any,
    variables: Any,
    operation: OperationDefinitionNode,
) -> dict[str, Any] | None:
    """The data of `operation` by its plan for `context`'s caller, with its coerced
    `variables` (graphql-core's VariableValues), or None: the reference executor answers.
    The context is marked as answered by the plan (`Context.answered_by`)."""
    answering = Answer(plan, strawberry_schema, context)
    try:
        data = await answering.run(variables)
    except Fallback:
        await any_statements(context.reads)
        PATHS["fallback"] += 1
        return None
    except Exception as exc:
        # A database error ends the operation as it would any resolver's (after a failed
        # statement PostgreSQL takes no other in the snapshot's transaction). A fault of
        # the plan's own code hands it to the reference executor. Cancellation (the
        # execution deadline, a client gone) is not caught.
        if database_error(exc):
            raise _located(operation, exc) from exc
        log.warning("compiled read answered by the reference executor", exc_info=True)
        await any_statements(context.reads)
        PATHS["fallback"] += 1
        return None
    PATHS["compiled"] += 1
    if answering.in_database:
        PATHS["in database"] += 1
    context.answered_by = plan
    return data

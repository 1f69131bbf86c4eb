"""Kept operations: a query the compiled path answered whole, answered again without
strawberry's and graphql-core's per-request pipeline.

The first request of a document goes the normal way (the short way in,
app/http/lean.py, then strawberry's execution with every schema extension). When its
answer came whole from the compiled plan (`Context.answered_by`) with no error, what
every rule decided of the document alone is kept with the plan, per app (its settings
are fixed), by the document's text, the operation's name and the caller's permission
set: it parsed within MAX_TOKENS, it validated (with the depth, alias, field and
root-field limits, and introspection's rule), it is a query the plan answers for that
permission set. The operation's metrics (its labels' counters) are kept with it.

A later request with the same key runs, as plain functions, only the rules that
depend on the request, each the function its extension calls:

- who calls, and the rate limits: made before, by the short way in (`context_for`);
- the read gate (`read_gate`) and the allow-list (`allowed`);
- the variables' strings (`variables_error`) and their coercion (graphql-core's
  `get_variable_values`, as its executor coerces them);
- the moment (`moment_of`): a query with one goes the normal way (a view as of a
  moment is built for the operation's fields, `deferral_of`);
- the price (`QueryCostLimiter.price`, the app's own limiter): only an operation the
  price alone lets run (`plainly_within`: no row count to read, no heavy slot);
- the caller's live query slot and the read snapshot (`live_query`), or for a partner
  the view of its initiatives, leased from the app's pool as the view extension leases
  it (`lease_view`: kept, brought up to date from the trail, or built; within the
  caller's share of views), inside the execution deadline (`timed_out`). A partner is
  never answered from anything but its view: when none can be had, it is refused as
  the normal path refuses it (BUSY, or the build's failure, masked), without a second
  wait or build;
- the operation's metrics (`operation_labels`, `count_errors`) and the errors' codes
  (`present`).

Whenever one of them would refuse, or anything is unusual (variables that do not
coerce, a plan that hands its answer back), None: the normal path answers, and says
why. What this answers is the same `ExecutionResult` the normal path would give the
router, which writes it the same way. KEPT_OPERATIONS=false turns it off.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from graphql.execution.values import VariableValues, get_variable_values
from graphql.utilities import get_operation_ast
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from app.auth.principal import Principal
from app.auth.roles import Permission
from app.config import Settings
from app.errors import DomainError
from app.graphql.compiled.executor import answer_by
from app.graphql.compiled.plan import Plan
from app.graphql.context import Context
from app.graphql.extensions.allow_list import allowed
from app.graphql.extensions.errors import present
from app.graphql.extensions.limits import CACHE_SIZE, cached_parse, timed_out
from app.graphql.extensions.memory import large
from app.graphql.extensions.permissions import read_gate
from app.graphql.extensions.strings import variables_error
from app.graphql.extensions.views import (
    answered_from_lease,
    lease_view,
    live_query,
    moment_of,
)
from app.observability.operations import count_errors, operation_labels

_Key = tuple[str, str | None, frozenset[Permission]]

# What the kept operations may hold, beside CACHE_SIZE entries: a parsed document takes
# about fifty times its text (an 18 KB filter of 4,000 tokens, 0.9 MB), and a kept one
# outlives the parser's and the plans' caches. Dashboards' documents are a few hundred
# characters to a few KB; a longer one is answered the normal way every time, and the
# texts kept add up to at most KEPT_CHARS (some 13 MB of documents at worst).
KEPT_DOCUMENT_CHARS = 8 * 1024
KEPT_CHARS = 256 * 1024


@dataclass(frozen=True, slots=True)
class _Kept:
    document: DocumentNode
    operation: OperationDefinitionNode
    plan: Plan
    # The operation's counters (its labels' children, looked up once): None without
    # metrics.
    counters: tuple[Any, Any] | None
    # Whether the operation declares no variables and, sent none, meets every rule that
    # reads them (their strings, a moment, the price, their coercion): those then
    # depend on the document alone, and are decided once, when it is kept.
    plain: bool


class KeptOperations:
    """The kept operations of one app (`schema`, built with `settings`)."""

    def __init__(self, schema: Any, settings: Settings) -> None:
        self.schema = schema
        self.settings = settings
        self._kept: OrderedDict[_Key, _Kept] = OrderedDict()
        self._chars = 0  # of the texts kept

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, data: GraphQLRequestData, context: Context, result: ExecutionResult) -> None:
        """After the normal path answered `data`: keep it when its plan answered it whole."""
        plan = context.answered_by
        principal = context.principal
        query = data.query
        if (
            plan is None
            or result.errors
            or not self.settings.kept_operations
            or not isinstance(principal, Principal)
            or not isinstance(query, str)
            or large(query)
            or len(query) > KEPT_DOCUMENT_CHARS
        ):
            return
        # The parser's cache hands out the document the normal path ran.
        document = cached_parse(query, self.settings.max_tokens)
        operation = get_operation_ast(document, data.operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return
        metrics = self.schema.metrics
        counters = None
        if metrics is not None:
            labels = operation_labels(metrics, document, data.operation_name)
            counters = (
                metrics.operations.labels(*labels),
                metrics.operation_seconds.labels(*labels),
            )
        plain = False
        if not operation.variable_definitions:
            try:
                plain = self._coerced(document, operation, data.operation_name, None) is not None
            except Exception:  # whatever a rule would make of it, the normal path says
                plain = False
        key = (query, data.operation_name, principal.permissions)
        self._drop(key)
        self._kept[key] = _Kept(document, operation, plan, counters, plain)
        self._chars += len(query)
        while len(self._kept) > CACHE_SIZE or self._chars > KEPT_CHARS:
            self._drop(next(iter(self._kept)))  # the least recently used

    def _drop(self, key: _Key) -> None:
        if self._kept.pop(key, None) is not None:
            self._chars -= len(key[0])

    async def answer(self, data: GraphQLRequestData, context: Context) -> ExecutionResult | None:
        """The answer to `data` of a kept operation, or None: the normal path answers."""
        principal = context.principal
        query = data.query
        if not isinstance(principal, Principal) or not isinstance(query, str) or context.shared:
            return None
        key = (query, data.operation_name, principal.permissions)
        kept = self._kept.get(key)
        if kept is None:
            return None
        self._kept.move_to_end(key)
        try:
            coerced = self._let_run(kept, data, context)
        except Exception:  # whatever a rule would make of it, the normal path says
            return None
        if coerced is None:
            return None
        # Nothing reads the answer before it is encoded (as `execute_single` says).
        context.answer_as_json = True
        scope = principal.initiative_ids
        reads: AbstractAsyncContextManager[None] | None = None
        if scope is None:
            try:
                reads = live_query(self.schema, context)
            except DomainError:  # no slot left: the normal path refuses it (BUSY)
                return None
        started = time.perf_counter()
        seconds = self.settings.execution_timeout_seconds
        # As its executor hands it to the plan.
        strawberry_schema = self.schema._schema._strawberry_schema
        deadline = asyncio.timeout(seconds)
        result: ExecutionResult
        try:
            async with deadline:
                if scope is not None:
                    # A partner: answered from its scope's view, never otherwise.
                    reads = await _partners_view(self.schema, context, scope)
                if reads is None:
                    return None
                async with reads:
                    answered = await answer_by(
                        kept.plan, strawberry_schema, context, coerced, kept.operation
                    )
            if answered is None:
                # The plan handed this request back: its arguments (a cursor that is
                # not one, a negative page) or its rows (a null where the schema has
                # none), never the document, so the operation stays kept: one caller's
                # bad cursor does not send every caller of its permission set the
                # long way.
                return None
            result = ExecutionResult(data=answered, errors=None, extensions={})
        except TimeoutError as exc:
            # The deadline's is TIMEOUT; another (the driver's connect timeout, reaching
            # the primary for a client's own write) is what ErrorCodesExtension makes of
            # it on the normal path, as any failure past the execution.
            error = (
                timed_out(seconds)
                if deadline.expired()
                else GraphQLError(str(exc), original_error=exc)
            )
            result = self._error(error)
        except GraphQLError as error:  # a database error, at the first root field
            result = self._error(error)
        except Exception as exc:
            # A partner's view refused (BUSY: presented with its code), or raised
            # closing the snapshot, say: masked (INTERNAL).
            result = self._error(GraphQLError(str(exc), original_error=exc))
        if kept.counters is not None:
            operations, seconds_taken = kept.counters
            operations.inc()
            seconds_taken.observe(time.perf_counter() - started)
        return result

    def _let_run(
        self, kept: _Kept, data: GraphQLRequestData, context: Context
    ) -> VariableValues | None:
        """The request's variables, coerced, when every rule that depends on the request
        lets the kept operation run as it is; None when one may not."""
        query, variables = data.query, data.variables
        if variables is not None and not isinstance(variables, dict):
            return None
        if read_gate(context, StrawberryOperationType.QUERY) is not None or (
            self.settings.persisted_operations_only and not allowed(context, query)
        ):
            return None
        if kept.plain and not variables:
            return VariableValues({}, {})  # what coercing no variables of none makes
        return self._coerced(kept.document, kept.operation, data.operation_name, variables)

    def _coerced(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> VariableValues | None:
        """`variables` coerced, when the rules that read them (their strings, the
        moment, the price) let the operation run as it is; None when one may not."""
        inputs = variables or {}
        if (
            variables_error(variables) is not None
            or moment_of(document, operation_name, inputs) is not None
        ):
            return None
        costs = self.schema.cost_limiter
        graphql_schema = self.schema._schema
        if not costs.plainly_within(
            costs.price(graphql_schema, document, operation_name, variables)
        ):
            return None
        coerced = get_variable_values(graphql_schema, operation.variable_definitions or (), inputs)
        if isinstance(coerced, list):  # errors: the normal path reports them
            return None
        return coerced

    def _error(self, error: GraphQLError) -> ExecutionResult:
        """The result of an operation that failed as it ran, its error presented as
        ErrorCodesExtension presents it, and counted by its code, as the metrics' hook
        counts it (whether the execution returned it or it was raised past it)."""
        presented = present(error, self.settings.field_suggestions)
        if self.schema.metrics is not None:
            count_errors(self.schema.metrics, [presented])
        return ExecutionResult(data=None, errors=[presented], extensions={})


async def _partners_view(
    schema: Any, context: Context, scope: frozenset[int]
) -> AbstractAsyncContextManager[None]:
    """The reads of a partner's operation: its scope's view, leased (kept, brought up to
    date from the trail, or built), to be entered at once. When no view can be had (over
    the caller's share, no room within VIEW_WAIT_SECONDS, the database refusing the
    build), what the lease raised is the answer, as on the normal path: handing the
    request over would make the caller wait, or the database build, a second time."""
    lease = await lease_view(context, schema, moment=None, initiatives=scope)
    return answered_from_lease(context, lease)

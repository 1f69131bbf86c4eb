"""`asOf` and partner scoping: an operation answered from a view of the ledger.

Before a query runs, `ViewExtension` reads the `asOf` of each root field (literals
and variables; only root fields take one). With a moment, or for a partner (a caller
limited to some initiatives), it leases a view (app/views/views.py) from the app's
pool (app/views/pool.py) and points the context's sessions and loaders at it, so
every field of the operation answers from that view; the lease ends with the
operation. Any other query answers from one read snapshot of the database
(app/db/shared.py). Mutations never run in a view.

The rules that keep this safe: a moment is the whole operation's, so every root field
must name it (a field without `asOf` would otherwise answer from the past unasked); a
partner's query never runs without its view; views are limited per app, per caller and
per kind of caller (the pool), since each holds a database connection; and so are a
caller's live queries, each holding a pooled one (app/graphql/extensions/query_slots.py).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    value_from_ast_untyped,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from app.audit.repository import chain_head
from app.config import Settings
from app.db.session import SessionFactory
from app.db.shared import SharedConnection, read_snapshot
from app.errors import DomainError, ErrorCode
from app.graphql.context import caller_of
from app.graphql.extensions.query_slots import query_slots
from app.graphql.extensions.walks import fragments_of, root_fields
from app.kit.loops import PerLoop, kept_for_loop
from app.views.pool import Lease, ViewPool
from app.views.service import check_moment, one_moment, parse_moment
from app.views.views import Deferral

AS_OF_DOC = (
    "Answer as of this moment (with a timezone, not in the future): the records as they "
    "were then, rebuilt from the audit trail; before the first entry there was nothing. "
    "It applies to everything under this field. One moment per operation: when any root "
    "field has asOf, every root field must have the same one (fields without asOf, such "
    "as changes, cannot be combined with a moment); otherwise INVALID_ARGUMENT."
)

AsOf = Annotated[datetime | None, strawberry.argument(description=AS_OF_DOC)]

ARGUMENT = "asOf"


def moment_of(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]
) -> datetime | None:
    """The operation's moment, if it names one. DomainError when its root fields do not
    all name the same one, or when one is naive or in the future."""
    loc = document.loc
    if loc is not None and ARGUMENT not in loc.source.body:
        return None  # no field of the document names a moment
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    fragments = fragments_of(document)
    values: dict[str, Any] = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    values.update(variables)
    moments: list[datetime | None] = []
    # The fields the operation selects on the root type, through its fragments, without
    # those @skip or @include leave out.
    included = partial(_included, values=values)
    for field in root_fields(operation.selection_set, fragments, included):
        if field.name.value.startswith("__"):
            continue  # __typename and introspection read no records
        raw = next(
            (
                value_from_ast_untyped(a.value, values)
                for a in field.arguments or ()
                if a.name.value == ARGUMENT
            ),
            None,
        )
        if raw is not None and not isinstance(raw, str):
            continue  # a wrong value: strawberry reports it
        moments.append(check_moment(parse_moment(raw)) if raw is not None else None)
    return one_moment(moments)


# The tables a view as of a moment leaves to the trail (`open_view`'s `defer`) when
# the operation is known not to read them: the two that hold a million rows. A
# deferred table is a TEMP VIEW decoding the trail: a statement that reads it decodes
# it again, and one that joins it to itself (a budget line's currency: NOT EXISTS
# over the other lines) decodes it once per row, so an operation that read it would
# take time quadratic in the records. Hence the strict lists below: anything not
# known to be answered without the records builds every shadow.
DEFERRABLE = frozenset({"budget_lines", "transactions"})
# Root fields known not to read budget lines or transactions, with the arguments each
# may take: lists and records of programmes and initiatives by their plain fields
# (no filter or order: a filter may name budget lines), and a budget summary, which
# reads the rollups' history when it holds the moment in the summary's currency
# (`Deferral.rollups`) and when its filter names no date; without a filter at all
# here. `having`, `orderBy` and `first` of a summary apply to its groups once summed
# (app/reports/budget/service.py `budget_summary`).
_ROOT_ARGUMENTS = {
    "budgetSummary": frozenset({"groupBy", "currency", "asOf", "having", "orderBy", "first"}),
    "initiatives": frozenset({"first", "after", "last", "before", "asOf"}),
    "programs": frozenset({"first", "after", "last", "before", "asOf"}),
    "initiative": frozenset({"id", "code", "asOf"}),
    "program": frozenset({"id", "code", "asOf"}),
}
_ROOTS = frozenset(_ROOT_ARGUMENTS)
# The groupings the rollups answer (app/reports/budget/rollups.py `summary_statement`;
# BENEFICIARY_GROUP splits their rows per initiative by the shares).
_ROLLED_DIMENSIONS = frozenset(
    {
        *("PROGRAM", "INITIATIVE", "FOCUS_AREA", "BENEFICIARY_GROUP", "REGION", "CATEGORY"),
        *("TRANSACTION_TYPE", "YEAR", "QUARTER", "MONTH"),
    }
)
# A summary's measures. Programmes and initiatives have fields of the same names
# (`spent`), which read their records in the pledge's currency: so these names are
# known only directly in a summary's `total`, `others` or `measures` (or a fragment
# on BudgetMeasures).
_MEASURES = frozenset(
    {"budgetOriginal", "budgetCurrent", "committed", "disbursed", "spent", "variance"}
    | {"budgetRevision"}
)
_IN_MEASURES = frozenset({"total", "others", "measures", "type:BudgetMeasures"})
# Names of fields anywhere in the document known not to read budget lines or
# transactions (none but a root field may take arguments).
_NAMES = (
    _ROOTS
    | _MEASURES
    | frozenset(
        {
            # connections
            *("totalCount", "pageInfo", "hasNextPage", "hasPreviousPage", "startCursor"),
            *("endCursor", "edges", "node", "nodes", "cursor"),
            # records of programmes and initiatives
            *("id", "createdAt", "updatedAt", "version", "code", "position", "title"),
            *("summary", "focusArea", "status", "plannedStart", "actualStart", "plannedEnd"),
            *("actualEnd", "region", "ref", "name", "announcedOn", "deadline", "pledged"),
            # the budget summary
            *("currency", "groupCount", "groups", "total", "others", "key", "measures"),
            *("beneficiaryGroup", "category", "transactionType", "year", "quarter", "month"),
            *("count", "budgetLineCount", "transactionCount", "amount"),
            "__typename",
        }
    )
)
_QUERY = "type:Query"


def deferral_of(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]
) -> Deferral:
    """What a view as of a moment may leave to the trail for this operation: nothing,
    unless every root field is in `_ROOTS` with only the arguments it lists there (a
    summary grouped by `_ROLLED_DIMENSIONS` only, naming its currency: without one it
    is the pledged currency, unknown until read), every field the document names is in
    `_NAMES` without arguments (but root fields), and measures are read only in a
    summary's. One pass over the document: each selection set once, fragments where
    they are defined (with their type as the context of their fields)."""
    none = Deferral(frozenset(), frozenset())
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return none
    # (selection set, what it selects on: its field's name, or "type:<type condition>")
    stack: list[tuple[Any, str]] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            stack.append((definition.selection_set, _QUERY))
        elif isinstance(definition, FragmentDefinitionNode):
            stack.append((definition.selection_set, "type:" + definition.type_condition.name.value))
    while stack:
        selection_set, parent = stack.pop()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name not in _NAMES or (name in _MEASURES and parent not in _IN_MEASURES):
                    return none
                if selection.arguments and not (parent == _QUERY and name in _ROOTS):
                    return none
                context = name
            elif isinstance(selection, InlineFragmentNode) and selection.type_condition:
                context = "type:" + selection.type_condition.name.value
            else:
                context = parent  # an inline fragment without a type; a spread has none
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                stack.append((inner, context))
    values: dict[str, Any] = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    values.update(variables)
    currencies: set[str] = set()
    for field in root_fields(operation.selection_set, fragments_of(document), lambda _: True):
        name = field.name.value
        if name not in _ROOTS:
            return none
        arguments = {
            a.name.value: value_from_ast_untyped(a.value, values) for a in field.arguments or ()
        }
        if not set(arguments) <= _ROOT_ARGUMENTS[name]:
            return none
        if name != "budgetSummary":
            continue
        currency, dimensions = arguments.get("currency"), arguments.get("groupBy")
        if not isinstance(currency, str):
            return none
        if isinstance(dimensions, str):
            dimensions = [dimensions]  # a list of one may be written as its item
        if not isinstance(dimensions, list) or not all(
            isinstance(d, str) and d in _ROLLED_DIMENSIONS for d in dimensions
        ):
            return none
        currencies.add(currency.upper())
    return Deferral(DEFERRABLE, frozenset(currencies))


def _included(selection: SelectionNode, values: dict[str, Any]) -> bool:
    """False when @skip or @include certainly leaves the selection out; a condition that
    cannot be read counts as included (the stricter choice)."""
    for directive in selection.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
        value = value_from_ast_untyped(condition, values) if condition is not None else None
        if isinstance(value, bool) and value == (name == "skip"):
            return False
    return True


def _refusal(error: DomainError) -> GraphQLExecutionResult:
    extensions: dict[str, Any] = {"code": error.code.value, **error.details}
    if error.field:
        extensions["field"] = error.field
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(error.message, extensions=extensions)]
    )


_POOLS: PerLoop[ViewPool] = weakref.WeakKeyDictionary()


def view_pool(schema: Any, settings: Settings) -> ViewPool:
    """The views of `schema` (so of one app) on the running event loop: a view's
    connection belongs to the loop that opened it, and tests run apps on many loops."""
    return kept_for_loop(_POOLS, schema, lambda: ViewPool(settings, chain_head))


async def close_views(schema: Any) -> None:
    """Close the kept views of `schema` on the running loop (the app is stopping)."""
    by_loop = _POOLS.get(schema)
    pool = by_loop.get(asyncio.get_running_loop()) if by_loop is not None else None
    if pool is not None:
        await pool.close()


def lease_view(
    context: Any,
    schema: Any,
    *,
    moment: datetime | None,
    initiatives: frozenset[int] | None,
    defer: Deferral | None = None,
) -> Awaitable[Lease]:
    """A view of the ledger for one operation of `context`'s caller (see ViewPool)."""
    return view_pool(schema, context.settings).lease(
        context.writes.kw["bind"],
        context.writes,
        caller=caller_of(context),
        partner=initiatives is not None,
        moment=moment,
        initiatives=initiatives,
        defer=defer,
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
        ):
            yield
            return
        assert document is not None
        principal = getattr(context, "principal", None)
        initiatives = principal.initiative_ids if principal is not None else None
        try:
            moment = moment_of(document, execution.operation_name, execution.variables or {})
            lease: Lease | None = None
            if moment is None and initiatives is None:
                pass  # live and unscoped: a snapshot of the context's own database
            elif not hasattr(context, "writes"):
                # Never answer a partner unscoped, nor a moment live.
                raise DomainError(
                    "this operation must run on a view of the ledger, which cannot be opened here",
                    code=ErrorCode.FORBIDDEN
                    if initiatives is not None
                    else ErrorCode.INVALID_ARGUMENT,
                )
            else:
                defer = None
                if moment is not None and initiatives is None:
                    defer = deferral_of(
                        document, execution.operation_name, execution.variables or {}
                    )
                lease = await lease_view(
                    context, execution.schema, moment=moment, initiatives=initiatives, defer=defer
                )
        except DomainError as error:
            execution.result = _refusal(error)
            yield
            return
        if lease is None:
            if not hasattr(context, "writes"):
                yield  # no engine of ours to read from (a test's own context)
                return
            try:
                live = live_query(execution.schema, context)
            except DomainError as error:
                execution.result = _refusal(error)
                yield
                return
            async with live:
                yield
            return
        async with answered_from_lease(context, lease):
            yield


def live_query(schema: Any, context: Any) -> AbstractAsyncContextManager[None]:
    """A live, unscoped query's reads: every statement reads one committed state, through
    a pooled connection, one of the caller's slots (query_slots.py), taken here (a
    DomainError BUSY when the caller has none left) and given back when the block ends.
    Enter it at once."""
    slots, caller = query_slots(schema, context.settings), caller_of(context)
    slots.take(caller)
    return _InSlot(context, slots, caller)


class _InSlot:
    """`live_query`'s block: answered from a snapshot (`answered_from_snapshot`), the
    caller's slot given back at its end, however it ends. A class rather than a
    generator's context manager, as `_FromSnapshot`: it is entered on every query."""

    __slots__ = ("_caller", "_slots", "_snapshot")

    def __init__(self, context: Any, slots: Any, caller: str) -> None:
        self._slots, self._caller = slots, caller
        self._snapshot = answered_from_snapshot(context)

    async def __aenter__(self) -> None:
        try:
            await self._snapshot.__aenter__()
        except BaseException:
            self._slots.give_back(self._caller)
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._snapshot.__aexit__(*exc)
        finally:
            self._slots.give_back(self._caller)


def _point(context: Any, sessions: SessionFactory) -> tuple[Any, Any]:
    """Point the context's sessions and loaders at `sessions`; what they were, for
    `_point_back`."""
    # The operation's own loaders, if it built any yet (they are built on first use).
    saved = context.reads, context._loaders
    # Loaders on `sessions` are built when a field first asks for them: an operation
    # answered without any (`__typename`, one the compiled path answers) builds none.
    context.reads, context._loaders = sessions, None
    return saved


def _point_back(context: Any, saved: tuple[Any, Any]) -> None:
    # The CSV downloads run several operations on one context.
    context.reads, context._loaders = saved


@asynccontextmanager
async def answered_from(context: Any, sessions: SessionFactory) -> AsyncIterator[None]:
    """Point the context's sessions and loaders at `sessions` for the block, then back."""
    saved = _point(context, sessions)
    try:
        yield
    finally:
        _point_back(context, saved)


def answered_from_snapshot(
    context: Any, *, primary: bool = False
) -> AbstractAsyncContextManager[None]:
    """Answer the block from one read snapshot of the context's database: of its read
    replica when it has one (app/replicas/service.py), unless `primary` (a subscription's
    event, which must read what its commit wrote)."""
    return _FromSnapshot(context, primary=primary)


class _FromSnapshot:
    """`answered_from_snapshot`'s block (`answered_from` on the snapshot's sessions, the
    snapshot closed at its end). A class: generators' context managers cost a kept
    query's request (app/http/kept.py) several microseconds each."""

    __slots__ = ("_context", "_primary", "_saved", "_snapshot")

    def __init__(self, context: Any, *, primary: bool) -> None:
        self._context, self._primary = context, primary
        self._snapshot: SharedConnection | None = None
        self._saved: tuple[Any, Any] | None = None

    async def __aenter__(self) -> None:
        context = self._context
        engine = context.writes.kw["bind"]
        replica = getattr(context, "replica", None)
        if replica is not None and not self._primary:
            engine = await replica.engine_for(engine, getattr(context, "min_sequence", None))
        self._snapshot = snapshot = read_snapshot(engine)
        self._saved = _point(context, snapshot.sessions)

    async def __aexit__(self, *exc: Any) -> None:
        snapshot, saved = self._snapshot, self._saved
        assert snapshot is not None and saved is not None
        try:
            _point_back(self._context, saved)
        finally:
            await snapshot.close()


@asynccontextmanager
async def answered_from_view(
    context: Any,
    schema: Any,
    *,
    moment: datetime | None,
    initiatives: frozenset[int] | None,
) -> AsyncIterator[None]:
    """Point the context's sessions and loaders at a view for the block, then back.
    DomainError BUSY when none can be had (see ViewPool)."""
    lease = await lease_view(context, schema, moment=moment, initiatives=initiatives)
    async with answered_from_lease(context, lease):
        yield


@asynccontextmanager
async def answered_from_lease(context: Any, lease: Lease) -> AsyncIterator[None]:
    """Point the context's sessions and loaders at the leased view for the block, then
    back; the lease ends with the block. Enter it at once."""
    try:
        async with answered_from(context, lease.view.sessions):
            yield
    finally:
        await lease.release()


class HeldForEvent:
    """What one event of a live subscription reads through (its caller's slot, a
    snapshot or a view), held from before the event's payload is built until its fields
    are resolved (the schema's Executor gives it back then), never while the event is
    sent or waits for the subscriber to take it: a slow reader holds no connection.
    A payload carries it as `_held`; `release` is safe to call again."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()

    async def enter(self, manager: AbstractAsyncContextManager[Any]) -> None:
        await self._stack.enter_async_context(manager)

    async def release(self) -> None:
        await self._stack.aclose()


def held_for(payload: Any) -> HeldForEvent | None:
    held = getattr(payload, "_held", None)
    return held if isinstance(held, HeldForEvent) else None

"""The strawberry Schema, built with the limits of the running settings."""

from __future__ import annotations

import copy
import inspect
from asyncio import iscoroutinefunction
from collections.abc import Hashable, Iterable, Sequence
from contextlib import AsyncExitStack, _AsyncGeneratorContextManager, _GeneratorContextManager
from datetime import date, datetime
from decimal import Decimal
from functools import cache, partial
from types import GeneratorType, TracebackType
from typing import Any, cast

import strawberry
from graphql import GraphQLError, GraphQLOutputType, GraphQLResolveInfo, OperationType
from graphql.pyutils import Path, gather_with_cancel
from graphql.pyutils.ref_map import RefMap
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from app.auth.principal import Principal
from app.config import Settings
from app.db.session import SessionFactory
from app.events.hub import EventHub
from app.evidence.rules import Fields
from app.graphql.beneficiaries.group_mutations import BeneficiaryGroupMutations
from app.graphql.beneficiaries.mutations import BeneficiaryMutations
from app.graphql.compiled.executor import answer, compiled_for
from app.graphql.context import OperationContextExtension, ServerStreamContext
from app.graphql.evidence.citations import CitationMutations, schema_facts
from app.graphql.evidence.mutations import SourceMutations
from app.graphql.extensions.allow_list import AllowListExtension
from app.graphql.extensions.errors import ErrorCodesExtension
from app.graphql.extensions.limits import QueryCostLimiter, limit_extensions
from app.graphql.extensions.memory import LargeDocumentCollector
from app.graphql.extensions.permissions import ReadPermissionExtension
from app.graphql.extensions.strings import VariableStrings
from app.graphql.extensions.views import HeldForEvent, ViewExtension, close_views, held_for
from app.graphql.finance.mutations import FinanceMutations
from app.graphql.initiatives.mutations import InitiativeMutations
from app.graphql.initiatives.participations import ParticipationMutations
from app.graphql.milestones.mutations import TimelineMutations
from app.graphql.organizations.mutations import OrganizationMutations
from app.graphql.programs.mutations import ProgramMutations
from app.graphql.query import Query
from app.graphql.rates.mutations import RateMutations
from app.graphql.scalars import DateScalar, DateTimeScalar, DecimalScalar
from app.graphql.subscriptions import Subscription
from app.graphql.subscriptions.sharing import OUTLET, Memo, answer_once, group_of
from app.graphql.webhooks import WebhookMutations
from app.kit.pacing import SLICE_ITEMS, long_list
from app.observability.metrics import Metrics
from app.observability.operations import operation_metrics


# The root Mutation: one mixin per kind of record, merged here.
#
# Every mutation takes `input`, an optional `idempotencyKey` and `reason`, and returns
# a payload with the record and `errors { field code message }`. Permission, version
# and rule problems come back as errors with stable codes; nothing is written then.
# Each declares its permission where it is declared (`requires`); one runner,
# app/graphql/mutation.py `write`, runs them all.
@strawberry.type(description="Changes to the ledger; each is audited and may be retried safely.")
class Mutation(
    FinanceMutations,
    InitiativeMutations,
    TimelineMutations,
    BeneficiaryMutations,
    RateMutations,
    SourceMutations,
    OrganizationMutations,
    ProgramMutations,
    ParticipationMutations,
    BeneficiaryGroupMutations,
    CitationMutations,
    WebhookMutations,
):
    pass


# What a subscription's executor holds in place of its memos of plans once its events
# run on copies with their own (`Executor.cancellable_iterable`): None, so that any use
# of them fails rather than shares one.
_DROPPED: Any = None


class Executor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core (3.3) runs each subscription event on a shallow copy of the
    subscription's executor, so the copies share its memo of collected subfields. That
    memo is keyed by the identity of field lists built afresh for every event, so no
    entry is ever reused, yet each keeps its lists alive: a subscription's memory grew
    by about 3 KB per event delivered, for as long as it ran. Each event gets a memo of
    its own here, dropped with the event."""

    def build_per_event_executor(self, payload: Any) -> Executor:
        executor = cast(Executor, super().build_per_event_executor(payload))
        executor._relevant_sub_fields = {}
        # Its own memos of plans and stream usages too (graphql-core shares them with
        # every copy, keyed by field lists each event builds afresh); the subscription's
        # own are let go when it starts (`cancellable_iterable`): an idle subscriber
        # keeps none.
        executor._initial_execution_plans = RefMap()
        executor._deferred_execution_plans = RefMap()
        executor._stream_usages = RefMap()
        executor._per_event = True
        executor._held = held_for(payload)
        memo = getattr(payload, "_shared", None)
        if memo is not None:
            group = self._group()
            if group is not None:
                executor._answer = (memo, (group, payload.share_part()))
        return executor

    def cancellable_iterable(self, iterable: Any) -> Any:
        # A subscription over graphql-transport-ws: its events may be executed on this
        # executor by its group (sharing.py `Group`).
        outlet = OUTLET.get()
        if outlet is not None and outlet.executor is None:
            outlet.executor = self
        if not self._per_event and self.operation.operation is OperationType.SUBSCRIPTION:
            # The subscription's executor only builds its events' from here on, each
            # with memos of its own: those it was built with are never read again.
            self._initial_execution_plans = self._deferred_execution_plans = _DROPPED
            self._stream_usages = _DROPPED
        return super().cancellable_iterable(iterable)

    # Whether this executes one event of a subscription (`build_per_event_executor`).
    _per_event = False

    def _group(self) -> Hashable | None:
        # Worked out once per subscription, on the subscription's own executor.
        try:
            return self._subscription_group
        except AttributeError:
            self._subscription_group: Hashable | None = group_of(
                self.operation, self.variable_values.coerced, self.context_value
            )
            return self._subscription_group

    # Set for an event whose answer the subscribers of its group share
    # (app/graphql/subscriptions/sharing.py): the entry's memo and the group's key.
    _answer: tuple[Memo, Hashable] | None = None

    # An event's payload may hold what its fields read through (HeldForEvent: a
    # snapshot's connection, a view): given back once they are resolved, before the
    # result is sent, so a subscriber slow to read it holds no connection.
    _held: HeldForEvent | None = None

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._answer is not None:
            memo, key = self._answer
            return answer_once(memo, key, lambda: self._execute_operation(serially))
        return self._execute_operation(serially)

    def _execute_operation(self, serially: bool | None) -> Any:
        # A query of a shape the compiled path knows is answered by its plan
        # (app/graphql/compiled/), unless the plan hands it back.
        plan = compiled_for(self) if self._held is None else None
        if plan is not None:
            return self._compiled(plan, serially)
        held = self._held
        result = super().execute_operation(serially)
        if held is None:
            return result

        async def resolved() -> Any:
            try:
                return await result if self.is_awaitable(result) else result
            finally:
                await held.release()

        return resolved()

    async def _compiled(self, plan: Any, serially: bool | None) -> Any:
        data = await answer(self, plan)
        if data is None:
            result = super().execute_operation(serially)
            return await result if self.is_awaitable(result) else result
        return self.build_response(data)

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        # A long list is completed in slices, letting the loop turn between them when
        # it has been held long (app/kit/pacing.py); @stream is left to graphql-core.
        if not long_list(items) or self.get_stream_usage(field_details_list, path) is not None:
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        return self._complete_in_slices(
            item_type, field_details_list, info, path, cast(Sequence[Any], items), position_context
        )

    async def _complete_in_slices(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Sequence[Any],
        position_context: Any,
    ) -> list[Any]:
        completed: list[Any] = []
        waiting: list[int] = []
        try:
            for start in range(0, len(items), SLICE_ITEMS):
                await self.context_value.wait_turn()
                for index in range(start, min(start + SLICE_ITEMS, len(items))):
                    item, item_path = items[index], path.add_key(index, None)
                    if self.is_awaitable(item):
                        completed.append(
                            self.complete_awaitable_list_item_value(
                                item,
                                item_type,
                                field_details_list,
                                info,
                                item_path,
                                position_context,
                            )
                        )
                        waiting.append(index)
                    elif self.complete_list_item_value(
                        item,
                        completed,
                        item_type,
                        field_details_list,
                        info,
                        item_path,
                        position_context,
                    ):
                        waiting.append(index)
        except BaseException:
            pending = [completed[index] for index in waiting]
            if pending:
                self.settle_in_background(pending)
            raise
        if waiting:
            results = await gather_with_cancel(*(completed[index] for index in waiting))
            for index, result in zip(waiting, results, strict=True):
                completed[index] = result
        return completed


_Kind = tuple[str, Any] | None
_HOOK_KINDS: dict[tuple[str, type[SchemaExtension]], _Kind] = {}
# contextlib's exits of a generator's context manager: they read its `gen` only.
_SYNC_EXIT: Any = _GeneratorContextManager.__exit__
_ASYNC_EXIT: Any = _AsyncGeneratorContextManager.__aexit__


class _Entered:
    """A hook's generator once it has yielded, as contextlib's exits read it."""

    __slots__ = ("gen",)

    def __init__(self, gen: Any) -> None:
        self.gen = gen


class _KnownHooks(ExtensionContextManagerBase):
    """Strawberry's stage of the extensions' hooks, run with less around them. Strawberry
    inspected every hook of every extension of every operation (whether it is a
    generator, a coroutine...), wrapped each in a context manager of contextlib's and
    entered it on an exit stack: with 14 extensions, about a tenth of a small query's
    CPU. What it learns of each extension class is kept here; in `async with`, each
    hook's generator is run to its `yield` and, on the way out, on from it, in reverse
    order, by contextlib's own exit of a generator's context manager. When a hook's exit
    raises, or the stage ends with an exception, the hooks left are exited by an exit
    stack of contextlib's, as strawberry's were: what is raised, suppressed or chained is
    the same. As in strawberry, a hook that fails to enter leaves those entered before it
    as they are (`_UnwindingExecution` exits them), and the stage never suppresses an
    exception. `with` (strawberry's synchronous execution) runs strawberry's own."""

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        self.default_hook = getattr(SchemaExtension, self.HOOK_NAME)
        found: list[tuple[str, Any, SchemaExtension]] = []
        for extension in extensions:
            key = (self.HOOK_NAME, type(extension))
            try:
                kind = _HOOK_KINDS[key]
            except KeyError:
                kind = _HOOK_KINDS[key] = self._kind(type(extension))
            if kind is not None:
                found.append((kind[0], kind[1], extension))
        self._found: list[tuple[str, Any, SchemaExtension]] | None = found
        # The generators entered, in order (a stage may last as long as a subscription:
        # the generators alone are kept, each kind told by its type at the exit).
        self._entered: list[Any] = []

    def _kind(self, extension_type: type[SchemaExtension]) -> _Kind:
        function = getattr(extension_type, self.HOOK_NAME)
        if function is self.default_hook:
            return None
        if inspect.isgeneratorfunction(function):
            return ("generator", function)
        if inspect.isasyncgenfunction(function):
            return ("async generator", function)
        if callable(function):
            # As strawberry's `from_callable` tells them apart.
            return ("coroutine" if iscoroutinefunction(function) else "callable", function)
        raise ValueError(
            f"Hook {self.HOOK_NAME} on {extension_type} must be callable, received {function!r}"
        )

    def __enter__(self) -> None:
        self.hooks = [
            self._wrapped(name, function, ext) for name, function, ext in self._found or ()
        ]
        super().__enter__()

    def _wrapped(self, name: str, function: Any, extension: SchemaExtension) -> WrappedHook:
        if name == "generator":
            return WrappedHook(
                extension, partial(_GeneratorContextManager, function, (extension,), {}), False
            )
        if name == "async generator":
            return WrappedHook(
                extension,
                partial(_AsyncGeneratorContextManager, function, (extension,), {}),
                True,
            )
        return self.from_callable(extension, function)

    async def __aenter__(self) -> None:
        entered = self._entered
        found, self._found = self._found or (), None  # entered once; not needed again
        for name, function, extension in found:
            if name == "generator":
                generator = function(extension)
                try:
                    next(generator)
                except StopIteration:
                    raise RuntimeError("generator didn't yield") from None
                entered.append(generator)
            elif name == "async generator":
                generator = function(extension)
                try:
                    await anext(generator)
                except StopAsyncIteration:
                    raise RuntimeError("generator didn't yield") from None
                entered.append(generator)
            elif name == "coroutine":
                await function(extension)
            else:
                function(extension)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        entered = self._entered
        if exc_type is not None:
            await self._exit_stack().__aexit__(exc_type, exc_val, exc_tb)
            return
        while entered:
            generator = entered.pop()
            try:
                if isinstance(generator, GeneratorType):
                    _SYNC_EXIT(_Entered(generator), None, None, None)
                else:
                    await _ASYNC_EXIT(_Entered(generator), None, None, None)
            except BaseException as exc:
                # The hooks left see the failure, as on strawberry's exit stack, which
                # raises it unless one of them suppresses it.
                if not await self._exit_stack().__aexit__(type(exc), exc, exc.__traceback__):
                    raise

    def _exit_stack(self) -> AsyncExitStack:
        """contextlib's exit stack of the hooks entered and not yet exited, which are
        its alone from then on: the list is emptied in place, so that `__aexit__`,
        going on after a hook suppressed a failure, finds none of them to exit again."""
        stack = AsyncExitStack()
        for generator in self._entered:
            if isinstance(generator, GeneratorType):
                stack.push(partial(_SYNC_EXIT, _Entered(generator)))
            else:
                stack.push_async_exit(partial(_ASYNC_EXIT, _Entered(generator)))
        self._entered.clear()
        return stack


class _Operation(_KnownHooks, OperationContextManager):
    pass


class _Validation(_KnownHooks, ValidationContextManager):
    pass


class _Parsing(_KnownHooks, ParsingContextManager):
    pass


class _UnwindingExecution(_KnownHooks, ExecutingContextManager):
    """Strawberry enters the extensions' `on_execute` hooks one by one and, when one
    fails to enter, never exits those entered before it (strawberry 0.341). A view still
    being built when the execution limit (ExecutionTimeout, entered earlier) strikes was
    so cancelled with nothing left to turn that into TIMEOUT: the request failed with a
    bare CancelledError. Here the hooks entered are exited with the failure, as an
    `async with` over each would, and what they answer it with is raised."""

    async def __aenter__(self) -> None:
        try:
            await super().__aenter__()
        except BaseException as exc:
            await self._exit_stack().__aexit__(type(exc), exc, exc.__traceback__)
            raise


class _Runner(SchemaExtensionsRunner):
    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _UnwindingExecution(self.extensions)


class PledgeSchema(strawberry.Schema):
    # An app's own (`build_schema`): what its kept operations read (app/http/kept.py).
    settings: Settings | None = None
    metrics: Metrics | None = None
    cost_limiter: QueryCostLimiter | None = None

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return _Runner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Client mistakes are answers, not incidents; unexpected errors are logged once,
        # with their error id, by ErrorCodesExtension.
        return None

    async def subscribe_as_server(
        self,
        document: str,
        variables: dict[str, Any],
        *,
        reads: SessionFactory,
        settings: Settings,
        principal: Principal,
        events: EventHub,
    ) -> Any:
        """The server's own subscription `document`, run as `principal` (a webhook
        endpoint's key: app/webhooks/events.py) as a long-lived stream."""
        context = ServerStreamContext(
            reads=reads,
            settings=settings,
            principal=principal,
            events=events,
            server_document=True,
        )
        return await self.subscribe(document, variable_values=variables, context_value=context)

    async def close(self) -> None:
        """Closes what this schema's operations keep between them on the running loop:
        partners' kept views, which hold connections of their own (the app is stopping)."""
        await close_views(self)


def build_schema(settings: Settings, metrics: Metrics | None = None) -> PledgeSchema:
    # The app's cost limiter: every operation's shares its caches, and kept operations
    # (app/http/kept.py) are priced by it.
    costs = QueryCostLimiter(settings)
    # ViewExtension last: an operation the limits refuse never builds a view.
    extensions: list[Any] = [
        # First: every other extension and resolver sees the operation's own context.
        OperationContextExtension,
        # Observability: before ErrorCodesExtension, to count the codes it gives.
        *operation_metrics(metrics),
        # FIELD_SUGGESTIONS: whether "Did you mean ...?" hints reach clients.
        lambda: ErrorCodesExtension(field_suggestions=settings.field_suggestions),
        *limit_extensions(settings, costs),
        # The memory of large documents comes back once their operations end.
        LargeDocumentCollector,
        # PERSISTED_OPERATIONS_ONLY: a document the context's allow-list does not allow
        # is never parsed, and is refused at validation (after the validation cache).
        *([AllowListExtension] if settings.persisted_operations_only else []),
        # After the validation cache too: no variable may hold NUL or a lone surrogate.
        VariableStrings,
        # After the validation cache: a caller who may not read gets no validation errors.
        ReadPermissionExtension,
        ViewExtension,
    ]
    # The types are the code's, the same for every app; the extensions are the app's.
    schema = copy.copy(_typed_schema())
    schema.extensions = tuple(extensions)
    schema.settings, schema.metrics, schema.cost_limiter = settings, metrics, costs
    return schema


@cache
def _typed_schema() -> PledgeSchema:
    """The schema's types, converted once per process (~90 ms): every app's schema is a
    copy of this one with its own extensions. Nothing of an app is kept here: strawberry
    reads the extensions from the schema an operation runs on, and what an app keeps
    between operations (partners' views) is keyed by its own copy."""
    return PledgeSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(
            scalar_map={Decimal: DecimalScalar, date: DateScalar, datetime: DateTimeScalar}
        ),
        execution_context_class=Executor,
    )


def cited_fields() -> Fields:
    """The fields a citation may name, by kind of subject, as the API names them: what
    createCitation holds a citation to, handed to an import (app/imports/apply.py)."""
    return schema_facts(_typed_schema()._schema)

"""Limits an operation meets before it runs: depth, aliases, fields, tokens, and a cost
budget.

The cost of an operation is how many objects it could return at most: each
connection multiplies what it contains by its page size (`first`/`last`, from the
literal or the variable, else the default page size). An operation over budget is
refused before any SQL runs, with the estimate and the limit in the error. The same
walk collects what its reports, aggregates and figures read, which prices its work
(app/graphql/extensions/work.py): over MAX_QUERY_WORK it is refused too, and a heavy one waits for
no slot: past MAX_HEAVY_PER_CALLER it is BUSY at once.

Depth, aliases, fields (with fragments spread where they are used), root fields and
(unless INTROSPECTION is on) introspection are validation rules, built once per schema
so that repeated operations hit the parser and validation caches; the cost depends on
the variables, so it is checked after validation, just before execution. Every one of
them, the cost included, walks each fragment once however often it is spread
(app/graphql/extensions/walks.py). A query or mutation that runs longer than
EXECUTION_TIMEOUT_SECONDS is stopped with TIMEOUT.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import suppress
from functools import lru_cache
from typing import Any

from graphql import (
    BREAK,
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    is_introspection_type,
    parse,
    print_ast,
    specified_rules,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import (
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.graphql import OperationType

from app.config import Settings
from app.db.session import SessionFactory
from app.errors import ErrorCode
from app.graphql.context import caller_of
from app.graphql.extensions.memory import large
from app.graphql.extensions.strings import EncodableStrings
from app.graphql.extensions.walks import (
    MANY,
    Repeats,
    Shapes,
    Walk,
    fragments_of,
    root_fields,
    run,
    spread_fragments,
)
from app.graphql.extensions.work import (
    NONE,
    HeavyOperations,
    Reads,
    TableRows,
    declared_reads,
)

CACHE_SIZE = 256


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """Every rule an operation is validated with: the specification's, but for the one
    that compares fields pair by pair, which the shape rule runs once the document is
    within the shape limits (`shape_rule`); then the limits that are validation rules,
    and the strings any literal may hold."""
    rules: list[type[ASTValidationRule]] = [
        *(rule for rule in specified_rules if rule is not OverlappingFieldsCanBeMergedRule),
        EncodableStrings,
        shape_rule(settings),
        max_root_fields_rule(settings.max_root_fields),
    ]
    if not settings.introspection:
        rules.append(NoIntrospection)
    return rules


def limit_extensions(settings: Settings, costs: QueryCostLimiter | None = None) -> list[Any]:
    """Factories: strawberry builds fresh extensions for every operation, around rules
    and caches that are built once. `costs`: the app's cost limiter, whose row counts,
    heavy operations and prices every operation's limiter shares (kept operations,
    app/http/kept.py, are priced by it too)."""
    rules = validation_rules(settings)
    # Per app: the tables' row counts, the heavy operations each caller runs, prices.
    shared = costs or QueryCostLimiter(settings)
    rows, heavy, prices = shared.rows, shared.heavy, shared.prices
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        CachedParser,
        lambda: ValidationRules(rules),
        lambda: CachedValidation(maxsize=CACHE_SIZE),
        lambda: QueryCostLimiter(settings, rows, heavy, prices),
        lambda: ExecutionTimeout(settings.execution_timeout_seconds),
    ]


class ValidationRules(SchemaExtension):
    """Validates every operation with `rules` in place of strawberry's (the
    specification's): strawberry's AddValidationRules can only add to them, and one of
    them must wait for the shape limits."""

    def __init__(self, rules: list[type[ASTValidationRule]]) -> None:
        self.rules = tuple(rules)

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = self.rules
        yield


def shape_rule(settings: Settings) -> type[ValidationRule]:
    """Depth (MAX_QUERY_DEPTH), aliases (MAX_ALIASES), fields (MAX_FIELDS) and how often
    one field is selected in one merged selection set (MAX_SAME_FIELD), measured with
    every fragment spread where it is used, in walks that visit each fragment once
    (app/graphql/extensions/walks.py).

    Depth and aliases are counted as strawberry's QueryDepthLimiter and MaxAliasesLimiter
    counted them, with their messages; those followed every spread afresh, so a small
    document spreading its fragments twice at each level took exponential time. The
    fields an operation selects once its fragments are spread in place bound what any
    later walk over it may take (a resolver's `info.selected_fields`, say): a document
    whose fragments multiply it past MAX_FIELDS is refused at once.

    The rule is also graphql's OverlappingFieldsCanBeMergedRule, which compares every
    two fields of one response name in a merged selection set, and again their
    subfields, pair by pair: 450 copies of `initiatives { nodes { program { id } } }`
    (4,500 tokens) took it 2 to 4 s on the event loop. It runs only on a document within
    the limits above, where a response name is selected at most MAX_SAME_FIELD times in
    any merged set (its own fields and its fragments', and below a field those of every
    field of that name, as execution merges them)."""
    max_depth, max_aliases, max_fields, max_same = (
        settings.max_query_depth,
        settings.max_aliases,
        settings.max_fields,
        settings.max_same_field,
    )

    class ShapeLimits(OverlappingFieldsCanBeMergedRule):
        # Checked as the rule is built, before any rule visits the document, so these
        # errors come first (as strawberry's limiters', which did the same).
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            shapes = Shapes(document)
            aliases = 0
            # Whether the merge rule may run: nothing over a limit (the rule would take
            # time of its own over it). It compares within every selection set of the
            # document, fragments' too: a fragment spread holds no more than where it is
            # spread, which is checked; one spread nowhere is an error anyway
            # (NoUnusedFragmentsRule), and not checked.
            self.within = set(shapes.fragments) <= spread_fragments(document)
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                shape = shapes.of(definition.selection_set)
                self.within = self.within and shape.depth <= max_depth
                self.within = self.within and shape.fields <= max_fields
                aliases = min(aliases + shape.aliases, MANY)
                if shape.depth > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    node = shapes.too_deep(definition.selection_set, max_depth) or definition
                    self.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}",
                            node,
                            extensions={"code": ErrorCode.QUERY_TOO_DEEP.value},
                        )
                    )
                if shape.fields > max_fields:
                    self.report_error(
                        GraphQLError(
                            f"This operation selects {_count(shape.fields)} fields once its "
                            f"fragments are spread where they are used; the limit is "
                            f"{max_fields} (MAX_FIELDS). Spread fewer fragments, or split it.",
                            definition,
                            extensions={
                                "code": ErrorCode.TOO_MANY_FIELDS.value,
                                "limit": max_fields,
                            },
                        )
                    )
            if aliases > max_aliases:
                self.within = False
                self.report_error(
                    GraphQLError(
                        f"{_count(aliases)} aliases found. Allowed: {max_aliases}",
                        extensions={"code": ErrorCode.TOO_MANY_ALIASES.value},
                    )
                )
            if self.within:
                self._repeats(document, shapes)

        def _repeats(self, document: DocumentNode, shapes: Shapes) -> None:
            # An operation within MAX_FIELDS has no more merged sets than fields; the
            # budget bounds several operations together.
            repeats = Repeats(shapes.fragments, max_same, budget=max_fields)
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                found = repeats.first_over(definition.selection_set)
                if repeats.exhausted:
                    self.within = False
                    self.report_error(
                        GraphQLError(
                            f"The operations of this document select more than "
                            f"{max_fields} fields in all once their fragments are spread "
                            "where they are used (MAX_FIELDS). Send fewer operations at "
                            "once.",
                            definition,
                            extensions={
                                "code": ErrorCode.TOO_MANY_FIELDS.value,
                                "limit": max_fields,
                            },
                        )
                    )
                    return
                if found is None:
                    continue
                self.within = False
                self.report_error(
                    GraphQLError(
                        f"'{found.name}' is selected more than {max_same} times in one "
                        "selection set, with its fragments and the fields of the same name "
                        f"merged; the limit is {max_same} (MAX_SAME_FIELD). Select it "
                        "once, or give each copy an alias of its own.",
                        found.field,
                        extensions={
                            "code": ErrorCode.FIELD_REPEATED.value,
                            "limit": max_same,
                        },
                    )
                )
                return

        def enter_document(self, *_: Any) -> Any:
            # Nothing of the merge rule's own runs over a document refused already.
            return None if self.within else BREAK

    return ShapeLimits


def _count(number: int) -> str:
    return str(number) if number < MANY else f"at least {MANY}"


def max_root_fields_rule(limit: int) -> type[ValidationRule]:
    """A rule refusing operations that select more than `limit` root fields (response
    keys, through fragments): each can be a list or a report of its own."""

    class MaxRootFields(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = fragments_of(context.document)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
            keys = {
                (field.alias or field.name).value
                for field in root_fields(node.selection_set, self.fragments)
            }
            if len(keys) > limit:
                self.report_error(
                    GraphQLError(
                        f"This operation selects {len(keys)} root fields; the limit is "
                        f"{limit} (MAX_ROOT_FIELDS). Split it into several operations.",
                        node,
                        extensions={
                            "code": ErrorCode.TOO_MANY_ROOT_FIELDS.value,
                            "count": len(keys),
                            "limit": limit,
                        },
                    )
                )
            return self.SKIP

    return MaxRootFields


class NoIntrospection(ValidationRule):
    """With INTROSPECTION off, `__schema` and `__type` are refused (`__typename` stays)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        named = get_named_type(self.context.get_type())
        if named is not None and is_introspection_type(named):
            self.report_error(
                GraphQLError(
                    f"Introspection is off on this server (INTROSPECTION=false); "
                    f"'{node.name.value}' cannot be queried. The schema is published as "
                    "schema.graphql.",
                    node,
                    extensions={"code": ErrorCode.INTROSPECTION_DISABLED.value},
                )
            )


class ExecutionTimeout(SchemaExtension):
    """Stops a query or mutation still executing after `seconds` (TIMEOUT). Whatever
    it was doing is cancelled: open transactions roll back, views close. Subscriptions
    are long-lived by design and are left alone."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        try:
            subscription = context.operation_type is OperationType.SUBSCRIPTION
        except RuntimeError:
            subscription = False
        if context.result is not None or subscription:
            yield
            return
        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            # Raised past strawberry's execution, which answers it as the only error.
            raise timed_out(self.seconds) from None


def timed_out(seconds: float) -> GraphQLError:
    """The error of an operation stopped at EXECUTION_TIMEOUT_SECONDS."""
    return GraphQLError(
        f"The operation ran longer than {seconds:g} seconds "
        "(EXECUTION_TIMEOUT_SECONDS) and was stopped; ask for less, or split it.",
        extensions={"code": ErrorCode.TIMEOUT.value, "limit": seconds},
    )


@lru_cache(maxsize=CACHE_SIZE)
def cached_parse(query: str, max_tokens: int | None) -> DocumentNode:
    """The document of `query`, one per distinct text (and token limit)."""
    return parse(query, max_tokens=max_tokens)


class CachedParser(SchemaExtension):
    """Parses each distinct operation once, unless it is large (app/graphql/extensions/memory.py):
    the cache would keep up to CACHE_SIZE documents of MAX_BODY_BYTES each. Unlike
    strawberry's ParserCache, a syntax error is left to strawberry's own parsing, which
    reports it as an ordinary error, and a document already set (the allow-list's
    placeholder) is left alone."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and context.graphql_document is None and not large(query):
            with suppress(GraphQLError):
                tokens = context.parse_options.get("max_tokens")
                context.graphql_document = cached_parse(query, tokens)
        yield


class CachedValidation(ValidationCache):
    """Strawberry's validation cache, but for large documents, which strawberry then
    validates afresh. Its cache is keyed by the schema, the document and the rules,
    and hashing a document walks every node of it on every request: in front of it,
    what it answered is kept by the document's identity (the parser's cache hands out
    one document per text), with the document, so that its identity cannot be
    another's while the entry lives."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if large(context.query):
            yield
            return
        if document is None:
            yield from super().on_validate()
            return
        schema = context.schema._schema
        rules = context.validation_rules
        key = (id(document), id(schema), rules)
        found = _VALIDATED.get(key)
        if found is not None and found[0] is document and found[1] is schema:
            _VALIDATED.move_to_end(key)
            context.pre_execution_errors = found[2]
            yield
            return
        errors = self.cached_validate_document(schema, document, rules)
        _VALIDATED[key] = (document, schema, errors)
        if len(_VALIDATED) > CACHE_SIZE:
            _VALIDATED.popitem(last=False)
        context.pre_execution_errors = errors
        yield


# What CachedValidation found, by the identities of the document and schema, and the
# rules.
_VALIDATED: OrderedDict[
    tuple[int, int, tuple[type[ASTValidationRule], ...]],
    tuple[DocumentNode, GraphQLSchema, list[GraphQLError]],
] = OrderedDict()


class Prices:
    """The price (`_Estimate`) of each operation sent without variables, kept per app:
    it depends on nothing else (the document, the operation's name, the app's settings),
    and a dashboard asks the same every time. Up to CACHE_SIZE, the most recently used;
    an entry keeps its document, so that its identity (the parser's cache hands out one
    document per text) cannot be another's while it lives. Large documents are priced
    afresh, as they are parsed afresh."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Cost]] = OrderedDict()

    def of(
        self,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        price: Callable[[], Cost],
    ) -> Cost:
        if variables:
            return price()
        key = (id(document), operation_name)
        found = self._kept.get(key)
        if found is not None and found[0] is document:
            self._kept.move_to_end(key)
            return found[1]
        cost = price()
        loc = document.loc
        if loc is not None and not large(loc.source.body):
            self._kept[key] = (document, cost)
            if len(self._kept) > CACHE_SIZE:
                self._kept.popitem(last=False)
        return cost


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation that could return more than MAX_QUERY_COST objects, or do
    more than MAX_QUERY_WORK work (app/graphql/extensions/work.py), before any of its SQL runs;
    holds a heavy one to MAX_HEAVY_PER_CALLER at once per caller."""

    def __init__(
        self,
        settings: Settings,
        rows: TableRows | None = None,
        heavy: HeavyOperations | None = None,
        prices: Prices | None = None,
    ) -> None:
        self.budget = settings.max_query_cost
        self.default_size = settings.default_page_size
        self.max_size = settings.max_page_size
        # Plain lists (a report's groups) hold at most this many items.
        self.max_list = settings.max_report_groups
        self.max_work = settings.max_query_work
        self.heavy_work = settings.heavy_query_work
        self.retry_after = settings.retry_after_seconds
        self.rows = rows or TableRows(settings.table_rows_seconds)
        self.heavy = heavy or HeavyOperations(settings.max_heavy_per_caller)
        self.prices = prices or Prices()

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is None or context.result is not None:
            yield
            return
        objects, reads = self.price(
            context.schema._schema, document, context.operation_name, context.variables
        )
        error: GraphQLError | None = None
        work = objects
        if objects > self.budget:
            error = GraphQLError(
                f"This operation could return up to {objects} objects; the limit is "
                f"{self.budget}. Ask for smaller pages (first/last) or fewer "
                "nested lists.",
                extensions={
                    "code": ErrorCode.QUERY_TOO_COSTLY.value,
                    "cost": objects,
                    "limit": self.budget,
                },
            )
        else:
            if reads.table_names:
                counts = await self.rows.of(reads.table_names, _sessions(context.context))
                work = min(objects + reads.rows(counts, MANY), MANY)
            if work > self.max_work:
                error = GraphQLError(
                    f"This operation could read or return about {work} rows; the limit "
                    f"is {self.max_work} (MAX_QUERY_WORK). Ask for fewer reports or "
                    "aggregates at once, or split the operation.",
                    extensions={
                        "code": ErrorCode.QUERY_TOO_COSTLY.value,
                        "work": work,
                        "limit": self.max_work,
                    },
                )
        subscription = context.operation_type is OperationType.SUBSCRIPTION
        if error is not None:
            if subscription:
                # Strawberry starts a subscription whatever the result says: refuse
                # by raising, which ends it with this one error before it starts.
                raise error
            # A result set before execution means strawberry does not execute.
            context.result = GraphQLExecutionResult(data=None, errors=[error])
            yield
            return
        if work <= self.heavy_work or subscription:
            yield
            return
        caller = caller_of(context.context)
        with self.heavy.slot(caller) as granted:
            if not granted:
                context.result = GraphQLExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"This caller already runs {self.heavy.most} heavy operations "
                            f"(over {self.heavy_work} rows of work, HEAVY_QUERY_WORK); at "
                            f"most {self.heavy.most} run at once (MAX_HEAVY_PER_CALLER). "
                            f"Try again in {self.retry_after} s.",
                            extensions={
                                "code": ErrorCode.BUSY.value,
                                "work": work,
                                "limit": self.heavy.most,
                                "setting": "MAX_HEAVY_PER_CALLER",
                                "retryAfter": self.retry_after,
                            },
                        )
                    ],
                )
            yield

    def price(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> Cost:
        """The objects the operation that runs could return, and what it reads. Only
        that operation is priced: another in the same document (never run) must not lend
        it a smaller price. A name that picks none is refused by execution."""
        given = variables or {}
        return self.prices.of(
            document,
            operation_name,
            given,
            lambda: _Estimate(self, schema, document.definitions, given).total(
                get_operation_ast(document, operation_name)
            ),
        )

    def plainly_within(self, cost: Cost) -> bool:
        """Whether the price alone lets the operation run as it is: within MAX_QUERY_COST,
        reading no table whose rows must be counted, and not heavy (no slot to take).
        Anything else is for `on_execute` to decide."""
        objects, reads = cost
        return (
            objects <= self.budget
            and not reads.table_names
            and objects <= self.max_work
            and objects <= self.heavy_work
        )

    def estimate(
        self, schema: GraphQLSchema, definitions: Any, variables: Mapping[str, Any]
    ) -> int:
        return _Estimate(self, schema, definitions, variables).total()[0]


def _sessions(context: Any) -> SessionFactory:
    """The engine's own sessions (a view's would not yet be open: views open later)."""
    sessions: SessionFactory = getattr(context, "writes", None) or context.reads
    return sessions


Cost = tuple[int, Reads]


class _Estimate:
    """One walk over one document: the most objects any of its operations could return,
    and the reads of the operation that returns the most (app/graphql/extensions/work.py).

    A fragment is estimated once per operation for each type and report bound it is
    spread under (what its estimate depends on), however often it is spread."""

    def __init__(
        self,
        limiter: QueryCostLimiter,
        schema: GraphQLSchema,
        definitions: Any,
        variables: Mapping[str, Any],
    ) -> None:
        self.limiter = limiter
        self.schema = schema
        self.definitions = definitions
        self.variables = variables
        self.defaults: dict[str, Any] = {}
        self.top_n_bound: int | None = None
        self.fragments: dict[str, FragmentDefinitionNode] = {
            d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)
        }
        # The operation's fragments estimated so far, by (name, type, report bound).
        self.known: dict[tuple[str, str, int | None], Cost] = {}
        self.open: set[tuple[str, str, int | None]] = set()

    def total(self, only: OperationDefinitionNode | None = None) -> Cost:
        """The price of `only`; without it, of the dearest operation in the document."""
        costs: list[Cost] = []
        for definition in self.definitions:
            if isinstance(definition, OperationDefinitionNode) and only in (None, definition):
                root = self.schema.get_root_type(definition.operation)
                if root is not None:
                    self.defaults = {
                        d.variable.name.value: d.default_value
                        for d in definition.variable_definitions or ()
                        if d.default_value is not None
                    }
                    self.known.clear()
                    costs.append(run(self.selections(definition.selection_set, root)))
        # Without a choice: the operation that returns the most (its reads come with it).
        return max(costs, key=lambda cost: cost[0], default=(0, NONE))

    def selections(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> Walk[Cost]:
        objects, reads = 0, NONE
        for selection in selection_set.selections:
            cost: Cost
            if isinstance(selection, FieldNode):
                cost = yield self.field(selection, parent)
            elif isinstance(selection, FragmentSpreadNode):
                cost = yield self.fragment(selection.name.value, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                cost = yield self.selections(selection.selection_set, target or parent)
            else:
                continue
            objects += cost[0]
            reads += cost[1]
        return objects, reads

    def fragment(self, name: str, parent: GraphQLNamedType) -> Walk[Cost]:
        fragment = self.fragments.get(name)
        if fragment is None:
            return 0, NONE
        target = self.schema.get_type(fragment.type_condition.name.value) or parent
        key = (name, target.name, self.top_n_bound)
        known = self.known.get(key)
        if known is not None:
            return known
        if key in self.open:
            return 0, NONE  # a fragment spreading itself: refused by validation anyway
        self.open.add(key)
        cost: Cost = yield self.selections(fragment.selection_set, target)
        self.open.discard(key)
        self.known[key] = cost
        return cost

    def field(self, node: FieldNode, parent: GraphQLNamedType) -> Walk[Cost]:
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:
            return 0, NONE
        # A list's items share one statement (a loader's batch): what a field inside
        # reads counts once, not once per item.
        own = declared_reads(definition, lambda: self.arguments(node))
        if node.selection_set is None:
            return 0, own
        named = get_named_type(definition.type)
        inner: Cost
        if named.name.endswith("Connection"):
            inner = yield self.selections(node.selection_set, named)
            return self.page_size(node, definition) * (1 + inner[0]), own + inner[1]
        top_n = self.top_n_bound
        in_connection = getattr(parent, "name", "").endswith("Connection")
        # A report field's own `first` bounds its groups (a list marked "top_n").
        if not in_connection and any(a.name.value == "first" for a in node.arguments or ()):
            self.top_n_bound = self.top_n(node)
        try:
            inner = yield self.selections(node.selection_set, named)
        finally:
            self.top_n_bound = top_n
        if in_connection or not _is_list(definition.type):
            return inner[0], own + inner[1]
        # A plain list: a report's groups count as its top N (or as many as a report may
        # have), its other lists as many as a report may have, and any other list as a
        # page at most.
        size = _list_size(definition)
        if size == "top_n":
            items = top_n if top_n is not None else self.limiter.max_list
        elif size == "report":
            items = self.limiter.max_list
        else:
            items = self.limiter.max_size
        return items * (1 + inner[0]), own + inner[1]

    def arguments(self, node: FieldNode) -> str:
        """A field's arguments, with the variables' values: what tells one loader
        question from another."""
        parts = []
        for argument in node.arguments or ():
            value: Any = argument.value
            if isinstance(value, VariableNode):
                name = value.name.value
                value = repr(self.variables.get(name, self.defaults.get(name)))
            else:
                value = print_ast(value)
            parts.append(f"{argument.name.value}:{value}")
        return ",".join(sorted(parts))

    def page_size(self, node: FieldNode, definition: Any = None) -> int:
        """The page size the connection will be asked for: a literal, a variable sent,
        the operation's default for that variable, else the field's default."""
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return self.capped(int(value.value))
            if isinstance(value, VariableNode):
                name = value.name.value
                if name in self.variables:  # sent by the client (null: the default size)
                    given = self.variables[name]
                    if isinstance(given, int):
                        return self.capped(given)
                    return self.field_default(definition)
                default = self.defaults.get(name)  # the operation's own default
                if isinstance(default, IntValueNode):
                    return self.capped(int(default.value))
                if default is not None:  # anything else: assume the worst
                    return self.limiter.max_size
        return self.field_default(definition)

    def top_n(self, node: FieldNode) -> int:
        """A report's `first` (its top N groups): a literal or a variable's value; absent
        or null means every group, up to the most a report may have."""
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value: Any = argument.value
            if isinstance(value, VariableNode):
                name = value.name.value
                value = self.variables.get(name, self.defaults.get(name))
            if isinstance(value, IntValueNode):
                value = int(value.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, self.limiter.max_list))
        return self.limiter.max_list

    def field_default(self, definition: Any) -> int:
        """The field's own default for `first` (report lists have one), else the
        default page size."""
        argument = (getattr(definition, "args", None) or {}).get("first")
        declared = getattr(argument, "default_value", None)
        if isinstance(declared, int) and not isinstance(declared, bool):
            return self.capped(declared)
        return self.limiter.default_size

    def capped(self, size: int) -> int:
        # A larger size is refused when the list resolves; it can cost no more than this.
        return max(0, min(size, self.limiter.max_size))


def _is_list(graphql_type: Any) -> bool:
    """A list type, NonNull or not."""
    while isinstance(graphql_type, GraphQLNonNull):
        graphql_type = graphql_type.of_type
    return isinstance(graphql_type, GraphQLList)


def _list_size(definition: Any) -> str | None:
    """How a plain list field declares its size (`metadata={"list_size": ...}`)."""
    field = (definition.extensions or {}).get("strawberry-definition")
    metadata = getattr(field, "metadata", None) or {}
    size = metadata.get("list_size")
    return size if isinstance(size, str) else None

"""Limits an operation meets before it runs: depth, aliases, tokens, and a cost budget.

The cost of an operation is how many objects it could return at most: each
connection multiplies what it contains by its page size (`first`/`last`, from the
literal or the variable, else the default page size). An operation over budget is
refused before any SQL runs, with the estimate and the limit in the error.

Depth, aliases, root fields and (unless INTROSPECTION is on) introspection are
validation rules, built once per schema so that repeated operations hit the parser and
validation caches; the cost depends on the variables, so it is checked after
validation, just before execution. A query or mutation that runs longer than
EXECUTION_TIMEOUT_SECONDS is stopped with TIMEOUT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import suppress
from functools import lru_cache
from typing import Any

from graphql import (
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
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    Visitor,
    get_named_type,
    is_introspection_type,
    parse,
    visit,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.graphql import OperationType

from app.config import Settings
from app.graphql.strings import EncodableStrings

CACHE_SIZE = 256


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The limits that are validation rules, and the strings any literal may hold
    (besides the specification's own rules)."""
    rules: list[type[ASTValidationRule]] = [
        EncodableStrings,
        depth_rule(settings.max_query_depth),
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        max_root_fields_rule(settings.max_root_fields),
    ]
    if not settings.introspection:
        rules.append(NoIntrospection)
    return rules


def limit_extensions(settings: Settings) -> list[Any]:
    """Factories: strawberry builds fresh extensions for every operation, around rules
    and caches that are built once."""
    rules = validation_rules(settings)
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        CachedParser,
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: QueryCostLimiter(settings),
        lambda: ExecutionTimeout(settings.execution_timeout_seconds),
    ]


def depth_rule(max_depth: int) -> type[ValidationRule]:
    """Strawberry's depth rule, which looks each spread fragment up without asking whether
    it exists: `{ ...Unknown }` raised KeyError (an INTERNAL error). A document spreading
    a fragment it does not define is left to graphql-core's KnownFragmentNames, which
    refuses it (GRAPHQL_VALIDATION_FAILED) before anything runs."""
    [rule] = QueryDepthLimiter(max_depth=max_depth).validation_rules

    class DepthOfKnownFragments(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            document = context.document
            defined = {
                d.name.value for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            if _spread_names(document) <= defined:
                super().__init__(context)
            else:
                ValidationRule.__init__(self, context)

    return DepthOfKnownFragments


def _spread_names(document: DocumentNode) -> set[str]:
    names: set[str] = set()

    class Spreads(Visitor):
        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            names.add(node.name.value)

    visit(document, Spreads())
    return names


def max_root_fields_rule(limit: int) -> type[ValidationRule]:
    """A rule refusing operations that select more than `limit` root fields (response
    keys, through fragments): each can be a list or a report of its own."""

    class MaxRootFields(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
            keys = self._response_keys(node.selection_set, set())
            if len(keys) > limit:
                self.report_error(
                    GraphQLError(
                        f"This operation selects {len(keys)} root fields; the limit is "
                        f"{limit} (MAX_ROOT_FIELDS). Split it into several operations.",
                        node,
                        extensions={
                            "code": "TOO_MANY_ROOT_FIELDS",
                            "count": len(keys),
                            "limit": limit,
                        },
                    )
                )
            return self.SKIP

        def _response_keys(self, selections: SelectionSetNode, seen: set[str]) -> set[str]:
            keys: set[str] = set()
            for selection in selections.selections:
                if isinstance(selection, FieldNode):
                    keys.add((selection.alias or selection.name).value)
                elif isinstance(selection, InlineFragmentNode):
                    keys |= self._response_keys(selection.selection_set, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is not None and name not in seen:
                        seen.add(name)
                        keys |= self._response_keys(fragment.selection_set, seen)
            return keys

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
                    extensions={"code": "INTROSPECTION_DISABLED"},
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
            raise GraphQLError(
                f"The operation ran longer than {self.seconds:g} seconds "
                "(EXECUTION_TIMEOUT_SECONDS) and was stopped; ask for less, or split it.",
                extensions={"code": "TIMEOUT", "limit": self.seconds},
            ) from None


@lru_cache(maxsize=CACHE_SIZE)
def _parse(query: str, max_tokens: int | None) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class CachedParser(SchemaExtension):
    """Parses each distinct operation once. Unlike strawberry's ParserCache, a syntax
    error is left to strawberry's own parsing, which reports it as an ordinary error,
    and a document already set (the allow-list's placeholder) is left alone."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            with suppress(GraphQLError):
                context.graphql_document = _parse(
                    context.query, context.parse_options.get("max_tokens")
                )
        yield


class QueryCostLimiter(SchemaExtension):
    def __init__(self, settings: Settings) -> None:
        self.budget = settings.max_query_cost
        self.default_size = settings.default_page_size
        self.max_size = settings.max_page_size
        # Plain lists (a report's groups) hold at most this many items.
        self.max_list = settings.max_report_groups

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            cost = self.estimate(
                context.schema._schema, document.definitions, context.variables or {}
            )
            if cost > self.budget:
                error = GraphQLError(
                    f"This operation could return up to {cost} objects; the limit is "
                    f"{self.budget}. Ask for smaller pages (first/last) or fewer "
                    "nested lists.",
                    extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": self.budget},
                )
                if context.operation_type is OperationType.SUBSCRIPTION:
                    # Strawberry starts a subscription whatever the result says: refuse
                    # by raising, which ends it with this one error before it starts.
                    raise error
                # A result set before execution means strawberry does not execute.
                context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield

    def estimate(
        self, schema: GraphQLSchema, definitions: Any, variables: Mapping[str, Any]
    ) -> int:
        return _Estimate(self, schema, definitions, variables).total()


class _Estimate:
    """One walk over one document: the most objects any of its operations could return."""

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

    def total(self) -> int:
        costs = [0]
        for definition in self.definitions:
            if isinstance(definition, OperationDefinitionNode):
                root = self.schema.get_root_type(definition.operation)
                if root is not None:
                    self.defaults = {
                        d.variable.name.value: d.default_value
                        for d in definition.variable_definitions or ()
                        if d.default_value is not None
                    }
                    costs.append(self.selections(definition.selection_set, root, 0))
        return max(costs)

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, depth: int
    ) -> int:
        if depth > 64:  # the depth limiter refuses such operations anyway
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, depth)
                continue
            fragment: Any = (
                self.fragments.get(selection.name.value)
                if isinstance(selection, FragmentSpreadNode)
                else selection
            )
            if fragment is None:
                continue
            condition = fragment.type_condition
            target = self.schema.get_type(condition.name.value) if condition else parent
            total += self.selections(fragment.selection_set, target or parent, depth + 1)
        return total

    def field(self, node: FieldNode, parent: GraphQLNamedType, depth: int) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return 0
        named = get_named_type(definition.type)
        if named.name.endswith("Connection"):
            inner = self.selections(node.selection_set, named, depth + 1)
            return self.page_size(node, definition) * (1 + inner)
        top_n = self.top_n_bound
        in_connection = getattr(parent, "name", "").endswith("Connection")
        # A report field's own `first` bounds its groups (a list marked "top_n").
        if not in_connection and any(a.name.value == "first" for a in node.arguments or ()):
            self.top_n_bound = self.top_n(node)
        try:
            inner = self.selections(node.selection_set, named, depth + 1)
        finally:
            self.top_n_bound = top_n
        if in_connection or not _is_list(definition.type):
            return inner
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
        return items * (1 + inner)

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

"""A query operation compiled into a plan of lists, or refused as a shape it does not know.

A plan is a tree: root lists, each with what its connection shows (`totalCount`,
`pageInfo`, `edges`, `nodes`), each node with its fields — a column, the node's `id`,
a value computed from its row (`row_value`, e.g. an amount), or a nested list. The
plan holds the fields' argument nodes, not their values: one plan serves every value
of an operation's variables. Anything the plan cannot express raises `Unsupported`
while compiling, and the operation runs through the reference executor instead.

Compiling visits each selection once and each fragment at most once (a fragment spread
twice in one operation is a shape left to the reference executor), so it takes time
linear in the document's size, however it nests or spreads its fragments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import field as default
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
)
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from app.auth.roles import Permission
from app.graphql.compiled import sql_json
from app.graphql.compiled.declare import LIST_FIELD, ROW_VALUE, ROW_VALUE_SQL, ListField
from app.graphql.loaders import NODE_MODELS
from app.graphql.records import db_id_of
from app.graphql.relay import Node
from app.graphql.visibility import OnlyFor, Shows
from app.kit.ids import encode_global_id

DEFINITION = "strawberry-definition"
# More fields than this in one operation are left to the reference executor (whose
# limits already bound a document; this bounds what one plan holds).
MAX_PLAN_FIELDS = 2000

Getter = Callable[[Any], Any]


class Unsupported(Exception):
    """The operation has a shape the compiled path does not answer."""


@dataclass(eq=False)
class ListPlan:
    """One list field: its listing, the arguments it was given, what it shows."""

    graphql_field: GraphQLField
    field_node: FieldNode
    field: StrawberryField
    listing: Any
    connection: ConnectionPlan
    # The columns its rows are read with, in order (the getters index them): only those
    # the operation shows, the id first (nested lists are matched by it).
    columns: list[str] = default(default_factory=lambda: ["id"])

    def column(self, name: str) -> int:
        """The index of `name` in the rows, adding it to those read."""
        if name not in self.columns:
            self.columns.append(name)
        return self.columns.index(name)


@dataclass(eq=False)
class NodePlan:
    """A node's fields in answer order: (response key, getter of its row) for values,
    (response key, ListPlan) for nested lists. `sql`: the same fields written by
    PostgreSQL, (response key, the JSON text of its value over the list's table, or
    the nested ListPlan); None when a field is not written there (sql_json.py)."""

    values: list[tuple[str, Getter | None, ListPlan | None]] = field(default_factory=list)
    lists: list[ListPlan] = field(default_factory=list)
    sql: list[tuple[str, Any]] | None = field(default_factory=list)

    def add_sql(self, key: str, value: Any) -> None:
        if self.sql is not None:
            if value is None:
                self.sql = None
            else:
                self.sql.append((key, value))


@dataclass(eq=False)
class ConnectionPlan:
    """What a connection shows, in answer order: (response key, kind, detail)."""

    entries: list[tuple[str, str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class Plan:
    operation: OperationDefinitionNode
    # (response key, ListPlan) per root field, or (response key, the type's name) for
    # a root `__typename`.
    roots: list[tuple[str, ListPlan | str]]
    # Whether PostgreSQL can write the whole answer (every node's `sql` is known).
    in_database: bool = False


# Connection entry kinds.
TYPENAME, TOTAL, PAGE_INFO, NODES, EDGES = "typename", "total", "pageInfo", "nodes", "edges"

_PAGE_INFO: dict[str, Callable[[Any], Any]] = {
    "hasNextPage": lambda page: page.has_next_page,
    "hasPreviousPage": lambda page: page.has_previous_page,
    "startCursor": lambda page: page.start_cursor,
    "endCursor": lambda page: page.end_cursor,
}


class Fallback(Exception):
    """Raised while answering: this answer must come from the reference executor (a
    value the schema would reject, an argument it would refuse)."""


def _node_id_resolver() -> Any:
    definition: StrawberryObjectDefinition = Node.__strawberry_definition__  # type: ignore[attr-defined]
    resolver = definition.get_field("id")
    assert resolver is not None and resolver.base_resolver is not None
    return resolver.base_resolver.wrapped_func


_NODE_ID = _node_id_resolver()


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        permissions: frozenset[Permission],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.permissions = permissions
        self.spread: set[str] = set()
        self.fields = 0
        self.in_database = True

    def collect(self, selection_set: SelectionSetNode | None, type_name: str) -> list[FieldNode]:
        """The fields of a selection set on `type_name`, fragments inlined, in order."""
        if selection_set is None:
            raise Unsupported("a selection set is missing")
        found: list[FieldNode] = []
        keys: set[str] = set()
        pending = list(reversed(selection_set.selections))
        while pending:
            selection = pending.pop()
            if selection.directives:
                raise Unsupported("directives")
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                if key in keys:
                    raise Unsupported(f"{key} is asked twice")
                keys.add(key)
                found.append(selection)
                self.fields += 1
                if self.fields > MAX_PLAN_FIELDS:
                    raise Unsupported("too many fields")
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = selection.selection_set
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in self.spread or name not in self.fragments:
                    raise Unsupported(f"fragment {name} spread twice")
                self.spread.add(name)
                condition = self.fragments[name].type_condition
                inner = self.fragments[name].selection_set
            else:  # pragma: no cover - graphql-core has no other selections
                raise Unsupported("unknown selection")
            if condition is not None and condition.name.value != type_name:
                raise Unsupported("a fragment on another type")
            pending.extend(reversed(inner.selections))
        return found

    def root(self, operation: OperationDefinitionNode) -> Plan:
        if operation.operation is not OperationType.QUERY:
            raise Unsupported("not a query")
        query_type = self.schema.query_type
        assert query_type is not None
        roots: list[tuple[str, ListPlan | str]] = []
        for node in self.collect(operation.selection_set, query_type.name):
            key = node.alias.value if node.alias else node.name.value
            if node.name.value == "__typename":
                roots.append((key, query_type.name))
                continue
            roots.append((key, self.list_field(query_type, node, nested=False)))
        return Plan(operation, roots, in_database=self.in_database)

    def list_field(self, parent: GraphQLObjectType, node: FieldNode, *, nested: bool) -> ListPlan:
        graphql_field = parent.fields.get(node.name.value)
        if graphql_field is None:
            raise Unsupported(f"no field {node.name.value}")
        definition = graphql_field.extensions.get(DEFINITION)
        declared = (definition.metadata or {}).get(LIST_FIELD) if definition else None
        if not isinstance(declared, ListField) or (declared.parent_key is not None) != nested:
            raise Unsupported(f"{node.name.value} is not a list the compiled path knows")
        if definition.permission_classes or definition.extensions:
            raise Unsupported(f"{node.name.value} checks more than the read gate")
        if nested and declared.parent_key is not db_id_of:
            raise Unsupported(f"{node.name.value} is not matched by its parent's id")
        if declared.listing.join is not None or NODE_MODELS.get(declared.node) is None:
            raise Unsupported(f"{node.name.value} is reached through another table")
        connection_type = get_named_type(graphql_field.type)
        assert isinstance(connection_type, GraphQLObjectType)
        plan = ListPlan(graphql_field, node, definition, declared.listing, ConnectionPlan())
        node_type = self.schema.get_type(declared.node.__strawberry_definition__.name)
        assert isinstance(node_type, GraphQLObjectType)
        for inner in self.collect(node.selection_set, connection_type.name):
            key = inner.alias.value if inner.alias else inner.name.value
            name = inner.name.value
            entries = plan.connection.entries
            if name == "__typename":
                entries.append((key, TYPENAME, connection_type.name))
            elif name == "totalCount":
                entries.append((key, TOTAL, None))
            elif name == "pageInfo":
                entries.append((key, PAGE_INFO, self.page_info(inner)))
            elif name == "nodes":
                entries.append((key, NODES, self.node(node_type, plan, inner)))
            elif name == "edges":
                entries.append((key, EDGES, self.edges(inner, node_type, plan)))
            else:
                raise Unsupported(f"{connection_type.name}.{name}")
        return plan

    def page_info(self, node: FieldNode) -> list[tuple[str, Callable[[Any], Any], str]]:
        """(response key, getter of the page, field name) per field asked."""
        shown: list[tuple[str, Callable[[Any], Any], str]] = []
        for inner in self.collect(node.selection_set, "PageInfo"):
            key = inner.alias.value if inner.alias else inner.name.value
            name = inner.name.value
            if name == "__typename":
                shown.append((key, lambda _page: "PageInfo", name))
            elif name in _PAGE_INFO:
                shown.append((key, _PAGE_INFO[name], name))
            else:
                raise Unsupported(f"PageInfo.{name}")
        return shown

    def edges(
        self, node: FieldNode, node_type: GraphQLObjectType, listing: ListPlan
    ) -> list[tuple[str, str, Any]]:
        shown: list[tuple[str, str, Any]] = []
        for inner in self.collect(node.selection_set, f"{node_type.name}Edge"):
            key = inner.alias.value if inner.alias else inner.name.value
            name = inner.name.value
            if name in ("__typename", "cursor"):
                shown.append((key, name, f"{node_type.name}Edge"))
            elif name == "node":
                shown.append((key, name, self.node(node_type, listing, inner)))
            else:
                raise Unsupported(f"Edge.{name}")
        return shown

    def _field_of(self, parent: GraphQLObjectType, node: FieldNode) -> GraphQLField:
        found: GraphQLField | None = parent.fields.get(node.name.value)
        if found is None:
            raise Unsupported(f"no field {parent.name}.{node.name.value}")
        return found

    def node(self, node_type: GraphQLObjectType, listing: ListPlan, node: FieldNode) -> NodePlan:
        table = listing.listing.model.__table__
        columns = list(table.columns.keys())
        plan = NodePlan()
        try:
            self._node(node_type, listing, node, table, columns, plan)
        finally:
            if plan.sql is None:
                self.in_database = False
        return plan

    def _node(
        self,
        node_type: GraphQLObjectType,
        listing: ListPlan,
        node: FieldNode,
        table: Any,
        columns: list[str],
        plan: NodePlan,
    ) -> None:
        for inner in self.collect(node.selection_set, node_type.name):
            key = inner.alias.value if inner.alias else inner.name.value
            name = inner.name.value
            if name == "__typename":
                plan.values.append((key, _constant(node_type.name), None))
                plan.add_sql(key, sql_json.string(node_type.name))
                continue
            graphql_field = self._field_of(node_type, inner)
            definition: StrawberryField | None = graphql_field.extensions.get(DEFINITION)
            if definition is None or definition.permission_classes:
                raise Unsupported(f"{node_type.name}.{name} checks permissions")
            metadata: Mapping[str, Any] = definition.metadata or {}
            if LIST_FIELD in metadata:
                nested = self.list_field(node_type, inner, nested=True)
                plan.values.append((key, None, nested))
                plan.lists.append(nested)
                plan.add_sql(key, nested)
                continue
            if inner.arguments:
                raise Unsupported(f"{node_type.name}.{name} takes arguments")
            hidden = False
            for extension in definition.extensions:
                if isinstance(extension, OnlyFor):
                    hidden = hidden or not extension.admits(self.permissions)
                elif not isinstance(extension, Shows):
                    raise Unsupported(f"{node_type.name}.{name} has an extension")
            if hidden:
                plan.values.append((key, _constant(None), None))
                plan.add_sql(key, sql_json.NULL)
                continue
            resolver = definition.base_resolver
            if resolver is not None and resolver.wrapped_func is _NODE_ID:
                plan.values.append((key, _global_id(node_type.name, listing.column("id")), None))
                plan.add_sql(key, sql_json.global_id(node_type.name, table.c.id))
            elif ROW_VALUE in metadata:
                # The function reads the columns the field shows (all, if it names none).
                shows = [e.columns for e in definition.extensions if isinstance(e, Shows)]
                for column in sorted(frozenset().union(*shows)) if shows else columns:
                    listing.column(column)
                build, parts = self.value_object(graphql_field, inner)
                plan.values.append((key, _computed(metadata[ROW_VALUE], build), None))
                written = metadata.get(ROW_VALUE_SQL)
                plan.add_sql(key, _object_sql(parts, written(table.c)) if written else None)
            elif resolver is None and definition.python_name in columns:
                index = listing.column(definition.python_name)
                plan.values.append((key, _leaf(graphql_field, index), None))
                plan.add_sql(
                    key, sql_json.value_sql(graphql_field, table.c[definition.python_name])
                )
            else:
                raise Unsupported(f"{node_type.name}.{name} has a resolver")

    def value_object(
        self, graphql_field: GraphQLField, node: FieldNode
    ) -> tuple[Getter, list[tuple[str, str, str]]]:
        """A getter turning an object of plain attributes (an amount) into its answer,
        and what it shows: (response key, "typename" or "field", type or attribute)."""
        object_type = get_named_type(graphql_field.type)
        if not isinstance(object_type, GraphQLObjectType):
            raise Unsupported("a computed value that is not an object")
        parts: list[tuple[str, Getter]] = []
        shown: list[tuple[str, str, str]] = []
        for inner in self.collect(node.selection_set, object_type.name):
            key = inner.alias.value if inner.alias else inner.name.value
            if inner.name.value == "__typename":
                parts.append((key, _constant(object_type.name)))
                shown.append((key, "typename", object_type.name))
                continue
            field_ = self._field_of(object_type, inner)
            definition: StrawberryField | None = field_.extensions.get(DEFINITION)
            if (
                definition is None
                or definition.base_resolver is not None
                or definition.extensions
                or definition.permission_classes
                or inner.arguments
                or inner.selection_set is not None
            ):
                raise Unsupported(f"{object_type.name}.{inner.name.value}")
            parts.append((key, _attribute(field_, definition.python_name)))
            shown.append((key, "field", definition.python_name))
        nullable = not isinstance(graphql_field.type, GraphQLNonNull)

        def build(value: Any) -> Any:
            if value is None:
                if nullable:
                    return None
                raise Fallback
            return {key: get(value) for key, get in parts}

        return build, shown


def _object_sql(shown: list[tuple[str, str, str]], written: dict[str, Any]) -> Any:
    """A value object's JSON text from the JSON text of its fields (`written`), or
    None when one of those asked is not written."""
    parts: list[Any] = ["{"]
    for index, (key, kind, detail) in enumerate(shown):
        parts.append(("," if index else "") + f"{json.dumps(key)}:")
        if kind == "typename":
            parts.append(json.dumps(detail))
        elif detail in written:
            # Never NULL by `row_value`'s contract; if it were, the mark, not a row lost.
            parts.append(sql_json.or_unwritten(written[detail]))
        else:
            return None
    parts.append("}")
    return sql_json.concat(parts)


def _constant(value: Any) -> Getter:
    return lambda _row: value


def _serializer(graphql_field: GraphQLField) -> tuple[Callable[[Any], Any], bool]:
    named = get_named_type(graphql_field.type)
    serialize = named.serialize  # type: ignore[attr-defined]
    return serialize, isinstance(graphql_field.type, GraphQLNonNull)


# Values the schema's own serializers would return unchanged: read as they are.
_AS_IS = {"String": str, "ID": str, "Int": int, "Boolean": bool}
# Distinct values of one enum or date field remembered with their serialized form (an
# enum has a few; a list's dates repeat): the serializers are pure functions.
MAX_REMEMBERED = 4096


def _leaf(graphql_field: GraphQLField, index: int) -> Getter:
    """A column's value, serialized as graphql-core would serialize the field's type."""
    named, shape = get_named_type(graphql_field.type), get_nullable_type(graphql_field.type)
    if not isinstance(named, GraphQLScalarType | GraphQLEnumType) or shape is not named:
        raise Unsupported("a column that is not a scalar")
    serialize, required = _serializer(graphql_field)
    as_is = _AS_IS.get(named.name)
    # An Int as it is only within GraphQL's 32 bits: beyond, its serializer refuses it,
    # as the reference executor's does (SQLite's INTEGER column holds 64).
    bounded = named.name == "Int"
    low, high = sql_json.INT_RANGE
    remembered: dict[Any, Any] = {}
    remember = isinstance(named, GraphQLEnumType) or named.name == "Date"

    def get(row: Any) -> Any:
        value = number = row[index]
        if value is None:
            if required:
                raise Fallback
            return None
        if type(value) is as_is and (not bounded or low <= number <= high):
            return value
        if remember:
            found = remembered.get(value, remembered)
            if found is not remembered:
                return found
            shown = serialize(value)
            if len(remembered) < MAX_REMEMBERED:
                remembered[value] = shown
            return shown
        return serialize(value)

    return get


def _attribute(graphql_field: GraphQLField, name: str) -> Getter:
    serialize, required = _serializer(graphql_field)

    def get(value: Any) -> Any:
        found = getattr(value, name)
        if found is None:
            if required:
                raise Fallback
            return None
        return serialize(found)

    return get


def _global_id(type_name: str, index: int) -> Getter:
    return lambda row: encode_global_id(type_name, row[index])


def _computed(function: Callable[[Any], Any], build: Getter) -> Getter:
    return lambda row: build(function(row))


def compile_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    permissions: frozenset[Permission],
) -> Plan:
    """The plan of `operation` (Unsupported when it has a shape no plan expresses)."""
    return _Compiler(schema, fragments, permissions).root(operation)

"""The corpus the differential tests draw: query operations over the schema's lists.

Everything is read off the schema the app serves, so that a list, a column or a filter
added later is drawn too: the root lists are the fields of `Query` whose metadata
declares a list (app/graphql/compiled/declare.py), and each node type's fields are
sorted into the kinds the compiled read path answers (columns, `id`, values computed
from the row, nested lists) and the rest (fields with resolvers of their own), which an
operation holds now and then, and which make it one the reference executor answers.

An operation is `meant` for the compiled path when it holds only the shapes issue 15
names: root lists and the lists nested under their records (not one reached through
another table), node fields that are columns, `id`, `row_value` objects, `__typename`,
aliases, fragments on the same type, variables, and the list arguments — and, for a
field only some callers may see (`OnlyFor`), only when the caller may not (it is null).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
)
from hypothesis import strategies as st

from app.auth.roles import Permission
from app.config import Settings
from app.graphql.compiled.declare import LIST_FIELD, ROW_VALUE, ListField
from app.graphql.loaders import NODE_MODELS, NODE_TYPES
from app.graphql.schema import build_schema
from app.graphql.visibility import OnlyFor

DEFINITION = "strawberry-definition"
SCHEMA: GraphQLSchema = build_schema(Settings())._schema
QUERY = SCHEMA.query_type
assert QUERY is not None

# Lists nest this deep at most (a root list is level 1).
MAX_DEPTH = 3
# What operations hold, each of which the compiled path must have answered in a run.
FEATURES = (
    "alias",
    "fragment",
    "variable",
    "cursor",
    "filter",
    "orderBy",
    "asOf",
    "__typename",
    "hidden",
    "depth2",
    "depth3",
)


def metadata(graphql_field: GraphQLField) -> Mapping[str, Any]:
    definition = graphql_field.extensions.get(DEFINITION)
    return (definition.metadata or {}) if definition is not None else {}


def declared_list(graphql_field: GraphQLField) -> ListField | None:
    found = metadata(graphql_field).get(LIST_FIELD)
    return found if isinstance(found, ListField) else None


ROOT_LISTS = sorted(
    name
    for name, graphql_field in QUERY.fields.items()
    if (declared := declared_list(graphql_field)) is not None and declared.parent_key is None
)


@dataclass(frozen=True)
class NodeFields:
    """A node type's fields by kind."""

    columns: tuple[str, ...]
    values: tuple[str, ...]  # row_value objects (an amount)
    only_for: tuple[tuple[str, frozenset[Permission]], ...]  # answered null to some
    lists: tuple[str, ...]  # nested lists the compiled path answers
    joined: tuple[str, ...]  # nested lists reached through another table
    others: tuple[str, ...]  # fields with resolvers of their own (no required arguments)


def _is_leaf(graphql_field: GraphQLField) -> bool:
    return isinstance(get_named_type(graphql_field.type), GraphQLScalarType | GraphQLEnumType)


@cache
def node_fields(type_name: str) -> NodeFields:
    node_type = SCHEMA.get_type(type_name)
    assert isinstance(node_type, GraphQLObjectType)
    model = NODE_MODELS[NODE_TYPES[type_name]]
    stored = set(model.__table__.columns.keys())
    columns, values, only_for, lists, joined, others = [], [], [], [], [], []
    for name, graphql_field in node_type.fields.items():
        definition = graphql_field.extensions.get(DEFINITION)
        declared = declared_list(graphql_field)
        guards = [e for e in definition.extensions if isinstance(e, OnlyFor)]
        required = any(
            arg.type is not get_nullable_type(arg.type) for arg in graphql_field.args.values()
        )
        if name == "id":
            columns.append(name)
        elif declared is not None:
            (joined if declared.listing.join is not None else lists).append(name)
        elif ROW_VALUE in metadata(graphql_field):
            values.append(name)
        elif guards and not graphql_field.args:
            permissions = frozenset().union(*(g.permissions for g in guards))
            only_for.append((name, permissions))
        elif (
            definition.base_resolver is None
            and definition.python_name in stored
            and not definition.permission_classes
            and not graphql_field.args
            and _is_leaf(graphql_field)
        ):
            columns.append(name)
        elif not required:
            others.append(name)
    return NodeFields(*(tuple(x) for x in (columns, values, only_for, lists, joined, others)))


class EnumValue(str):
    """An enum value: a bare name in a document, a string in variables."""


def literal(value: Any) -> str:
    """`value` as a GraphQL literal."""
    if isinstance(value, EnumValue):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


@dataclass
class Pools:
    """Values drawn for arguments: the real ones are read from the seeded database."""

    # Cursors of each list in its default order, by the list's name (a cursor names
    # its list and order: another list's is refused).
    cursors: dict[str, list[str]]
    ids: dict[str, list[str]]  # by node type
    moments: list[str]  # the first the one to use; the others are refused
    strings: list[str]

    def invalid_cursors(self) -> list[str]:
        valid = min(min(found) for found in self.cursors.values())
        return [
            "",
            "bogus",
            valid.rstrip("="),  # the padding dropped
            valid + "=",
            base64.urlsafe_b64encode(b"elsewhere:3").decode(),
            base64.urlsafe_b64encode(b"cursor:00003").decode(),
        ]


@dataclass
class Operation:
    text: str
    variables: dict[str, Any]
    meant: bool
    roots: list[str]
    features: set[str] = field(default_factory=set)


class _Builder:
    def __init__(self, draw: st.DrawFn, pools: Pools, permissions: frozenset[Permission]) -> None:
        self.draw = draw
        self.pools = pools
        self.permissions = permissions
        self.variables: list[str] = []
        self.values: dict[str, Any] = {}
        self.fragments: list[str] = []
        self.count = 0
        self.meant = True
        self.features: set[str] = set()
        self.moment: str | None = None

    def chance(self, one_in: int) -> bool:
        """True about once in `one_in` draws (False as the simplest: what shrinks)."""
        return self.draw(st.integers(1, one_in)) == one_in

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def key(self, name: str, alias: str | None = None) -> str:
        if alias is not None:
            return f"{alias}: {name}"
        if self.chance(5):
            self.features.add("alias")
            return f"{self.fresh('k')}: {name}"
        return name

    def wrap(self, parts: list[str], type_name: str) -> str:
        """The parts of a selection set, some of them moved into a fragment."""
        how = self.draw(st.sampled_from(["plain", "plain", "plain", "inline", "typed", "named"]))
        split = self.draw(st.integers(0, len(parts) - 1))
        outside, inside = parts[:split], " ".join(parts[split:])
        if how == "plain":
            return " ".join(parts)
        self.features.add("fragment")
        if how == "inline":
            moved = f"... {{ {inside} }}"
        elif how == "typed":
            moved = f"... on {type_name} {{ {inside} }}"
        else:
            name = self.fresh("F")
            self.fragments.append(f"fragment {name} on {type_name} {{ {inside} }}")
            moved = f"...{name}"
        after = self.draw(st.booleans())
        return " ".join([*outside, moved] if after else [moved, *outside])

    def argument(self, name: str, type_: GraphQLInputType, value: Any) -> str:
        if self.draw(st.booleans()):
            self.features.add("variable")
            variable = self.fresh("v")
            self.variables.append(f"${variable}: {type_}")
            self.values[variable] = value
            return f"{name}: ${variable}"
        return f"{name}: {literal(value)}"

    # --- values ----------------------------------------------------------------

    def scalar(self, name: str, owner: str | None) -> Any:
        ids = self.pools.ids.get(owner or "", [])
        if not ids or self.chance(10):
            ids = ["bogus", *(i for found in self.pools.ids.values() for i in found)]
        pools: dict[str, list[Any]] = {
            "String": self.pools.strings,
            "Int": [0, 1, 2, 3, 10, -1],
            "Boolean": [True, False],
            "ID": ids,
            "Date": ["2021-01-01", "2022-06-30", "2023-12-31", "2025-01-01"],
            "DateTime": ["2022-01-01T00:00:00Z", "2030-01-01T00:00:00+08:00"],
            "Decimal": ["0", "10.00", "100", "1000000.00", "0.155"],
        }
        return self.draw(st.sampled_from(pools[name]))

    def input_value(self, type_: GraphQLInputType, depth: int, owner: str | None = None) -> Any:
        """A value of `type_`; IDs mostly of records of `owner`, the node type whose
        filter holds them."""
        nullable = get_nullable_type(type_)
        if isinstance(nullable, GraphQLList):
            size = self.draw(st.integers(1, 2))
            return [self.input_value(nullable.of_type, depth, owner) for _ in range(size)]
        if isinstance(nullable, GraphQLEnumType):
            return EnumValue(self.draw(st.sampled_from(sorted(nullable.values))))
        if isinstance(nullable, GraphQLScalarType):
            return self.scalar(nullable.name, owner)
        assert isinstance(nullable, GraphQLInputObjectType)
        if nullable.name.endswith("Filter") and nullable.name[: -len("Filter")] in NODE_TYPES:
            owner = nullable.name[: -len("Filter")]
        required = [
            n for n, f in nullable.fields.items() if f.type is not get_nullable_type(f.type)
        ]
        optional = [
            n
            for n, f in nullable.fields.items()
            if n not in required and (depth < 2 or _flat(get_named_type(f.type)))
        ]
        chosen = list(required)
        if optional:
            chosen += self.draw(
                st.lists(
                    st.sampled_from(optional),
                    min_size=0 if required else 1,
                    max_size=2,
                    unique=True,
                )
            )
        return {n: self.input_value(nullable.fields[n].type, depth + 1, owner) for n in chosen}

    # --- selections ---------------------------------------------------------------

    def arguments(self, graphql_field: GraphQLField, root: bool, listing: str) -> str:
        parts: list[str] = []
        args = graphql_field.args
        # Mostly windows the lists answer; now and then one they refuse.
        sizes = [0, 1, 2, 3, 5, 20, 100, None] if not self.chance(12) else [101, -1]
        ends = ["first"] if self.chance(2) else ["last"] if self.chance(4) else []
        if self.chance(30):
            ends = ["first", "last"]
        for name in ends:
            parts.append(self.argument(name, args[name].type, self.draw(st.sampled_from(sizes))))
        # Mostly cursors of this list in its default order (then no orderBy is drawn);
        # now and then one of another list, or not a cursor at all.
        own = self.pools.cursors.get(listing)
        ordered = True
        for name, one_in in (("after", 3), ("before", 6)):
            if self.chance(one_in):
                self.features.add("cursor")
                if own and not self.chance(8):
                    cursors, ordered = own, False
                elif self.chance(2):
                    cursors = self.pools.invalid_cursors()
                else:
                    cursors = [c for found in self.pools.cursors.values() for c in found]
                parts.append(
                    self.argument(name, args[name].type, self.draw(st.sampled_from(cursors)))
                )
        for name, one_in in (("filter", 4), ("orderBy", 3)):
            if name == "orderBy" and not ordered:
                continue
            if name in args and self.chance(one_in):
                self.features.add(name)
                parts.append(
                    self.argument(name, args[name].type, self.input_value(args[name].type, 0))
                )
        if root and self.moment is not None:
            parts.append(self.argument("asOf", args["asOf"].type, self.moment))
        self.draw(st.randoms()).shuffle(parts)
        return f"({', '.join(parts)})" if parts else ""

    def connection(
        self, parent: GraphQLObjectType, name: str, depth: int, alias: str | None = None
    ) -> str:
        graphql_field = parent.fields[name]
        declared = declared_list(graphql_field)
        assert declared is not None
        if declared.listing.join is not None:
            self.meant = False
        connection_type = get_named_type(graphql_field.type)
        assert isinstance(connection_type, GraphQLObjectType)
        node_type = declared.node.__strawberry_definition__.name
        arguments = self.arguments(graphql_field, root=depth == 1, listing=declared.listing.name)
        kinds = self.draw(
            st.lists(
                st.sampled_from(["totalCount", "pageInfo", "edges", "nodes", "__typename"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        parts = []
        for kind in kinds:
            if kind == "pageInfo":
                shown = self.draw(
                    st.lists(
                        st.sampled_from(
                            [
                                "hasNextPage",
                                "hasPreviousPage",
                                "startCursor",
                                "endCursor",
                                "__typename",
                            ]
                        ),
                        min_size=1,
                        unique=True,
                    )
                )
                parts.append(f"{self.key(kind)} {{ {' '.join(self.key(s) for s in shown)} }}")
            elif kind == "nodes":
                parts.append(f"{self.key(kind)} {{ {self.node(node_type, depth)} }}")
            elif kind == "edges":
                shown = self.draw(
                    st.lists(
                        st.sampled_from(["cursor", "node", "__typename"]), min_size=1, unique=True
                    )
                )
                inner = [
                    f"{self.key(s)} {{ {self.node(node_type, depth)} }}"
                    if s == "node"
                    else self.key(s)
                    for s in shown
                ]
                parts.append(f"{self.key(kind)} {{ {self.wrap(inner, f'{node_type}Edge')} }}")
            else:
                parts.append(self.key(kind))
        return f"{self.key(name, alias)}{arguments} {{ {self.wrap(parts, connection_type.name)} }}"

    def node(self, type_name: str, depth: int) -> str:
        node_type = SCHEMA.get_type(type_name)
        assert isinstance(node_type, GraphQLObjectType)
        kinds = node_fields(type_name)
        hidden = [n for n, allowed in kinds.only_for if not allowed & self.permissions]
        shown = [n for n, allowed in kinds.only_for if allowed & self.permissions]
        plain = ["__typename", *kinds.columns, *kinds.values, *hidden]
        chosen = self.draw(st.lists(st.sampled_from(plain), min_size=1, max_size=6, unique=True))
        if depth < MAX_DEPTH and kinds.lists:
            chosen += self.draw(st.lists(st.sampled_from(kinds.lists), max_size=2, unique=True))
        extras = (
            [*shown, *kinds.joined, *kinds.others] if depth < MAX_DEPTH else [*shown, *kinds.others]
        )
        if extras and self.chance(10):
            chosen.append(self.draw(st.sampled_from(extras)))
        self.draw(st.randoms()).shuffle(chosen)
        parts = [self.node_field(node_type, name, depth) for name in chosen]
        if self.chance(8):  # a field asked twice under other names
            again = self.draw(st.sampled_from(chosen))
            parts.append(self.node_field(node_type, again, depth, self.fresh("again")))
        return self.wrap(parts, type_name)

    def node_field(
        self, node_type: GraphQLObjectType, name: str, depth: int, alias: str | None = None
    ) -> str:
        kinds = node_fields(node_type.name)
        if name in kinds.lists or name in kinds.joined:
            self.features.add(f"depth{depth + 1}")
            return self.connection(node_type, name, depth + 1, alias)
        if name == "__typename":
            self.features.add("__typename")
            return self.key(name, alias)
        graphql_field = node_type.fields[name]
        hidden = {n for n, allowed in kinds.only_for if not allowed & self.permissions}
        if name in hidden:
            self.features.add("hidden")
        elif name not in kinds.columns and name not in kinds.values:
            self.meant = False
        named = get_named_type(graphql_field.type)
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            return self.key(name, alias)
        leaves = []
        if isinstance(named, GraphQLObjectType):
            leaves = [n for n, f in named.fields.items() if _is_leaf(f) and not f.args]
        inner = self.draw(
            st.lists(st.sampled_from(["__typename", *leaves]), min_size=1, unique=True)
        )
        return f"{self.key(name, alias)} {{ {' '.join(self.key(s) for s in inner)} }}"


def _flat(named: Any) -> bool:
    """An input with no input objects inside (`StringFilter`, an order)."""
    if not isinstance(named, GraphQLInputObjectType):
        return True
    return all(
        not isinstance(get_named_type(f.type), GraphQLInputObjectType)
        for f in named.fields.values()
    )


@st.composite
def operations(draw: st.DrawFn, pools: Pools, permissions: frozenset[Permission]) -> Operation:
    builder = _Builder(draw, pools, permissions)
    if builder.chance(3):
        # One moment for every root list (or the operation is refused): mostly the
        # moment between the writes.
        builder.features.add("asOf")
        builder.moment = (
            draw(st.sampled_from(pools.moments[1:])) if builder.chance(8) else pools.moments[0]
        )
    roots = draw(st.lists(st.sampled_from(ROOT_LISTS), min_size=1, max_size=2))
    parts = [
        builder.connection(QUERY, name, 1, builder.fresh("again") if name in roots[:i] else None)
        for i, name in enumerate(roots)
    ]
    if builder.chance(6):
        parts.append("__typename")
    selection = builder.wrap(parts, QUERY.name)
    if builder.variables:
        header = f"query Q({', '.join(builder.variables)})"
    else:
        header = draw(st.sampled_from(["", "query", "query Q"]))
    text = " ".join([f"{header} {{ {selection} }}".strip(), *builder.fragments])
    return Operation(text, builder.values, builder.meant, roots, builder.features)

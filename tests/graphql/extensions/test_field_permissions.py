"""Every field of the schema has a known permission, and each permission a field
declares is enforced for every role that lacks it.

Known, for a field (app/graphql/extensions/permissions.py says why there are two
mechanisms):
- a permission it declares: a permission class (`permission_classes=[NeedsAudit]`, a
  FieldPermission), `OnlyFor(...)` (null for callers without it: app/graphql/visibility.py),
  or its metadata's "permission" (an app.auth.roles.Permission; how mutations declare it);
- a root field of Query: READ, and of Subscription: READ and SUBSCRIBE, by the read gate
  (its OPERATION_PERMISSIONS), which every query and subscription meets before it runs;
- a root field of Mutation: only what it declares (the gate lets through anyone who may
  do anything, so each mutation must say what it needs);
- a field of any other type: its root field's, as nothing reaches it but through a root
  (so each such type must be reachable from a root), plus what it declares.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import strawberry
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType

from app.auth.roles import ANONYMOUS_PERMISSIONS, ROLE_PERMISSIONS, Permission, Role
from app.config import Settings
from app.db.session import StatementCounter
from app.graphql.extensions.permissions import OPERATION_PERMISSIONS, FieldPermission, NeedsAudit
from app.graphql.schema import build_schema
from app.graphql.visibility import OnlyFor
from app.main import create_app
from tests import factories as f
from tests.conftest import Database

SCHEMA = build_schema(Settings())
QUERY, SUBSCRIPTION = OperationType.QUERY, OperationType.SUBSCRIPTION
PERMISSION = "permission"  # the metadata key a field declares its permission under

# Mutations that do not declare their permission in metadata yet: another change makes
# each one declare `metadata={"permission": ...}`. This list only shrinks; a mutation
# that declares its permission must leave it (a test says so).
UNDECLARED_MUTATIONS: frozenset[str] = frozenset()


def declared(field: StrawberryField) -> frozenset[Permission]:
    """The permissions `field` declares itself; unknown permission classes fail."""
    found: set[Permission] = set()
    for extension in field.extensions:
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                assert isinstance(permission, FieldPermission), (field.name, permission)
                found.add(permission.permission)
        elif isinstance(extension, OnlyFor):
            found |= extension.permissions
    metadata = (field.metadata or {}).get(PERMISSION)
    if metadata is not None:
        assert isinstance(metadata, Permission), (field.name, metadata)
        found.add(metadata)
    return frozenset(found)


def _classes_of(field: StrawberryField) -> frozenset[Permission]:
    """What `field`'s permission classes ask for (OnlyFor and metadata aside)."""
    return frozenset(
        p.permission
        for e in field.extensions
        if isinstance(e, PermissionExtension)
        for p in e.permissions
        if isinstance(p, FieldPermission)
    )


def _object_types(schema: GraphQLSchema) -> Iterator[GraphQLObjectType | GraphQLInterfaceType]:
    for name, named in schema.type_map.items():
        if not name.startswith("__") and isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType
        ):
            yield named


def _strawberry(field: GraphQLField) -> StrawberryField:
    definition = (field.extensions or {}).get("strawberry-definition")
    assert isinstance(definition, StrawberryField)
    return definition


def _reachable(schema: GraphQLSchema) -> set[str]:
    """The names of the types some root field leads to (the roots included)."""
    roots = [schema.query_type, schema.mutation_type, schema.subscription_type]
    seen: set[str] = set()
    todo = [root for root in roots if root is not None]
    while todo:
        named = todo.pop()
        if named.name in seen:
            continue
        seen.add(named.name)
        if isinstance(named, GraphQLInterfaceType):
            todo += schema.get_possible_types(named)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            todo += [get_named_type(field.type) for field in named.fields.values()]
    return seen


def without_known_permission(
    schema: GraphQLSchema, undeclared_mutations: frozenset[str] = frozenset()
) -> list[str]:
    """`Type.field` of each field whose permission is not known, by the rules above."""
    reachable = _reachable(schema)
    # An interface's fields are resolved on the types that implement it.
    reachable |= {
        named.name
        for named in _object_types(schema)
        if isinstance(named, GraphQLInterfaceType)
        and any(t.name in reachable for t in schema.get_possible_types(named))
    }
    roots = {
        getattr(schema.query_type, "name", None): OPERATION_PERMISSIONS[QUERY],
        getattr(schema.subscription_type, "name", None): OPERATION_PERMISSIONS[SUBSCRIPTION],
    }
    mutation = getattr(schema.mutation_type, "name", None)
    missing: list[str] = []
    for named in _object_types(schema):
        for name, field in named.fields.items():
            own = declared(_strawberry(field))
            if named.name == mutation:
                known = bool(own) or name in undeclared_mutations
            elif named.name in roots:
                known = bool(roots[named.name])
            else:
                known = named.name in reachable
            if not known:
                missing.append(f"{named.name}.{name}")
    return missing


def test_every_field_has_a_known_permission() -> None:
    assert without_known_permission(SCHEMA._schema, UNDECLARED_MUTATIONS) == []


def test_the_list_of_undeclared_mutations_only_shrinks() -> None:
    mutations = SCHEMA._schema.mutation_type
    assert mutations is not None
    for name in UNDECLARED_MUTATIONS:
        # still a mutation, and still undeclared: a declared one leaves the list
        assert name in mutations.fields, name
        assert not declared(_strawberry(mutations.fields[name])), name


def test_the_walk_finds_a_field_without_a_known_permission() -> None:
    # given a schema with a mutation that declares nothing and one that declares WRITE
    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def undeclared(self) -> bool:
            return True

        @strawberry.mutation(metadata={PERMISSION: Permission.WRITE})
        def declared(self) -> bool:
            return True

    schema = strawberry.Schema(query=Query, mutation=Mutation)._schema
    # then the undeclared one is reported, unless it is listed
    assert without_known_permission(schema) == ["Mutation.undeclared"]
    assert without_known_permission(schema, frozenset({"undeclared"})) == []


def test_only_the_services_permission_classes_are_used() -> None:
    class Anyone(BasePermission):
        def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
            return True

    field = StrawberryField(python_name="x", permission_classes=[Anyone])
    with pytest.raises(AssertionError):
        declared(field)
    assert declared(StrawberryField(python_name="y", permission_classes=[NeedsAudit])) == {
        Permission.AUDIT
    }


def test_an_interfaces_permission_holds_in_every_type_that_implements_it() -> None:
    schema = SCHEMA._schema
    for named in _object_types(schema):
        if not isinstance(named, GraphQLInterfaceType):
            continue
        for name, field in named.fields.items():
            wanted = declared(_strawberry(field))
            for implementation in schema.get_possible_types(named):
                got = declared(_strawberry(implementation.fields[name]))
                assert got == wanted, f"{implementation.name}.{name}"


_NEEDS = re.compile(r"[Nn]eeds the ([a-z_, ]+?) permissions?\b")


def _named_in(description: str | None) -> frozenset[Permission]:
    found: set[Permission] = set()
    for words in _NEEDS.findall(description or ""):
        found |= {Permission(w) for w in re.split(r",\s*|\s+and\s+", words) if w}
    return frozenset(found)


def test_what_a_description_says_a_field_needs_is_what_it_gets() -> None:
    # A description that promises a check nobody makes, or a check the schema does not
    # tell clients about, both fail.
    schema = SCHEMA._schema
    gate = {
        getattr(schema.query_type, "name", None): frozenset(OPERATION_PERMISSIONS[QUERY]),
        getattr(schema.subscription_type, "name", None): frozenset(
            OPERATION_PERMISSIONS[SUBSCRIPTION]
        ),
    }
    for named in _object_types(schema):
        for name, field in named.fields.items():
            own = declared(_strawberry(field))
            permission_classes = _classes_of(_strawberry(field))
            named_there = _named_in(field.description)
            assert named_there <= own | gate.get(named.name, frozenset()), f"{named.name}.{name}"
            assert permission_classes <= named_there, f"{named.name}.{name}"


# The fields that declare a permission class, each with an operation that selects it.
# A field gaining one must be added here (a test says so), so that it is enforced below.
SELECTS = {
    "Query.changes": "{ changes(first: 1) { edges { node { sequence } } } }",
    "Query.auditVerification": "{ auditVerification { intact } }",
    "Query.downloadLink": "{ downloadLink(report: REACH) { url } }",
    "Query.webhookEndpoints": "{ webhookEndpoints { endpointId status } }",
    # Record's, and so every record type's (the test above): read on an initiative
    "Record.history": "{ initiatives(first: 1) { edges { node { history { sequence } } } } }",
}


def _permission_classes() -> dict[str, frozenset[Permission]]:
    found: dict[str, frozenset[Permission]] = {}
    schema = SCHEMA._schema
    for named in _object_types(schema):
        for name, field in named.fields.items():
            classes = _classes_of(_strawberry(field))
            # A field an interface declares is counted once, on the interface.
            inherited = any(name in i.fields for i in named.interfaces)
            if classes and not inherited:
                found[f"{named.name}.{name}"] = classes
    return found


def test_every_declared_permission_class_has_an_operation_to_try() -> None:
    assert set(_permission_classes()) == set(SELECTS)


def _permissions_of(role: Role | None) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role] if role is not None else ANONYMOUS_PERMISSIONS


CALLERS: list[Role | None] = [*Role, None]  # None: anonymous, with anonymous reading on
CASES = [
    pytest.param(
        coordinate,
        role,
        id=f"{coordinate}-{role.value if role else 'anonymous'}",
    )
    for coordinate in SELECTS
    for role in CALLERS
]


@dataclass
class World:
    http: httpx.AsyncClient
    keys: dict[Role, str]
    db: Database


@pytest.fixture
async def world(db: Database, settings: Settings) -> AsyncIterator[World]:
    """An initiative with a trail, one key per role (a partner's sees the initiative)."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        keys = {
            role: await f.api_key(
                session,
                role,
                initiatives=[initiative.code] if role is Role.PARTNER else [],
            )
            for role in Role
        }
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "anonymous_read": True}),
        engine=db.engine,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield World(http, keys, db)


@pytest.mark.parametrize(("coordinate", "role"), CASES)
async def test_a_declared_permission_is_enforced(
    world: World, coordinate: str, role: Role | None
) -> None:
    # given a caller in each role, and anonymous
    needed = _permission_classes()[coordinate]
    headers = {"Authorization": f"Bearer {world.keys[role]}"} if role is not None else {}
    # when it selects the field
    with StatementCounter(world.db.engine) as counter:
        response = await world.http.post(
            "/graphql", json={"query": SELECTS[coordinate]}, headers=headers
        )
    body = response.json()
    trail_read = any(_reads_the_trail(statement) for statement in counter.statements)
    if needed <= _permissions_of(role):
        # then a caller with the permission gets the field (and the trail fields read it)
        assert "errors" not in body, body
        assert trail_read is (Permission.AUDIT in needed)
        return
    # then a caller without it is refused with the code and message a client always
    # got: UNAUTHENTICATED without credentials, else FORBIDDEN naming role and permission
    [permission] = needed
    codes = {error["extensions"]["code"] for error in body["errors"]}
    if role is None:
        assert codes == {"UNAUTHENTICATED"}, body
        assert body["errors"][0]["message"].startswith(
            f"this needs the '{permission.value}' permission"
        )
    else:
        assert codes == {"FORBIDDEN"}, body
        assert body["errors"][0]["extensions"] == {
            "code": "FORBIDDEN",
            "role": role.value,
            "permission": permission.value,
        }
    # and the field did none of its work: no link, the trail not read
    assert body.get("data") is None, body
    assert not trail_read, counter.statements


def _reads_the_trail(statement: str) -> bool:
    """Whether a statement reads the trail's entries (not merely counts its rows for
    the work estimate, as every operation that names a trail field does)."""
    return "changes.entity_id" in statement or "changes.hash" in statement

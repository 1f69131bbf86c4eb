"""The committed schema.graphql is the code's schema, and it has what clients rely on."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
)

from app.config import Settings
from app.graphql import schema as app_schema

# The schema as the server builds it (no setting changes its SDL).
schema = app_schema.build_schema(Settings())

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"

QUERY_FIELDS = {
    "program",
    "programs",
    "initiatives",
    "budgetLines",
    "transactions",
    "milestones",
    "beneficiaryGroups",
    "exchangeRates",
    "organizations",
    "node",
}


def test_committed_schema_matches_the_code() -> None:
    expected = schema.as_str() + "\n"
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(),
            expected.splitlines(),
            "schema.graphql (committed)",
            "schema.graphql (from the code)",
            lineterm="",
        )
        excerpt = "\n".join(list(diff)[:60])
        pytest.fail(
            "schema.graphql is out of date with the code: run `make schema` "
            "(pledge-ledger export-schema -o schema.graphql) and commit the result.\n" + excerpt,
            pytrace=False,
        )


@pytest.fixture(params=["code", "committed"])
def graphql_schema(request: pytest.FixtureRequest) -> GraphQLSchema:
    """The schema as the server builds it, and as the committed SDL describes it."""
    if request.param == "code":
        return schema._schema
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


def _type_str(type_: GraphQLOutputType) -> str:
    """A field type in SDL notation, e.g. `[ProgramEdge!]!`."""
    return str(type_)


def _object(gql: GraphQLSchema, name: str) -> GraphQLObjectType:
    named = gql.get_type(name)
    assert isinstance(named, GraphQLObjectType), f"{name} is not an object type: {named!r}"
    return named


def _fields(gql: GraphQLSchema, name: str) -> dict[str, str]:
    """An object type's fields and their types in SDL notation."""
    return {field: _type_str(f.type) for field, f in _object(gql, name).fields.items()}


def _has_fields(gql: GraphQLSchema, name: str, expected: dict[str, str]) -> None:
    """The type has every expected field with that type (it may have others too)."""
    fields = _fields(gql, name)
    assert {field: fields.get(field) for field in expected} == expected, name


@pytest.mark.parametrize("name", ["Decimal", "Date", "DateTime"])
def test_scalars(graphql_schema: GraphQLSchema, name: str) -> None:
    assert isinstance(graphql_schema.get_type(name), GraphQLScalarType)


def test_node_interface(graphql_schema: GraphQLSchema) -> None:
    node = graphql_schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    assert _type_str(node.fields["id"].type) == "ID!"
    program = _object(graphql_schema, "Program")
    assert node in program.interfaces


def test_money_types(graphql_schema: GraphQLSchema) -> None:
    _has_fields(graphql_schema, "Money", {"amount": "Decimal!", "currency": "String!"})
    _has_fields(
        graphql_schema,
        "ConvertedMoney",
        {
            "amount": "Decimal!",
            "currency": "String!",
            "rate": "Decimal!",
            "rateDate": "Date!",
            "rateSource": "String!",
            "original": "Money!",
        },
    )


def test_query_root_fields(graphql_schema: GraphQLSchema) -> None:
    query = graphql_schema.query_type
    assert query is not None
    assert set(query.fields) >= QUERY_FIELDS, QUERY_FIELDS - set(query.fields)
    assert _type_str(query.fields["node"].type) == "Node"
    assert _type_str(query.fields["program"].type) == "Program"
    # the plural root fields are Relay connections
    for name in QUERY_FIELDS - {"node", "program"}:
        returned = _type_str(query.fields[name].type)
        assert returned.endswith("Connection!"), f"Query.{name}: {returned}"


def test_every_connection_has_count_page_info_edges_and_nodes(
    graphql_schema: GraphQLSchema,
) -> None:
    connections = [
        named
        for name, named in graphql_schema.type_map.items()
        if name.endswith("Connection") and isinstance(named, GraphQLObjectType)
    ]
    assert len(connections) >= len(QUERY_FIELDS) - 2
    for connection in connections:
        item = connection.name.removesuffix("Connection")
        _has_fields(
            graphql_schema,
            connection.name,
            {
                "totalCount": "Int!",
                "pageInfo": "PageInfo!",
                "edges": f"[{item}Edge!]!",
                "nodes": f"[{item}!]!",
            },
        )
        _has_fields(graphql_schema, f"{item}Edge", {"cursor": "String!", "node": f"{item}!"})


def test_page_info(graphql_schema: GraphQLSchema) -> None:
    _has_fields(
        graphql_schema,
        "PageInfo",
        {
            "hasNextPage": "Boolean!",
            "hasPreviousPage": "Boolean!",
            "startCursor": "String",
            "endCursor": "String",
        },
    )


def undocumented(gql: GraphQLSchema) -> list[str]:
    """Every type, field, argument and enum value of the schema without a description,
    named as a reader finds it (`Type`, `Type.field`, `Type.field(arg)`, `Enum.VALUE`)."""
    missing = []
    for name, gql_type in gql.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "ID", "Float"):
            continue
        if not gql_type.description:
            missing.append(name)
        for field_name, field in (getattr(gql_type, "fields", None) or {}).items():
            if not field.description:
                missing.append(f"{name}.{field_name}")
            for arg_name, arg in (getattr(field, "args", None) or {}).items():
                if not arg.description:
                    missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(gql_type, GraphQLEnumType):
            missing.extend(
                f"{name}.{value_name}"
                for value_name, value in gql_type.values.items()
                if not value.description
            )
    return missing


def test_every_type_field_argument_and_enum_value_is_documented(
    graphql_schema: GraphQLSchema,
) -> None:
    # A frontend developer or an auditor reads the schema in GraphiQL; nothing there is
    # left unexplained, down to what each enum value means.
    assert undocumented(graphql_schema) == []


def test_the_documentation_check_sees_what_lacks_a_description() -> None:
    # The check's own oracle: one of each kind of gap, and nothing else.
    sdl = """
    "A query." type Query { "A field." f("An argument." a: Int, b: I): E, g: Bare }
    "An enum." enum E { "A value." A B }
    type Bare { "A field." f: Int }
    "An input." input I { "A field." x: Int, y: Int }
    """
    gaps = undocumented(build_schema(sdl))
    assert sorted(gaps) == ["Bare", "E.B", "I.y", "Query.f(b)", "Query.g"]

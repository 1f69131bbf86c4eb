"""What the schema shows of itself: introspection, "Did you mean" hints and GraphiQL are
off by default and on only when asked."""

from __future__ import annotations

import pytest

from app.config import Settings
from tests.conftest import Database
from tests.http.spec.common import ClientWith, post


def test_production_defaults_show_nothing_of_the_schema() -> None:
    fields = Settings.model_fields
    assert fields["graphiql"].default is False
    assert fields["introspection"].default is False
    assert fields["field_suggestions"].default is False
    assert fields["cors_origins"].default_factory is not None
    assert fields["max_body_bytes"].default == 1_048_576
    assert fields["max_root_fields"].default == 20
    assert fields["execution_timeout_seconds"].default == 30


async def test_introspection_is_off_unless_asked(db: Database, client_with: ClientWith) -> None:
    # given
    closed, opened = client_with(introspection=False), client_with(introspection=True)
    schema_query = "{ __schema { queryType { name } } }"
    type_query = '{ __type(name: "Program") { name } }'
    # when
    refused = [await closed.error(q) for q in (schema_query, type_query)]
    typename = await closed.data("{ __typename }")
    answered = await opened.data(schema_query)
    spec = await post(closed, schema_query)
    # then
    for error in refused:
        assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
        assert "INTROSPECTION" in error["message"]
    assert typename == {"__typename": "Query"}
    assert answered == {"__schema": {"queryType": {"name": "Query"}}}
    assert spec.status_code == 400


@pytest.mark.parametrize(
    "operation",
    [
        "{ programs { totalCout } }",  # a field
        "{ programs(frist: 1) { totalCount } }",  # an argument
        "query($f: ProgramFiltr) { programs(filter: $f) { totalCount } }",  # a type
        "{ budgetSummary(groupBy: [INITIATVE]) { groupCount } }",  # an enum value
    ],
)
async def test_did_you_mean_hints_are_off_unless_asked(
    db: Database, client_with: ClientWith, operation: str
) -> None:
    # when
    hidden = await client_with(field_suggestions=False).error(operation)
    shown = await client_with(field_suggestions=True).error(operation)
    # then: the same error and code, without the hint
    assert "Did you mean" in shown["message"]
    assert "Did you mean" not in hidden["message"]
    assert shown["message"].startswith(hidden["message"])
    assert hidden["extensions"]["code"] == shown["extensions"]["code"]


async def test_graphiql_is_off_unless_asked(db: Database, client_with: ClientWith) -> None:
    # when
    closed = await client_with(graphiql=False).http.get("/graphql", headers={"Accept": "text/html"})
    opened = await client_with(graphiql=True).http.get("/graphql", headers={"Accept": "text/html"})
    # then
    assert closed.status_code == 404
    [error] = closed.json()["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "GRAPHIQL" in error["message"]
    assert opened.status_code == 200 and "graphiql" in opened.text.lower()

"""Inputs that can grow are capped, and the cap is named in a typed error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.conftest import GraphQLClient


async def test_an_overlong_text_filter_is_refused(client: GraphQLClient) -> None:
    error = await client.error(
        "query($t: String!) { initiatives(filter: {title: {contains: $t}}) { totalCount } }",
        {"t": "x" * 1001},
    )
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert "1000 characters" in error["message"]


async def test_an_overlong_id_is_refused(client: GraphQLClient) -> None:
    error = await client.error("query($id: ID!) { node(id: $id) { id } }", {"id": "A" * 5000})
    assert error["extensions"]["code"] == "INVALID_ID"


async def test_too_many_order_keys_are_refused(client: GraphQLClient) -> None:
    keys = ", ".join(["{field: TITLE}"] * 6)
    error = await client.error(f"{{ initiatives(orderBy: [{keys}]) {{ totalCount }} }}")
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert "at most 5 keys" in error["message"]


async def test_a_filter_with_too_many_values_in_all_is_refused(client: GraphQLClient) -> None:
    # given: every list within its own cap of 500, but 2,100 values in all
    codes = [f"C{i}" for i in range(300)]
    branches = [{"code": {"in": codes}} for _ in range(7)]
    # when
    error = await client.error(
        "query($f: InitiativeFilter) { initiatives(filter: $f) { totalCount } }",
        {"f": {"or": branches}},
    )
    # then
    assert error["extensions"]["code"] == "FILTER_TOO_COMPLEX"
    assert "2000 values" in error["message"]


async def test_a_long_value_inside_an_in_list_is_refused(client: GraphQLClient) -> None:
    error = await client.error(
        "query($v: [String!]) { initiatives(filter: {code: {in: $v}}) { totalCount } }",
        {"v": ["ok", "x" * 1001]},
    )
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["field"] == "filter.code.in"


async def test_a_nul_character_in_a_text_filter_is_refused(client: GraphQLClient) -> None:
    error = await client.error(
        "query($t: String!) { initiatives(filter: {title: {contains: $t}}) { totalCount } }",
        {"t": "a\u0000b"},
    )
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert "NUL" in error["message"]


def test_a_default_page_size_above_the_maximum_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError):
        Settings(default_page_size=100, max_page_size=10)


async def test_an_operation_that_could_return_too_much_is_refused_before_it_runs(
    client: GraphQLClient,
) -> None:
    # given: a small query whose nested lists multiply to millions of objects
    query = """query($n: Int) { programs(first: $n) { nodes { initiatives(first: $n) {
      nodes { program { initiatives(first: $n) { nodes { code } } } } } } } }"""
    # when
    error = await client.error(query, {"n": 100})
    small = await client.execute(query, {"n": 5})
    # then: the estimate follows the variables; the error names estimate and limit
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 1010100, "limit": 200000}
    assert "errors" not in small


async def test_a_too_deep_operation_is_refused(client: GraphQLClient) -> None:
    nested = "program { initiatives(first: 1) { nodes { " * 9 + "code" + " } } }" * 9
    error = await client.error(f"{{ {nested} }}")
    assert error["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert "exceeds maximum operation depth of 24" in error["message"]


async def test_too_many_aliases_are_refused(client: GraphQLClient) -> None:
    aliases = " ".join(f"a{i}: program {{ name }}" for i in range(31))
    error = await client.error(f"{{ {aliases} }}")
    assert error["extensions"]["code"] == "TOO_MANY_ALIASES"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ program { name ", None, "GRAPHQL_PARSE_FAILED"),
        ("{ program { nosuchfield } }", None, "GRAPHQL_VALIDATION_FAILED"),
        (
            '{ budgetLines(filter: {amount: {gte: "abc"}}) { totalCount } }',
            None,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "query($d: Date) { milestones(filter: {plannedDate: {eq: $d}}) { totalCount } }",
            {"d": "2021-13-01"},
            "BAD_USER_INPUT",
        ),
        (
            "query($a: Decimal) { budgetLines(filter: {amount: {eq: $a}}) { totalCount } }",
            {"a": 1.5},
            "BAD_USER_INPUT",
        ),
    ],
)
async def test_every_client_mistake_has_a_code(
    client: GraphQLClient, query: str, variables: dict[str, object] | None, code: str
) -> None:
    error = await client.error(query, variables)
    assert error["extensions"]["code"] == code


async def test_a_repeated_operation_hits_the_parser_and_validation_caches(
    client: GraphQLClient,
) -> None:
    # given: every limit on (depth, aliases, tokens, cost)
    from strawberry.extensions.validation_cache import _get_validate_cache

    from app.graphql.limits import CACHE_SIZE, _parse

    query = "query($n: Int) { initiatives(first: $n) { totalCount } }"
    await client.data(query, {"n": 1})
    parsed, validated = _parse.cache_info().hits, _get_validate_cache(CACHE_SIZE).cache_info().hits
    # when: the same operation with other variables
    await client.data(query, {"n": 2})
    # then: neither parsed nor validated again
    assert _parse.cache_info().hits == parsed + 1
    assert _get_validate_cache(CACHE_SIZE).cache_info().hits == validated + 1


async def test_a_variable_default_counts_toward_the_cost(client: GraphQLClient) -> None:
    # given: the page size hides in the operation's default, not in the variables sent
    query = """query($n: Int = 500) { initiatives(first: $n) { nodes {
      budgetLines(first: $n) { nodes { transactions(first: $n) { nodes { type } } } } } } }"""
    # when
    error = await client.error(query)
    # then
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    # 500 is capped at the maximum page size (100 here): 100 * (1 + 100 * (1 + 100))
    assert error["extensions"]["cost"] == 1010100


async def test_too_many_tokens_are_refused(client: GraphQLClient) -> None:
    fields = " ".join(["name"] * 5000)
    error = await client.error(f"{{ program {{ {fields} }} }}")
    assert error["extensions"]["code"] == "TOO_MANY_TOKENS"


async def test_the_issues_own_edges_shape_nests_to_the_bottom_of_the_model(
    client: GraphQLClient,
) -> None:
    # programme → initiatives → budget lines → transactions → their sources, via edges
    edge = "(first: 5) {{ edges {{ cursor node {{ {} }} }} }}"
    query = (
        "{ program { initiatives"
        + edge.format(
            "code budgetLines"
            + edge.format("transactions" + edge.format("sources" + edge.format("quote")))
        )
        + " } }"
    )
    body = await client.execute(query)
    assert "errors" not in body, body


async def test_a_report_counts_its_groups_toward_the_cost(client: GraphQLClient) -> None:
    # every group may list 100 transactions: 10,000 groups of them is too much ...
    nested = "groups { key { initiative { transactions(first: 100) { nodes { id } } } } }"
    error = await client.error(f"{{ budgetSummary(groupBy: [INITIATIVE]) {{ {nested} }} }}")
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] >= 10_000 * 100
    # ... the top 10 is fine, as a literal or as a variable
    data = await client.data(
        f"{{ budgetSummary(groupBy: [INITIATIVE], first: 10) {{ {nested} }} }}"
    )
    assert data["budgetSummary"]["groups"] == []
    query = f"query ($n: Int) {{ budgetSummary(groupBy: [INITIATIVE], first: $n) {{ {nested} }} }}"
    assert (await client.data(query, {"n": 10}))["budgetSummary"]["groups"] == []
    assert (await client.error(query, {"n": None}))["extensions"]["code"] == "QUERY_TOO_COSTLY"

"""Inputs that can grow are capped, and the cap is named in a typed error."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from graphql import FragmentDefinitionNode, parse, validate
from pydantic import ValidationError

from app.config import Settings
from app.graphql.extensions.limits import QueryCostLimiter, validation_rules
from app.graphql.schema import build_schema
from tests.conftest import Database, GraphQLClient

# The types the validation rules and the cost estimate read (no setting changes them).
SCHEMA = build_schema(Settings())._schema


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
    client_with: Callable[..., GraphQLClient],
) -> None:
    # given: every limit on (depth, aliases, tokens, cost), every operation through
    # strawberry's execution (a kept operation, app/http/kept.py, is not parsed again
    # at all: tests/http/test_kept.py)
    client = client_with(kept_operations=False)
    from strawberry.extensions.validation_cache import _get_validate_cache

    from app.graphql.extensions.limits import CACHE_SIZE, cached_parse

    query = "query($n: Int) { initiatives(first: $n) { totalCount } }"
    await client.data(query, {"n": 1})
    parsed = cached_parse.cache_info().hits
    validated = _get_validate_cache(CACHE_SIZE).cache_info().misses
    # when: the same operation with other variables
    await client.data(query, {"n": 2})
    # then: neither parsed nor validated again (what validation found is kept by the
    # document, in front of strawberry's cache)
    assert cached_parse.cache_info().hits == parsed + 1
    assert _get_validate_cache(CACHE_SIZE).cache_info().misses == validated


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


# --- fragments spread again and again (the walks of app/graphql/extensions/walks.py) -------------


def fan_out(levels: int) -> str:
    """A small document whose fragments each spread the next one twice: its last
    fragment is spread 2^levels times, in a list connection and in a report."""
    fragments = " ".join(
        f"fragment F{i} on InitiativeConnection {{ a{i}: totalCount nodes {{ code }} "
        f"...F{i + 1} ...F{i + 1} }} "
        f"fragment R{i} on BudgetSummary {{ groups {{ key {{ initiative {{ code }} }} }} "
        f"...R{i + 1} ...R{i + 1} }}"
        for i in range(levels)
    )
    return (
        "{ initiatives(first: 3) { ...F0 } "
        "budgetSummary(groupBy: [INITIATIVE], first: 2) { ...R0 } } "
        f"{fragments} fragment F{levels} on InitiativeConnection {{ totalCount }} "
        f"fragment R{levels} on BudgetSummary {{ groupCount }}"
    )


def test_the_limits_read_each_fragment_as_often_however_often_it_is_spread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: every read of a fragment's selections counted, whoever reads them
    reads: Counter[str] = Counter()

    def read(fragment: FragmentDefinitionNode) -> Any:
        reads[fragment.name.value] += 1
        return fragment.__dict__["selection_set"]

    def write(fragment: FragmentDefinitionNode, value: Any) -> None:
        fragment.__dict__["selection_set"] = value

    monkeypatch.setattr(
        FragmentDefinitionNode, "selection_set", property(read, write), raising=False
    )
    # (and the fields within MAX_FIELDS at both sizes, so that every walk runs on both)
    settings = Settings(max_fields=1_000_000)

    def most_reads(levels: int) -> int:
        reads.clear()
        document = parse(fan_out(levels))
        validate(SCHEMA, document, validation_rules(settings))
        QueryCostLimiter(settings).estimate(SCHEMA, document.definitions, {})
        return max(reads.values())

    # then: the depth, alias, field and root-field rules and the cost estimate read a
    # fragment spread 65,536 times as often as one spread 256 times
    assert most_reads(16) == most_reads(8)


async def test_a_fragment_fan_out_is_refused_at_once(client: GraphQLClient) -> None:
    # given: 1.6 KB whose last fragment is spread 2^40 times (the review's F1, n=40)
    levels = 40
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"
    # when
    error = await client.error(query)
    # then
    assert error["extensions"] == {"code": "TOO_MANY_FIELDS", "limit": 10_000}
    assert f"selects {2**levels} fields" in error["message"]


async def test_fields_count_as_often_as_their_fragment_is_spread(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: a fragment of 30 fields (one field 30 times: MAX_SAME_FIELD allows it here)
    client = client_with(max_fields=100, max_same_field=30)
    fragment = "fragment P on Program { " + "name " * 30 + "}"

    def spread(times: int) -> str:
        roots = " ".join(f"r{i}: programs {{ nodes {{ ...P }} }}" for i in range(times))
        return f"{{ {roots} }} {fragment}"

    # when: spread in 3 places (3 x 32 = 96 fields), then in 4 (128)
    within = await client.execute(spread(3))
    over = await client.error(spread(4))
    # then
    assert "errors" not in within
    assert over["extensions"] == {"code": "TOO_MANY_FIELDS", "limit": 100}
    assert "selects 128 fields" in over["message"]


async def test_depth_and_aliases_count_through_fragments_as_before(client: GraphQLClient) -> None:
    # given: 27 levels of fields, 9 of them in each of three nested fragments
    level = "program { initiatives(first: 1) { nodes { "
    nested = (
        f"{{ ...A }} fragment A on Query {{ {level * 3}...B{' } } }' * 3} }} "
        f"fragment B on Initiative {{ {level * 3}...C{' } } }' * 3} }} "
        f"fragment C on Initiative {{ {level * 3}code{' } } }' * 3} }}"
    )
    # and 16 aliases in a fragment spread twice
    aliases = " ".join(f"a{i}: name" for i in range(16))
    doubled = f"{{ program {{ ...N }} x: program {{ ...N }} }} fragment N on Program {{{aliases}}}"
    # when
    deep, many = await client.error(nested), await client.error(doubled)
    # then: depth counts fields, not fragments; every spread counts its aliases
    assert deep["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert deep["message"] == "'anonymous' exceeds maximum operation depth of 24"
    assert many["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert many["message"] == "33 aliases found. Allowed: 30"


async def test_a_long_chain_of_fragments_is_refused_not_crashed(client: GraphQLClient) -> None:
    # given: 600 fragments, each spreading the next (within MAX_TOKENS); strawberry's
    # depth limiter followed it on Python's stack, which ran out (INTERNAL)
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(600))
    query = f"{{ ...F0 }} {chain} fragment F600 on Query {{ programs {{ totalCount }} }}"
    # when
    error = await client.error(query)
    # then: graphql's own budget for fragments refuses it
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def copies(times: int) -> str:
    """The review's document: one field path written out `times` times."""
    return "{ " + "initiatives { nodes { program { id } } } " * times + "}"


def test_a_field_repeated_past_max_same_field_is_refused_before_fields_are_compared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: every comparison of two fields by graphql's OverlappingFieldsCanBeMergedRule
    # counted (each pair of copies is compared at each of its 4 levels: 450 copies made
    # 404,100 comparisons, 2 to 4 s on the event loop, in 4,500 tokens)
    from graphql.validation.rules import overlapping_fields_can_be_merged as merge_rule

    compared = Counter[str]()
    find_conflict = merge_rule.find_conflict

    def counted(*args: Any) -> Any:
        compared["pairs"] += 1
        return find_conflict(*args)

    monkeypatch.setattr(merge_rule, "find_conflict", counted)
    settings = Settings()

    def validated(document: str) -> tuple[list[Any], int]:
        compared.clear()
        errors = validate(SCHEMA, parse(document), validation_rules(settings))
        return [e.extensions for e in errors], compared["pairs"]

    # when: the most copies allowed, then one more, then the review's 450
    allowed = validated(copies(settings.max_same_field))
    one_more = validated(copies(settings.max_same_field + 1))
    review = validated(copies(450))
    # then: the most allowed are validated, every pair compared (10 x 9 / 2 pairs at 4
    # levels); past the limit the document is refused with its code, and nothing compared
    assert settings.max_same_field == 10
    assert allowed == ([], 4 * 45)
    refused = ([{"code": "FIELD_REPEATED", "limit": 10}], 0)
    assert one_more == refused
    assert review == refused


def test_fields_merged_below_a_field_count_together_and_through_fragments() -> None:
    # given: 4 copies of `nodes`, each selecting `code` 3 times (once through a fragment,
    # once through an inline fragment): 12 in the one set execution merges them into
    settings = Settings()
    inner = "code ...C ... on Initiative { code }"
    document = (
        "{ initiatives { " + f"nodes {{ {inner} }} " * 4 + "} } fragment C on Initiative { code }"
    )
    # when: MAX_SAME_FIELD is 10, then 12
    errors = validate(SCHEMA, parse(document), validation_rules(settings))
    allowed = validate(SCHEMA, parse(document), validation_rules(Settings(max_same_field=12)))
    # then
    assert [e.extensions for e in errors] == [{"code": "FIELD_REPEATED", "limit": 10}]
    assert "'code' is selected more than 10 times" in errors[0].message
    assert allowed == []


def test_operations_of_one_document_share_the_merged_sets_they_may_walk() -> None:
    # given: MAX_FIELDS=100, and operations each 30 object fields deep (31 fields, and 31
    # selection sets to walk: within the limit one by one), 3 and then 4 in a document
    settings = Settings(max_fields=100, max_query_depth=40)
    path = "initiatives { nodes { program { " * 10 + "id" + " } } }" * 10

    def document(operations: int) -> str:
        return " ".join(f"query Q{k} {{ {path} }}" for k in range(operations))

    # when
    three = validate(SCHEMA, parse(document(3)), validation_rules(settings))
    four = validate(SCHEMA, parse(document(4)), validation_rules(settings))
    # then: 3 x 31 sets are walked; 4 x 31 are more than MAX_FIELDS, and refused
    assert three == []
    assert [e.extensions for e in four] == [{"code": "TOO_MANY_FIELDS", "limit": 100}]

"""Filter input that is refused, and named where the client wrote it: ids of another
type, inverted ranges, unknown currencies, lists and nesting past their limits, decimals
sent as floats or finer than stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.config import Settings
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.lists.common import (
    BUDGET_AMOUNTS,
    INITIATIVE_CODES,
    INITIATIVES_PAGE,
    codes_matching,
    codes_where,
    make_catalogue,
    nested_not,
)


async def test_an_inverted_amount_range_is_refused_and_named(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await make_catalogue(db)
    # when
    error = await client.error(
        BUDGET_AMOUNTS, {"filter": {"amount": {"gte": "150.00", "lte": "50.00"}}}
    )
    # then
    assert error["extensions"]["code"] == "INVALID_RANGE"
    assert error["extensions"]["field"] == "filter.amount"


async def test_an_inverted_date_range_names_the_field_as_the_client_wrote_it(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await make_catalogue(db)
    # when
    error = await client.error(
        INITIATIVES_PAGE, {"filter": {"plannedStart": {"gte": "2024-01-01", "lte": "2023-01-01"}}}
    )
    # then
    assert error["extensions"]["code"] == "INVALID_RANGE"
    assert error["extensions"]["field"] == "filter.plannedStart"


@pytest.mark.parametrize("operator", ["eq", "in"])
@pytest.mark.parametrize("code", ["RMB", "XXQ"])
async def test_an_unknown_currency_code_is_refused(
    db: Database, client: GraphQLClient, operator: str, code: str
) -> None:
    # given
    await make_catalogue(db)
    value: Any = code if operator == "eq" else ["CNY", code]
    # when
    error = await client.error(BUDGET_AMOUNTS, {"filter": {"currency": {operator: value}}})
    # then
    assert error["extensions"]["code"] == "INVALID_CURRENCY"
    assert code in error["message"]


async def test_a_known_currency_code_filters(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        for currency in ("CNY", "USD", "CNY"):
            await f.budget_line(session, initiative, currency=currency)
    # when
    result = await client.data(BUDGET_AMOUNTS, {"filter": {"currency": {"eq": "USD"}}})
    # then
    assert [n["amount"]["currency"] for n in result["budgetLines"]["nodes"]] == ["USD"]


async def test_an_in_list_up_to_the_limit_is_accepted(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await make_catalogue(db)
    wanted = [rows[0].code] + [f"X-{n}" for n in range(settings.max_filter_list - 1)]
    # when
    codes = await codes_matching(client, {"code": {"in": wanted}})
    # then
    assert codes == [rows[0].code]


async def test_an_in_list_over_the_limit_is_refused(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    await make_catalogue(db)
    wanted = [f"X-{n}" for n in range(settings.max_filter_list + 1)]
    # when
    error = await client.error(INITIATIVE_CODES, {"filter": {"code": {"in": wanted}}})
    # then
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert str(settings.max_filter_list) in error["message"]


async def test_filters_nested_to_the_maximum_depth_are_accepted(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    rows = await make_catalogue(db)
    filter_ = nested_not(settings.max_filter_depth, {"code": {"eq": rows[0].code}})
    negated = (settings.max_filter_depth - 1) % 2 == 1
    # when
    codes = await codes_matching(client, filter_)
    # then
    assert codes == codes_where(rows, lambda r: (r.code == rows[0].code) is not negated)


async def test_filters_nested_deeper_than_the_maximum_are_refused(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given
    await make_catalogue(db)
    filter_ = nested_not(settings.max_filter_depth + 1, {"code": {"eq": "X"}})
    # when
    error = await client.error(INITIATIVE_CODES, {"filter": filter_})
    # then
    assert error["extensions"]["code"] == "FILTER_TOO_COMPLEX"


async def test_relations_count_towards_filter_depth(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    # given: initiative -> budgetLine -> initiative -> ... deeper than allowed
    await make_catalogue(db)
    keys = [
        "budgetLine" if level % 2 == 0 else "initiative"
        for level in range(settings.max_filter_depth)
    ]
    filter_: dict[str, Any] = (
        {"category": {"eq": "X"}} if keys[-1] == "budgetLine" else {"code": {"eq": "X"}}
    )
    for key in reversed(keys):
        filter_ = {key: filter_}
    # when
    error = await client.error(INITIATIVE_CODES, {"filter": filter_})
    # then
    assert error["extensions"]["code"] == "FILTER_TOO_COMPLEX"


DECIMAL_VARIABLE = """
query($min: Decimal!) {
  budgetLines(filter: {amount: {gte: $min}}, first: 100) { totalCount nodes { amount { amount } } }
}
"""


async def test_a_decimal_given_as_a_json_float_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(session, initiative, amount=Decimal("60.00"))
    # when
    body = await client.execute(DECIMAL_VARIABLE, {"min": 50.5})
    # then
    assert body.get("errors")
    assert body.get("data") is None
    assert "string" in body["errors"][0]["message"]


async def test_a_decimal_given_as_a_string_is_accepted(db: Database, client: GraphQLClient) -> None:
    # given
    amounts = [Decimal("50.49"), Decimal("50.50"), Decimal("60.00")]
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        for amount in amounts:
            await f.budget_line(session, initiative, amount=amount)
    # when
    result = (await client.data(DECIMAL_VARIABLE, {"min": "50.5"}))["budgetLines"]
    # then
    got = sorted(Decimal(n["amount"]["amount"]) for n in result["nodes"])
    assert got == [a for a in amounts if a >= Decimal("50.5")]


async def test_a_finer_decimal_than_stored_is_refused_with_a_code(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(session, initiative, amount=Decimal("100.01"))
    # when
    error = await client.error(BUDGET_AMOUNTS, {"filter": {"amount": {"gt": "100.0005"}}})
    # then: amounts hold thousandths, so the client is told rather than silently rounded
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["field"] == "filter.amount.gt"
    assert "more than 3 decimal places" in error["message"]


async def test_a_bad_currency_in_a_filter_names_where_it_was_written(
    client: GraphQLClient,
) -> None:
    error = await client.error(
        '{ budgetLines(filter: {currency: {in: ["CNY", "RMB"]}}) { totalCount } }'
    )
    assert error["extensions"] == {"code": "INVALID_CURRENCY", "field": "filter.currency.in"}

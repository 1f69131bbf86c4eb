"""Inputs that can grow are capped, and the cap is named in a typed error."""

from __future__ import annotations

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

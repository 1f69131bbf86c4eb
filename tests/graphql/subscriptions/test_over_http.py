"""A subscription sent over plain HTTP gets a clear, coded answer, not a server error."""

from __future__ import annotations

from tests.conftest import GraphQLClient


async def test_a_subscription_over_http_is_told_to_use_websocket(client: GraphQLClient) -> None:
    for accept in ("application/json", "multipart/mixed;subscriptionSpec=1.0, application/json"):
        response = await client.http.post(
            "/graphql",
            json={"query": "subscription { changes { sequence } }"},
            headers={"accept": accept},
        )
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["WEBSOCKET_REQUIRED"]

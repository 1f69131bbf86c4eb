"""Documents whose fragments spread each other again and again, or repeat one field past
its limit, are refused with their code over HTTP and WebSocket alike."""

from __future__ import annotations

from typing import Any

import httpx

from tests.http.availability.common import connect, fan_out, server_of, while_answering
from tests.live import LiveData


async def test_a_fragment_fan_out_is_refused_over_http_and_websocket(
    live: LiveData,
) -> None:
    # given: the review's 1.6 KB documents, over HTTP and as a subscription (n=40)
    query = "query { ...F0 } " + fan_out(40, "Query", "__typename")
    subscription = "subscription { ...F0 } " + fan_out(40, "Subscription", "changes { sequence }")
    server = server_of(live)

    async def attack() -> tuple[dict[str, Any], dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.post(
                f"{server.http}/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {live.keys['partner']}"},
            )
        async with await connect(live, "partner") as client:
            message = await (await client.subscribe(subscription)).next(wait=60)
        return response.json(), message

    # when
    (answer, message), _ = await while_answering(server, attack())
    # then: both refused with their code (before the fix each held the process for
    # minutes; that the walks are linear is counted in tests/graphql/extensions/test_limits.py)
    assert answer["errors"][0]["extensions"]["code"] == "TOO_MANY_FIELDS"
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_FIELDS"


async def test_one_field_repeated_past_max_same_field_is_refused_with_its_code(
    live: LiveData,
) -> None:
    # given: the review's 4,500-token document (450 copies of one field path, which
    # graphql's merge rule compared pair by pair: 3 s, /healthz waiting 2.8 s), and the
    # most copies MAX_SAME_FIELD (10) allows
    server = server_of(live)

    def copies(times: int, page: str = "") -> str:
        return "{ " + f"initiatives{page} {{ nodes {{ program {{ id }} }} }} " * times + "}"

    async with httpx.AsyncClient(timeout=60) as http:

        async def ask(query: str) -> dict[str, Any]:
            response = await http.post(
                f"{server.http}/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {live.keys['viewer']}"},
            )
            return response.json()  # type: ignore[no-any-return]

        # when
        refused = await ask(copies(450))
        allowed = await ask(copies(10, "(first: 2)"))
    # then: refused with its code and the setting; the copies allowed answer as one
    assert refused["errors"][0]["extensions"] == {"code": "FIELD_REPEATED", "limit": 10}
    assert "MAX_SAME_FIELD" in refused["errors"][0]["message"]
    assert "errors" not in allowed
    assert len(allowed["data"]["initiatives"]["nodes"]) == 2

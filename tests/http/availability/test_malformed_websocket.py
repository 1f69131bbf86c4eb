"""Malformed WebSocket messages close their connection with 4400 and a reason that fits
its frame; operations past a connection's limit are refused; the legacy protocol meets
the same checks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.http.availability.common import CHANGES, NOT_AN_OBJECT, connect, log_of, server_of
from tests.live import LiveData

NOT_A_MESSAGE = "WebSocket message must be a JSON object"
NOT_AN_ID = "the message's `id` must be a string"
SUBSCRIBE = {"type": "subscribe", "payload": {"query": CHANGES}}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ([1, 2], NOT_A_MESSAGE),
        ("subscribe", NOT_A_MESSAGE),
        (None, NOT_A_MESSAGE),
        ({"id": ["1"], **SUBSCRIBE}, NOT_AN_ID),
        ({"id": 5, **SUBSCRIBE}, NOT_AN_ID),
        ({"id": {"a": 1}, "type": "complete"}, NOT_AN_ID),
    ],
)
async def test_a_malformed_websocket_message_closes_its_connection_with_4400(
    live: LiveData, message: Any, reason: str
) -> None:
    server = server_of(live)
    async with await connect(live) as other:
        client = await connect(live)
        # when
        await client.ws.send(json.dumps(message))
        closed = await client.ended()
        # then: the protocol's close code and why; nothing crashed, others carry on
        assert (closed.code, closed.reason) == (4400, reason)
        data = await (await other.subscribe("{ programs { totalCount } }")).data()
        assert data == {"programs": {"totalCount": 1}}
    assert "Traceback" not in log_of(server)


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "x" * 500}], 4400),
        ([{"type": "\ud800"}], 4400),
        ([{"type": {"a": "b" * 200}}], 4400),
        ([{"id": "i" * 500, **SUBSCRIBE}] * 2, 4409),
    ],
)
async def test_a_close_reason_quoting_the_client_fits_its_frame(
    live: LiveData, messages: list[Any], code: int
) -> None:
    # given: reasons that quote an unknown type, or an id in use, of 500 characters or
    # with a lone surrogate (a close frame carries 123 bytes of UTF-8)
    client = await connect(live)
    # when
    for message in messages:
        await client.ws.send(json.dumps(message))
    closed = await client.ended()
    # then: closed with its code and as much of the reason as fits, not dropped (1006)
    assert closed.code == code
    assert 0 < len(closed.reason.encode()) <= 123
    assert "Traceback" not in log_of(server_of(live))


async def test_an_operation_past_the_connections_limit_is_refused_with_a_code(
    live: LiveData,
) -> None:
    async with await connect(live) as client:
        for _ in range(3):
            await client.subscribe(CHANGES)
        # when: a fourth at once (MAX_SUBSCRIPTIONS_PER_CONNECTION is 3 here)
        message = await (await client.subscribe(CHANGES)).next()
    # then
    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"] == {"code": "TOO_MANY_OPERATIONS", "limit": 3}
    assert "MAX_SUBSCRIPTIONS_PER_CONNECTION" in error["message"]


async def test_the_legacy_protocol_meets_the_same_checks(live: LiveData) -> None:
    """graphql-ws (subscriptions-transport-ws), on where WS_LEGACY_PROTOCOL is set."""
    server = server_of(live)

    async def legacy() -> ClientConnection:
        ws = await ws_connect(server.ws, subprotocols=[Subprotocol("graphql-ws")], max_size=None)
        init = {
            "type": "connection_init",
            "payload": {"Authorization": f"Bearer {live.keys['viewer']}"},
        }
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        return ws

    async def answer(ws: ClientConnection, message: Any) -> dict[str, Any]:
        await ws.send(json.dumps(message))
        received: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return received

    async def closed_by(message: str) -> tuple[int, str]:
        ws = await legacy()
        await ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    # a message that is not one closes the connection, as does one too big
    assert await closed_by("[1, 2]") == (4400, NOT_A_MESSAGE)
    assert await closed_by(json.dumps({"type": "stop", "id": [1]})) == (4400, NOT_AN_ID)
    big = json.dumps({"type": "start", "id": "1", "payload": {"query": "#" + "x" * 2_000_000}})
    assert (await closed_by(big))[0] == 1009
    # a payload that fails the checks of a request, and a start past the limit, are refused
    ws = await legacy()
    refused = await answer(ws, {"type": "start", "id": "1", "payload": "{ __typename }"})
    assert refused == {
        "type": "error",
        "id": "1",
        "payload": {"message": NOT_AN_OBJECT, "extensions": {"code": "BAD_REQUEST"}},
    }
    for id in "abc":
        await ws.send(json.dumps({"type": "start", "id": id, "payload": {"query": CHANGES}}))
    past = await answer(ws, {"type": "start", "id": "d", "payload": {"query": CHANGES}})
    assert past["payload"]["extensions"] == {"code": "TOO_MANY_OPERATIONS", "limit": 3}
    await ws.close()
    # and an operation within them runs
    ws = await legacy()
    report = "subscription { budgetSummaryUpdates(groupBy: []) { currency } }"
    data = await answer(ws, {"type": "start", "id": "r", "payload": {"query": report}})
    assert data["payload"] == {"data": {"budgetSummaryUpdates": {"currency": "CNY"}}}
    await ws.close()
    assert "Traceback" not in log_of(server)

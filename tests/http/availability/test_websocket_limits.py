"""WebSocket messages meet the limits of an HTTP request: the body cap, the checks of a
request's payload, and memory given back when large operations close."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.availability.common import (
    CHANGES,
    NO_OPERATION,
    NOT_AN_OBJECT,
    connect,
    log_of,
    server_of,
)
from tests.live import LiveData


async def test_a_websocket_message_over_max_body_bytes_closes_its_connection(
    live: LiveData,
) -> None:
    # given: a subscribe message of 2 MiB (MAX_BODY_BYTES is 1 MiB; uvicorn's own limit,
    # unset here, would be 16 MiB)
    query = "#" + "x" * (2 * 1_048_576) + "\n" + CHANGES
    async with await connect(live) as other:
        client = await connect(live)
        # when
        await client.subscribe(query)
        closed = await client.ended()
        # then: closed as too big, with the code and the limit; others carry on
        assert closed.code == 1009
        assert closed.reason == "REQUEST_TOO_LARGE: a message is larger than 1048576 bytes"
        data = await (await other.subscribe("{ programs { totalCount } }")).data()
        assert data == {"programs": {"totalCount": 1}}


def must_be(field: str, kind: str) -> str:
    return f"the operation's `{field}` must be {kind} or null"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (CHANGES, NOT_AN_OBJECT),
        ([CHANGES], NOT_AN_OBJECT),
        (None, NOT_AN_OBJECT),
        ({"query": 5}, must_be("query", "a string")),
        ({"query": CHANGES, "variables": [1]}, must_be("variables", "an object")),
        ({"query": CHANGES, "variables": "x"}, must_be("variables", "an object")),
        ({"query": CHANGES, "operationName": 5}, must_be("operationName", "a string")),
        ({"query": CHANGES, "extensions": "x"}, must_be("extensions", "an object")),
        ({}, NO_OPERATION),
    ],
)
async def test_a_subscribe_payload_meets_the_checks_of_an_http_request(
    live: LiveData, payload: Any, message: str
) -> None:
    server = server_of(live)
    async with await connect(live) as client:
        # when: sent as a subscribe payload, and as the body of a POST
        refused = await (await client.subscribe_with(payload)).next()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{server.http}/graphql",
                content=json.dumps(payload),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {live.keys['viewer']}",
                },
            )
        # then: the same refusal, with its code (over HTTP an array is a batch, refused
        # as such); the connection carries on
        assert refused["type"] == "error", refused
        assert refused["payload"] == [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
        assert response.status_code == 400
        if not isinstance(payload, list):
            assert response.json()["errors"] == refused["payload"]
        data = await (await client.subscribe("{ programs { totalCount } }")).data()
        assert data == {"programs": {"totalCount": 1}}
    assert "Traceback" not in log_of(server)


@pytest.mark.parametrize(
    ("query", "name", "message"),
    [
        (CHANGES, "", 'Unknown operation named "".'),
        (CHANGES, "Nope", 'Unknown operation named "Nope".'),
        ("query A { __typename } query B { __typename }", "C", 'Unknown operation named "C".'),
    ],
)
async def test_an_operation_name_the_document_lacks_is_a_bad_request_as_over_http(
    live: LiveData, query: str, name: str | None, message: str
) -> None:
    payload = {"query": query, "operationName": name}
    async with await connect(live) as client:
        # when: over WebSocket, and over HTTP
        refused = await (await client.subscribe_with(payload)).next()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{server_of(live).http}/graphql",
                json=payload,
                headers={"Authorization": f"Bearer {live.keys['viewer']}"},
            )
    # then: the same refusal (it was INTERNAL over WebSocket, with a traceback logged)
    assert refused["type"] == "error", refused
    assert refused["payload"] == [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    assert response.status_code == 400
    assert response.json()["errors"] == refused["payload"]


async def test_memory_of_large_websocket_operations_comes_back_when_they_close(
    live: LiveData,
) -> None:
    # given: 42 subscriptions of different ~1 MB documents (within MAX_BODY_BYTES), on
    # 14 connections
    server = server_of(live)

    def rss() -> int:
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS"))
        return int(line.split()[1]) * 1024

    before = rss()
    clients = [await connect(live) for _ in range(14)]
    for n, client in enumerate(clients):
        for i in range(3):
            padding = f"#{n}.{i}" + "x" * 1_000_000 + "\n"
            subscription = await client.subscribe(padding + CHANGES)
            await subscription.nothing(0.05)  # running
    await asyncio.sleep(1)
    held = rss() - before
    # when: they close
    for client in clients:
        await client.close()
    kept = held
    for _ in range(60):
        await asyncio.sleep(0.5)
        kept = rss() - before
        if kept < held / 3:
            break
    # then: what they held is given back (not kept by caches, cycles or the allocator)
    assert held > 40_000_000, held
    assert kept < held / 3, (held, kept)

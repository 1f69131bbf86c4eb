"""One client cannot stop a process answering the others: documents whose fragments
fan out, WebSocket messages too large or malformed, operations past a connection's
limit, connections that trickle. Real server processes (tests/live.py) on SQLite and on
PostgreSQL: one started by uvicorn's own command, so that what holds there holds under
any server, and one by `pledge-ledger serve`, for what it adds (the deadline and the
size limit of a request's head).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.live import LiveData, Server, live_data, start_server
from tests.wsclient import LiveClient

CHANGES = "subscription { changes { sequence } }"
SETTINGS: dict[str, Any] = {"max_subscriptions_per_connection": 3, "ws_legacy_protocol": True}
SERVED: dict[str, Any] = {"request_read_timeout_seconds": 1, "max_header_bytes": 8192}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    backend: str = request.param
    async for data in live_data(backend, tmp_path_factory.mktemp("availability")):
        try:
            data.servers.append(await start_server(data.url, **SETTINGS))
            data.servers.append(await start_server(data.url, serve=True, **SERVED))
            yield data
        finally:
            for server in data.servers:
                server.stop()


def server_of(live: LiveData) -> Server:
    return live.servers[0]


def served(live: LiveData) -> Server:
    """The server `pledge-ledger serve` started (SERVED)."""
    return live.servers[1]


async def connect(live: LiveData, role: str = "viewer") -> LiveClient:
    return await LiveClient.connect(server_of(live).ws, authorization=f"Bearer {live.keys[role]}")


def log_of(server: Server) -> str:
    return server.log.read_text(errors="replace")


async def healthz(http: httpx.AsyncClient, server: Server) -> None:
    response = await http.get(f"{server.http}/healthz")
    assert response.status_code == 200


async def while_answering(server: Server, attack: Any) -> tuple[Any, int]:
    """Runs `attack` while /healthz is asked again and again: the attack's result, and
    how many /healthz answers came while the attack was still under way."""
    async with httpx.AsyncClient(timeout=60) as http:
        task = asyncio.ensure_future(attack)
        answered = 0
        while not task.done():
            await healthz(http, server)
            answered += 0 if task.done() else 1
            await asyncio.sleep(0.02)
        return await task, answered


def fan_out(levels: int, on: str, leaf: str) -> str:
    """A document whose fragments each spread the next twice: its leaf 2^levels times."""
    fragments = " ".join(
        f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{fragments} fragment F{levels} on {on} {{ {leaf} }}"


# --- 1. fragments spread again and again ------------------------------------------------


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


# --- 2. WebSocket messages meet the limits of an HTTP request -----------------------------


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


NOT_AN_OBJECT = 'an operation is a JSON object: {"query": "..."}'
NO_OPERATION = "no operation: send its `query`, or the `documentId` it is registered as"


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


# --- 15. malformed WebSocket messages --------------------------------------------------


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


# --- 5. connections that trickle -----------------------------------------------------------


async def exchange(server: Server, head: bytes, then: bytes = b"", every: float = 0.5) -> bytes:
    """Connects, sends `head` at once and then `then` a byte every `every` seconds; what
    the server answered before it closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

    async def trickle() -> None:
        for byte in then:
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            await writer.drain()

    async def answer() -> bytes:
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65_536):
                received += chunk
        return received

    writer.write(head)
    trickling = asyncio.ensure_future(trickle())
    try:
        return await asyncio.wait_for(answer(), 30)  # until the server closes
    finally:
        trickling.cancel()
        with contextlib.suppress(BaseException):
            await trickling
        writer.close()


async def test_connections_that_trickle_are_closed_at_the_read_deadline(live: LiveData) -> None:
    # given: REQUEST_READ_TIMEOUT_SECONDS=1; 100 connections trickling their headers,
    # 100 their body (of a declared 100 kB), a byte every 0.5 s, and 50 sending nothing
    server = served(live)
    headers = b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"y" * 200
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    body = b'{"query": "' + b"x" * 200

    async def attack() -> list[bytes]:
        return list(
            await asyncio.gather(
                *(exchange(server, b"", headers) for _ in range(100)),
                *(exchange(server, head, body) for _ in range(100)),
                *(exchange(server, b"") for _ in range(50)),
            )
        )

    # when
    answers, answered = await while_answering(server, attack())
    # then: every one closed by the server long before it finished sending; a body
    # that came too slowly is told so, with its code (a head too slow has no request).
    # The server closes with the client's bytes unread, so the kernel may reset the
    # connection before the client reads the answer: a reset is a close too.
    trickled_heads, trickled_bodies, silent = answers[:100], answers[100:200], answers[200:]
    assert set(trickled_heads) == {b""}
    assert set(silent) == {b""}
    told = [answer for answer in trickled_bodies if answer]
    assert told, "no trickled body was told why it was closed"
    for answer in told:
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"code":"REQUEST_TIMEOUT"' in answer
    # and /healthz kept answering while the 250 connections were held
    assert answered > 0


async def test_a_body_trickling_after_its_answer_does_not_hold_the_connection(
    live: LiveData,
) -> None:
    # given: requests declaring a 100 kB body that their route never reads (/healthz, a
    # path that does not exist), the body then trickled a byte every 0.5 s (each byte
    # restarted uvicorn's keep-alive timer: the review held one open over 40 s)
    server = served(live)

    def head(method: bytes, path: bytes) -> bytes:
        return (
            method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )

    body = b"x" * 200  # 100 s of trickling
    # when: what the server sent before it closed each connection (none closed: a
    # TimeoutError after 30 s)
    healthz = await exchange(server, head(b"GET", b"/healthz"), body)
    missing = await exchange(server, head(b"POST", b"/nonexistent"), body)
    # then: each answered, then closed, however much body was still to come
    assert healthz.startswith(b"HTTP/1.1 200 "), healthz
    assert missing.startswith(b"HTTP/1.1 404 "), missing


async def test_a_request_head_over_max_header_bytes_is_answered_431(live: LiveData) -> None:
    # given: MAX_HEADER_BYTES=8192
    server = served(live)

    def request(padding: int) -> bytes:
        pad = b"y" * padding
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + pad + b"\r\n\r\n"

    # when: a head of 10 kB, and one of 4 kB
    refused = await exchange(server, request(10_000))
    answered = await exchange(
        server, request(4_000) + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    # then
    assert refused.startswith(b"HTTP/1.1 431 "), refused
    assert b'"code":"REQUEST_TOO_LARGE"' in refused
    assert b"MAX_HEADER_BYTES" in refused
    assert answered.startswith(b"HTTP/1.1 200 "), answered

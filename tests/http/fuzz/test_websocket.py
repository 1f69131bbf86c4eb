"""Fuzzing /graphql over WebSocket (graphql-transport-ws): whatever a client sends on an
acknowledged connection, the server answers in the protocol or closes the connection
with a code that says why; it never crashes the connection's handler.

Messages are drawn as any JSON value; as messages of the protocol's types (and others)
whose `id` and `payload` are any JSON value; and as `subscribe` messages whose payload
fields are of any type, carrying valid and garbled subscriptions and queries from the
schema (the strategies of operations.py and values.py), documents past every limit (fragments that
fan out among them) and messages past MAX_BODY_BYTES. Each example opens a connection
as a viewer, sends one to three messages and a `ping`, and reads until the `pong` (and
what comes soon after it) or the close. What must hold (`assert_answered`): every
message received is a JSON object of the protocol, every error in it has a code in
capitals and none is INTERNAL; a close has one of the protocol's codes (4400 a
malformed message, 4409 an id in use, 4429 a second connection_init, 1009 a message too
big) and a reason, never 1006 or 1011 (a crashed handler); and afterwards the server's
log holds no traceback and /healthz answers. A real server process per database
(tests/live.py), started by uvicorn's own command.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.http.fuzz.checks import CODE, RUNS
from tests.http.fuzz.operations import VALID_QUERIES, VALID_SUBSCRIPTIONS, garbled, huge
from tests.http.fuzz.values import JSON_VALUES
from tests.live import LiveData, Server, live_data, start_server
from tests.wsclient import PROTOCOL

# The close codes a client may be given for what it sent (4429: a second connection_init).
CLOSE_CODES = {4400, 4409, 4429, 1009}
TYPES = ["connection_init", "ping", "pong", "subscribe", "complete", "next", "error", "x", ""]
INBOUND = {"next", "error", "complete", "ping", "pong"}
# What the examples met, by database: answers by type, closes by code.
OUTCOMES: dict[str, Counter[str]] = defaultdict(Counter)

FUZZ = hypothesis.settings(
    derandomize=RUNS == 1,
    database=None,
    deadline=None,
    max_examples=100 * RUNS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    backend: str = request.param
    async for data in live_data(backend, tmp_path_factory.mktemp("fuzz-ws")):
        try:
            data.servers.append(await start_server(data.url, max_subscriptions_per_connection=3))
            yield data
            # Checked when this process's examples are all done, here rather than in a
            # test of its own: xdist may run a module's tests on different workers, and
            # a later test elsewhere would meet a server no example had reached.
            await assert_server_came_through(data)
        finally:
            for server in data.servers:
                server.stop()


DOCUMENTS = st.one_of(
    VALID_SUBSCRIPTIONS,
    VALID_QUERIES,
    garbled(VALID_SUBSCRIPTIONS),
    huge(),
    st.just("subscription { changes { sequence } }"),
    st.just("{ programs { totalCount } }"),
)
PAYLOADS = st.one_of(
    st.fixed_dictionaries({"query": DOCUMENTS}),
    st.fixed_dictionaries(
        {"query": DOCUMENTS},
        optional={
            "variables": JSON_VALUES,
            "operationName": st.one_of(st.none(), st.text(max_size=10), JSON_VALUES),
            "extensions": JSON_VALUES,
            "documentId": JSON_VALUES,
        },
    ),
    st.dictionaries(
        st.sampled_from(["query", "variables", "operationName", "extensions", "documentId"]),
        JSON_VALUES,
        max_size=4,
    ),
    JSON_VALUES,
)
IDS = st.one_of(st.sampled_from(["1", "2", "3"]), st.text(max_size=5), JSON_VALUES)
MESSAGES = st.one_of(
    # a subscribe, mostly well formed
    st.builds(
        lambda id, payload: {"id": id, "type": "subscribe", "payload": payload}, IDS, PAYLOADS
    ),
    st.builds(
        lambda id, payload: {"id": id, "type": "subscribe", "payload": payload},
        st.sampled_from(["1", "2", "3"]),
        PAYLOADS,
    ),
    # any type, id and payload
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(TYPES), JSON_VALUES)},
        optional={"id": IDS, "payload": JSON_VALUES},
    ),
    # anything at all
    JSON_VALUES,
)
# Now and then a message past MAX_BODY_BYTES.
SENDS = st.one_of(
    st.lists(MESSAGES.map(json.dumps), min_size=1, max_size=3),
    st.just(
        [json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "#" + "x" * 1_100_000}})]
    ),
)


async def opened(server: Server, key: str) -> ClientConnection:
    ws = await connect(server.ws, subprotocols=[PROTOCOL], open_timeout=10, max_size=None)  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    return ws


def assert_answered(message: Any, sent: list[str]) -> None:
    where = f"sent {[m[:300] for m in sent]}\n-> {str(message)[:2000]}"
    assert isinstance(message, dict) and message.get("type") in INBOUND, where
    payload = message.get("payload")
    errors: Any = []
    if message["type"] == "error":
        errors = payload
        assert isinstance(errors, list) and errors, where
    elif message["type"] == "next":
        assert isinstance(payload, dict), where
        errors = payload.get("errors") or []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and CODE.fullmatch(code), where
        assert code != "INTERNAL", f"an unexpected exception: {where}"


@FUZZ
@given(sends=SENDS)
async def test_whatever_a_client_sends_is_answered_or_closed_with_a_code(
    live: LiveData, sends: list[str]
) -> None:
    ws = await opened(live.servers[0], live.keys["viewer"])
    outcomes = OUTCOMES[live.backend]
    try:
        for text in sends:
            await ws.send(text)
        await ws.send(json.dumps({"type": "ping"}))
        # Until the pong, then what else comes soon (operations answer after the pong).
        wait, ponged = 30.0, False
        while True:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), wait))
            except TimeoutError:
                assert ponged, f"no pong: sent {[m[:300] for m in sends]}"
                break
            assert_answered(message, sends)
            outcomes[message["type"]] += 1
            if message["type"] == "pong":
                wait, ponged = 0.3, True
    except ConnectionClosed as closed:
        where = f"sent {[m[:300] for m in sends]}"
        assert closed.rcvd is not None, f"closed without a code: {where}"
        assert closed.rcvd.code in CLOSE_CODES, f"closed {closed.rcvd}: {where}"
        assert closed.rcvd.reason, where
        outcomes[f"closed {closed.rcvd.code}"] += 1
    finally:
        await ws.close()


async def assert_server_came_through(live: LiveData) -> None:
    """The examples reached every kind of answer (results, refusals, closes), the
    server's log holds no traceback, and /healthz answers."""
    outcomes = OUTCOMES[live.backend]
    print(f"\n{live.backend}: {dict(outcomes.most_common())}")
    wanted = {"next", "error", "pong", "closed 4400", "closed 1009"}
    assert wanted <= set(outcomes), outcomes
    server = live.servers[0]
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.http}/healthz")).status_code == 200

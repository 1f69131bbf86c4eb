"""The short way in for POST /graphql (app/http/lean.py) answers exactly as the router:
the same status, headers and body for every kind of request, the same metrics, and a
request counted once against the rate limits, whichever way it went."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.http.lean import SERVED
from app.main import create_app
from tests import factories as f
from tests.asgiws import websocket_scope
from tests.conftest import Database

DASHBOARD = "{ initiatives(first: 3) { nodes { id code title status plannedStart plannedEnd } } }"
SPEC = "application/graphql-response+json"

# (body, headers): every kind of POST a client may send, good and bad.
STREAMED = "multipart/mixed;subscriptionSpec=1.0, application/json"
REQUESTS: list[tuple[bytes, dict[str, str]]] = [
    (b'{"query": "' + DASHBOARD.encode() + b'"}', {}),
    (b'{"query": "' + DASHBOARD.encode() + b'"}', {"Accept": SPEC}),
    (b'{"query": "{ __typename }", "variables": null, "operationName": null}', {}),
    (
        b'{"query": "query Q($n: Int) { initiatives(first: $n) { totalCount nodes { code } } }",'
        b' "variables": {"n": 2}, "operationName": "Q"}',
        {"Accept": f"{SPEC}, application/json;q=0.9"},
    ),
    # Errors of the operation: unknown field, syntax, a wrong variable, a cost over budget.
    (b'{"query": "{ nope }"}', {}),
    (b'{"query": "{ nope }"}', {"Accept": SPEC}),
    (b'{"query": "{ initiatives(first: "}', {"Accept": SPEC}),
    (
        b'{"query": "query($n: Int) { initiatives(first: $n) { totalCount } }", '
        b'"variables": {"n": "x"}}',
        {},
    ),
    (
        b'{"query": "{ a: initiatives(first: 100) { nodes { budgetLines(first: 100) { nodes { '
        b'transactions(first: 100) { nodes { id } } } } } } }"}',
        {"Accept": SPEC},
    ),
    # A mutation, a subscription over HTTP, an operation name that picks none.
    (b'{"query": "mutation { createInitiative(input: {}) { errors { code } } }"}', {}),
    (b'{"query": "subscription { changes { sequence } }"}', {"Accept": SPEC}),
    (b'{"query": "query A { __typename }", "operationName": "B"}', {"Accept": SPEC}),
    (b'{"query": "query A { __typename } query B { __typename }"}', {}),
    # Bodies the router answers itself: not JSON, not an object, a batch, wrong types,
    # no query, an unknown document id, another encoding, an integer past 64 bits.
    (b"{nope", {}),
    (b"[]", {"Accept": SPEC}),
    (b'[{"query": "{ __typename }"}]', {}),
    (b'"text"', {}),
    (b'{"query": 1}', {}),
    (b'{"query": "{ __typename }", "variables": []}', {}),
    (b'{"query": "{ __typename }", "extensions": "x"}', {}),
    (b"{}", {"Accept": SPEC}),
    (b'{"documentId": "sha256:0000"}', {}),
    (b'\xef\xbb\xbf{"query": "{ __typename }"}', {}),
    (b'{"query": "{ __typename }", "variables": {"n": 123456789012345678901234567890}}', {}),
    (b'{"query": "{ __typename }", "variables": {"s": "\\ud800"}}', {}),
    # Nesting orjson follows and json's recursion would not, and past orjson's depth.
    (b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * 990 + b"]" * 990 + b"}}", {}),
    (b'{"query": "{ __typename }", "extensions": {"x": ' + b"[" * 1100 + b"]" * 1100 + b"}}", {}),
    # Callers: a credential that proves nothing, a bad X-Min-Sequence.
    (b'{"query": "{ __typename }"}', {"Authorization": "Bearer nope"}),
    (b'{"query": "{ __typename }"}', {"Authorization": "Bearer nope", "Accept": SPEC}),
    (b'{"query": "{ __typename }"}', {"X-Min-Sequence": "x"}),
    # Other media types and Accepts: charset, none, text, a stream.
    (b'{"query": "{ __typename }"}', {"Content-Type": "application/json; charset=utf-8"}),
    (b'{"query": "{ __typename }"}', {"Content-Type": "text/plain"}),
    (b'{"query": "{ __typename }"}', {"Accept": "text/event-stream"}),
    (b'{"query": "{ __typename }"}', {"Accept": "*/*"}),
    # A streamed answer asked for (the router's: a subscription's events as they come).
    (b'{"query": "{ __typename }"}', {"Accept": STREAMED}),
    (b'{"query": "subscription { changes { sequence } }"}', {"Accept": STREAMED}),
]


@pytest.fixture
async def both(
    demo: Database, settings: Settings
) -> AsyncIterator[Callable[..., tuple[httpx.AsyncClient, httpx.AsyncClient]]]:
    """Clients of two apps alike but for LEAN_GRAPHQL_HTTP (the short way, the router)."""
    opened: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        made = []
        for lean in (True, False):
            app = create_app(
                settings.model_copy(
                    update={"database_url": demo.url, "lean_graphql_http": lean, **overrides}
                ),
                engine=demo.engine,
            )
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            opened.append(http)
            made.append(http)
        return made[0], made[1]

    try:
        yield build
    finally:
        for http in opened:
            await http.aclose()


def _seen(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]
    return response.status_code, headers, response.content


async def _post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json", **headers}
    )


async def test_every_kind_of_request_is_answered_as_the_router_answers_it(
    both: Callable[..., tuple[httpx.AsyncClient, httpx.AsyncClient]],
) -> None:
    lean, router = both()
    before = SERVED["answered"]
    for body, headers in REQUESTS:
        answers = [_seen(await _post(client, body, headers)) for client in (lean, router)]
        assert answers[0] == answers[1], body
    # The short way answered the operations it could (it is not merely handing on).
    assert SERVED["answered"] - before >= 12
    # The same metrics: requests by route, method and status; operations and their errors.
    scraped = [(await client.get("/metrics")).text for client in (lean, router)]
    assert _counts(scraped[0]) == _counts(scraped[1])
    assert 'route="/graphql"' in scraped[0]


def _counts(text: str) -> list[str]:
    """The metrics' counters and how many times each histogram observed (not the times)."""
    return sorted(
        line for line in text.splitlines() if re.match(r"^pledge_\w+_(total|count)\{", line)
    )


async def test_a_request_is_counted_once_against_the_caller_budget(
    demo: Database, both: Callable[..., tuple[httpx.AsyncClient, httpx.AsyncClient]]
) -> None:
    async with demo.sessions() as session, session.begin():
        key = await f.api_key(session, "viewer")
    lean, router = both(rate_limit_per_key="3/minute", rate_limit_storage="memory")
    headers = {"Authorization": f"Bearer {key}", "Accept": SPEC}
    statuses: list[list[int]] = [[], []]
    for _ in range(5):
        for index, client in enumerate((lean, router)):
            # One answered by the short way, one handed on (a batch), alike.
            for body in (b'{"query": "{ __typename }"}', b'[{"query": "{ __typename }"}]'):
                statuses[index].append((await _post(client, body, headers)).status_code)
    assert statuses[0] == statuses[1]
    assert statuses[0][:3] == [200, 400, 200]
    assert statuses[0][3:] == [429] * 7


# --- WebSocket connections to /graphql (LEAN_GRAPHQL_WS) ---

INIT = {"type": "connection_init"}
TYPENAME = {"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}}
# (subprotocols asked, [(what the client sends, how many messages the app answers with)]):
# the protocol's good path and each way of breaking it, each closing as it should.
CONNECTIONS: list[tuple[list[str], list[tuple[object, int]]]] = [
    (
        ["graphql-transport-ws"],
        [
            (INIT, 1),
            (TYPENAME, 2),
            ({"type": "ping"}, 1),
            ({"id": "2", "type": "subscribe", "payload": []}, 1),
            ({"id": "3", "type": "subscribe", "payload": {"query": "{ nope }"}}, 1),
            ({"id": "4", "type": "complete"}, 0),
            ({"id": 5, "type": "subscribe"}, 1),
        ],
    ),
    (["graphql-transport-ws"], [(TYPENAME, 1)]),
    (["graphql-transport-ws"], [(INIT, 1), (INIT, 1)]),
    (["graphql-transport-ws"], [(INIT, 1), (TYPENAME, 2), (TYPENAME, 2), ("{nope", 1)]),
    (["graphql-transport-ws"], [({"type": "connection_init", "payload": {"Authorization": 1}}, 1)]),
    (["graphql-transport-ws"], [({**INIT, "payload": {"Authorization": "Bearer nope"}}, 1)]),
    (["graphql-transport-ws"], [(INIT, 1), ("x" * 3000, 1)]),
    (["chat"], []),
    ([], []),
]


async def _transcript(
    app: Any, subprotocols: list[str], steps: list[tuple[object, int]], root_path: str = ""
) -> list:
    """What the app sends a WebSocket client that sends `steps` one by one, each once
    the app has answered the one before, then leaves (x-request-id left out); served
    under `root_path` (a mount, uvicorn's --root-path) when one is given."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = websocket_scope(subprotocols)
    if root_path:
        path = root_path + scope["path"]
        scope.update(path=path, raw_path=path.encode(), root_path=root_path)

    def seen(message: dict[str, Any]) -> dict[str, Any]:
        if "headers" in message:
            message = {
                **message,
                "headers": [h for h in message["headers"] if h[0] != b"x-request-id"],
            }
        return message

    await to_app.put({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    said = [seen(await asyncio.wait_for(from_app.get(), 30))]
    for sent, answers in steps:
        text = sent if isinstance(sent, str) else json.dumps(sent)
        await to_app.put({"type": "websocket.receive", "text": text})
        said += [seen(await asyncio.wait_for(from_app.get(), 30)) for _ in range(answers)]
    await to_app.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 30)
    while not from_app.empty():
        said.append(seen(from_app.get_nowait()))
    return said


async def test_a_websocket_is_served_as_the_router_serves_it(
    demo: Database, settings: Settings
) -> None:
    # given: two apps alike but for LEAN_GRAPHQL_WS, messages over 2,000 bytes refused
    apps = [
        create_app(
            settings.model_copy(
                update={"database_url": demo.url, "lean_graphql_ws": lean, "max_body_bytes": 2000}
            ),
            engine=demo.engine,
        )
        for lean in (True, False)
    ]
    before = SERVED["websocket"]
    # when: each connection is made to both
    for subprotocols, steps in CONNECTIONS:
        transcripts = [await _transcript(app, subprotocols, steps) for app in apps]
        # then: each app says the same, in the same order
        assert transcripts[0] == transcripts[1], steps
    # and the short way served the first app's connections itself
    assert SERVED["websocket"] - before == len(CONNECTIONS)


async def test_a_websocket_under_a_root_path_takes_the_short_way_too(
    demo: Database, settings: Settings
) -> None:
    # given: two apps alike but for LEAN_GRAPHQL_WS, served under /api (uvicorn's
    # --root-path puts it in front of the path, and the router matches without it)
    apps = [
        create_app(
            settings.model_copy(update={"database_url": demo.url, "lean_graphql_ws": lean}),
            engine=demo.engine,
        )
        for lean in (True, False)
    ]
    steps = [(INIT, 1), (TYPENAME, 2)]
    before = SERVED["websocket"]
    # when
    transcripts = [await _transcript(app, ["graphql-transport-ws"], steps, "/api") for app in apps]
    # then: both say the same, an answer included, and the short way served the first
    assert transcripts[0] == transcripts[1]
    assert any(
        m.get("type") == "websocket.send" and '"next"' in m.get("text", "") for m in transcripts[0]
    )
    assert SERVED["websocket"] - before == 1


async def test_a_websocket_with_the_database_away_is_closed_1013_as_by_the_router(
    demo: Database, settings: Settings
) -> None:
    # given: a viewer's key, and two apps alike but for LEAN_GRAPHQL_WS whose database
    # refuses connections
    async with demo.sessions() as session, session.begin():
        key = await f.api_key(session, "viewer")
    away = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/away")
    apps = [
        create_app(
            settings.model_copy(update={"database_url": demo.url, "lean_graphql_ws": lean}),
            engine=away,
        )
        for lean in (True, False)
    ]
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
    try:
        # when: the key is to be proved at connection_init
        transcripts = [
            await _transcript(app, ["graphql-transport-ws"], [(init, 1)]) for app in apps
        ]
    finally:
        await away.dispose()
    # then: both close the connection with 1013, BUSY (the app's handler of the
    # database away, reached from the short way as from the route)
    assert transcripts[0] == transcripts[1]
    assert transcripts[0][-1]["code"] == 1013
    assert transcripts[0][-1]["reason"].startswith("BUSY")

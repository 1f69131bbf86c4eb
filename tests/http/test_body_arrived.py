"""A request whose whole body is already in the server (`pledge-ledger serve` says so
in the scope, app/http/server.py) is read by the app with no deadline set for it:
reading it waits for nothing. A body still on its way is read under
REQUEST_READ_TIMEOUT_SECONDS as before (app/http/bodies.py `BodyLimitMiddleware`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.http.bodies import BODY_ARRIVED, BodyLimitMiddleware
from tests.http.test_corked import _Transport, _turn, served_by_protocol

HEAD = b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n"


async def _served(pieces: list[bytes]) -> list[tuple[bool, bytes]]:
    """What an app sees of each request the server's protocol is given in `pieces`
    (one turn of the loop between them): whether the scope said the body had arrived
    when the app began, and the body it read."""
    seen: list[tuple[bool, bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        arrived = bool(scope.get(BODY_ARRIVED))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append((arrived, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    protocol = served_by_protocol(app, _Transport())
    for piece in pieces:
        protocol.data_received(piece)
        for _ in range(3):
            await _turn()
    protocol.connection_lost(None)
    return seen


async def test_the_server_says_when_a_requests_body_has_arrived() -> None:
    # a body that came with the head; one that came after the app began
    assert await _served([HEAD + b"0123456789"]) == [(True, b"0123456789")]
    assert await _served([HEAD + b"01234", b"56789"]) == [(False, b"0123456789")]


@pytest.mark.parametrize("arrived", [True, False])
async def test_a_body_that_has_arrived_is_read_with_no_deadline(
    monkeypatch: pytest.MonkeyPatch, arrived: bool
) -> None:
    # given: the body limit's layer, with a read deadline, and deadlines counted
    deadlines: list[float | None] = []
    real = asyncio.timeout

    def counted(delay: float | None) -> Any:
        deadlines.append(delay)
        return real(delay)

    monkeypatch.setattr(asyncio, "timeout", counted)
    read: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        read.append((await receive())["body"])

    layer = BodyLimitMiddleware(app, max_bytes=100, read_timeout=5.0)
    scope: dict[str, Any] = {"type": "http", "headers": [(b"content-length", b"2")]}
    if arrived:
        scope[BODY_ARRIVED] = True

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        pass

    # when
    await layer(scope, receive, send)
    # then: the same body; a deadline only for a body that may still be on its way
    assert read == [b"{}"]
    assert deadlines == ([] if arrived else [5.0])


@pytest.mark.parametrize(
    ("declared", "arrived", "handed_on"),
    [
        (b"2", True, True),  # whole and within the limit: nothing left to check
        (b"2", False, False),  # may still be on its way: counted and timed
        (b"101", True, False),  # declared over the limit: refused
        (b"2x", True, False),  # not a number: counted as it comes
    ],
)
async def test_only_a_whole_body_within_the_limit_passes_the_layer_untouched(
    declared: bytes, arrived: bool, handed_on: bool
) -> None:
    # given: the body limit's layer before an app that notes what it was handed
    handed: list[tuple[Any, Any]] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        handed.append((receive, send))
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    layer = BodyLimitMiddleware(app, max_bytes=100, read_timeout=5.0)
    scope: dict[str, Any] = {"type": "http", "headers": [(b"content-length", declared)]}
    if arrived:
        scope[BODY_ARRIVED] = True

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    # when
    await layer(scope, receive, send)
    # then: the server's own receive and send, or the layer's; over the limit, 413
    # before the app runs
    if declared == b"101":
        assert handed == [] and sent[0]["status"] == 413
    else:
        assert (handed == [(receive, send)]) is handed_on
        assert [m.get("status") for m in sent] == [204, None]

"""Connections that trickle are closed at the read deadline, a body trickling after its
answer holds nothing, and a head over MAX_HEADER_BYTES is answered 431."""

from __future__ import annotations

import asyncio
import contextlib

from tests.http.availability.common import served, while_answering
from tests.live import LiveData, Server


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

"""The server's transport writes what one turn of the event loop wrote as one piece:
a response's head and body in one system call instead of two (app/http/server.py
`_Corked`, issue 15), in order, nothing lost on close, nothing sent after an abort."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.http.server import _Corked
from tests.live import free_port


class _Transport(asyncio.Transport):
    """Records what reaches the socket, one entry per system call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closed = False
        self.aborted = False
        # How many calls had reached the socket when the end of the stream was written.
        self.eof_after: int | None = None

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def write_eof(self) -> None:
        self.eof_after = len(self.calls)

    def get_write_buffer_size(self) -> int:
        return 0


async def _turn() -> None:
    await asyncio.sleep(0)


def served_by_protocol(app: Any, raw: _Transport) -> Any:
    """`app` behind the service's HTTP protocol (uvicorn's, app/http/server.py) on a
    connection whose socket is `raw`: the test gives it the bytes received
    (`data_received`) and reads what was written."""
    import uvicorn
    from uvicorn.server import ServerState

    from app.http.server import ReadDeadlineProtocol

    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    protocol = ReadDeadlineProtocol(config=config, server_state=ServerState(), app_state={})
    raw.get_extra_info = lambda name, default=None: (  # type: ignore[method-assign]
        ("127.0.0.1", 8000) if name in ("sockname", "peername") else default
    )
    protocol.connection_made(raw)
    return protocol


async def test_writes_of_one_turn_go_out_together_and_in_order() -> None:
    # given
    raw = _Transport()
    corked = _Corked(raw, asyncio.get_running_loop())
    # when: a head, then a body, in one turn; then another write in a later turn
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    body = bytearray(b"{}")
    corked.write(body)
    body[:] = b"xx"  # the caller's buffer changes after the write
    assert raw.calls == [] and corked.get_write_buffer_size() == 21
    await _turn()
    corked.write(b"next")
    await _turn()
    # then: one call per turn, the bytes as written
    assert raw.calls == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"next"]


async def test_closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    loop = asyncio.get_running_loop()
    raw = _Transport()
    corked = _Corked(raw, loop)
    corked.write(b"last words")
    corked.close()
    assert (raw.calls, raw.closed) == ([b"last words"], True)
    await _turn()
    assert raw.calls == [b"last words"]  # the scheduled flush finds nothing more

    raw = _Transport()
    corked = _Corked(raw, loop)
    corked.write(b"never")
    corked.abort()
    await _turn()
    assert (raw.calls, raw.aborted) == ([], True)


async def test_a_large_body_reaches_the_socket_in_the_turn_it_is_written() -> None:
    # given: uvicorn's flow control reads the socket's buffer to pause a producer that
    # writes without waiting; held writes would hide it
    from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

    raw = _Transport()
    corked = _Corked(raw, asyncio.get_running_loop())
    chunk = b"x" * (HIGH_WATER_LIMIT // 4)
    # when: a head, then chunks of a streamed body, all in one turn
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    for _ in range(3):
        corked.write(chunk)
    # then: small writes are held until the total reaches the mark...
    assert raw.calls == []
    corked.write(chunk)
    # ...then they go out at once, the head with them, in one call
    assert raw.calls == [b"HTTP/1.1 200 OK\r\n\r\n" + chunk * 4]
    assert corked.get_write_buffer_size() == 0
    # and so on for the rest of the stream, and a write as large as the mark goes at once
    for _ in range(4):
        corked.write(chunk)
    corked.write(b"y" * HIGH_WATER_LIMIT)
    assert raw.calls[1:] == [chunk * 4, b"y" * HIGH_WATER_LIMIT]
    corked.write(b"tail")
    assert len(raw.calls) == 3
    await _turn()
    assert raw.calls[3:] == [b"tail"]


async def test_the_end_of_the_stream_is_written_after_what_is_held() -> None:
    raw = _Transport()
    corked = _Corked(raw, asyncio.get_running_loop())
    corked.write(b"last chunk")
    corked.write_eof()
    assert (raw.calls, raw.eof_after) == ([b"last chunk"], 1)
    await _turn()
    assert raw.calls == [b"last chunk"]


async def test_requests_on_a_kept_alive_connection_are_answered_whole() -> None:
    # given: the app served by uvicorn with the service's protocol, on a real socket
    import uvicorn

    from app.config import Settings
    from app.http.server import uvicorn_options
    from app.main import create_app

    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", log_level="WARNING")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            **uvicorn_options(settings),
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # up to 10 s for the server to listen
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        # when: plain requests, kept alive on one connection
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers = [await http.get("/healthz") for _ in range(3)]
        # then: each answered whole
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert all(answer.content == answers[0].content for answer in answers)
    finally:
        server.should_exit = True
        await task


async def test_a_complete_response_goes_out_in_one_piece_as_it_completes() -> None:
    """uvicorn's protocol with the service's transport: a response's head and body are
    held while it is written, and leave in one system call the moment its last write
    is made, not at the loop's next turn; a streamed response's pieces wait for the
    turn's end as before, until its last."""
    seen: dict[str, list[list[bytes]]] = {"/whole": [], "/streamed": []}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls = seen[scope["path"]]
        headers = [] if scope["path"] == "/streamed" else [(b"content-length", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        calls.append(list(raw.calls))  # after the head
        if scope["path"] == "/streamed":
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            calls.append(list(raw.calls))
        await send({"type": "http.response.body", "body": b"b"})
        calls.append(list(raw.calls))  # after the last piece, before any other turn

    raw = _Transport()
    protocol = served_by_protocol(app, raw)
    for path in ("/whole", "/streamed"):
        raw.calls.clear()
        protocol.data_received(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        for _ in range(5):
            await _turn()
        head, *rest = seen[path]
        assert head == []  # held
        if path == "/streamed":
            assert rest[0] == []  # held until the turn ends or the response does
        [last] = rest[-1]  # one system call, made before the app's last send returned
        end = b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n" if path == "/streamed" else b"\r\n\r\nb"
        assert last.startswith(b"HTTP/1.1 200 OK") and last.endswith(end)
    protocol.connection_lost(None)

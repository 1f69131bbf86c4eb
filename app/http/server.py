"""How a process serves the app: what `pledge-ledger serve` asks of uvicorn, and of the
C allocator.

uvicorn reads a request's head (request line and headers) with no deadline and no
size limit: a client sending one header byte every few seconds held its connection for
as long as it liked, and one sending headers as fast as it could grew the process by
the megabyte. `ReadDeadlineProtocol` (uvicorn's httptools protocol) closes a
connection whose head has not arrived within REQUEST_READ_TIMEOUT_SECONDS of its first
byte (or of the connection), and answers a head over MAX_HEADER_BYTES with 431. The
body has its own deadline in the app (BodyLimitMiddleware, app/http/bodies.py), which
answers 408 under any server, but only while the app reads it: a response sent before
the body arrived in full closes the connection here.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, get_settings
from app.errors import ErrorCode
from app.http.bodies import BODY_ARRIVED

log = logging.getLogger(__name__)

# glibc's mallopt parameter for the size from which blocks are mapped on their own.
_M_MMAP_THRESHOLD = -3
_MAPPED_FROM_BYTES = 128 * 1024

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
)


class ReadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) with a deadline and a size limit on each
    request's head; the settings are read in each worker process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.read_timeout = settings.request_read_timeout_seconds
        self.max_head = settings.max_header_bytes
        self._deadline: asyncio.TimerHandle | None = None
        self._head = 0
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Corked(transport, self.loop))  # type: ignore[arg-type]
        self._arm()

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol gets the connection's own transport (its frames have
        # their own way out: app/http/sockets.py), once what was written has gone.
        corked = self.transport
        if isinstance(corked, _Corked):
            corked.flush()
            self.transport = corked.transport
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # httptools' callbacks, as it parses the head
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The whole body is here: the app's reading it waits for nothing (BODY_ARRIVED).
        cycle = self.cycle
        if cycle is not None and not cycle.more_body:
            cycle.scope[BODY_ARRIVED] = True  # type: ignore[literal-required]

    def on_response_complete(self) -> None:
        # The whole response is written: out now, in one piece, rather than at the
        # loop's next turn (the client, waiting for it, sends its next request sooner).
        corked = self.transport
        if isinstance(corked, _Corked):
            corked.flush()
        # A response sent before its request's body arrived in full (a route that never
        # reads it: /healthz, a 404) leaves the connection waiting for the rest, and
        # every byte of it restarted uvicorn's keep-alive timer: a client trickling a
        # declared 100 kB held its connection for as long as it liked. Closed instead,
        # as HTTP/1.1 allows; the response already written goes out first. (The latest
        # request is the one answered unless a pipelined one waits, which can only have
        # been read once the answered one's body was whole.)
        cycle = self.cycle
        if (
            cycle is not None
            and cycle.response_complete
            and cycle.more_body
            and not self.transport.is_closing()
        ):
            self.transport.close()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any parse error, ours (a head too large) included.
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        body = (
            b'{"errors":[{"message":"the request line and headers are larger than '
            + str(self.max_head).encode()
            + b' bytes (MAX_HEADER_BYTES)","extensions":{"code":"'
            + ErrorCode.REQUEST_TOO_LARGE.value.encode()
            + b'"}}]}'
        )
        length = b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
        self.transport.write(_TOO_LARGE + length + body)
        self.transport.close()

    def _count(self, size: int) -> None:
        self._head += size
        if self._head > self.max_head:
            self._head_too_large = True
            # Stops the parser; uvicorn answers through send_400_response.
            raise ValueError("request head too large")

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        # No response: the request is not known yet (a client idle since it connected
        # gets none either); the connection is closed.
        self._deadline = None
        self.transport.close()


class _Corked:
    """A connection's transport whose small writes in one turn of the event loop go out
    as one: uvicorn writes a response's status line and headers, then its body, each at
    once, and each write to a socket is a system call (on the dashboard read, 15 % of
    the process's CPU was in those two writes under load, bench/README.md `peers.py`).
    The first write held schedules the flush at the loop's next turn (`call_soon`), so
    nothing waits longer than the code already running; a response's last write
    flushes at once (`ReadDeadlineProtocol.on_response_complete`). Once what is held reaches
    uvicorn's high-water mark it goes out at once, with the write that reached it: a
    producer streaming without waiting (chunks of rows already read) would otherwise be
    held whole, however slow the client, where the transport's buffer past that mark
    pauses it (uvicorn's flow control). Closing the transport or ending its stream
    flushes first, aborting it drops what is held, as the transport would. Everything
    else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        size = len(data)
        if self._size + size >= HIGH_WATER_LIMIT:
            # Not held: the caller's buffer goes out before the call returns (the
            # transport copies what the socket does not take at once).
            held, self._held, self._size = self._held, [], 0
            self._send([*held, data])
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        # Held past the call: a buffer the caller may change again is copied.
        self._held.append(data if isinstance(data, bytes) else bytes(data))
        self._size += size

    def writelines(self, pieces: Any) -> None:
        for piece in pieces:
            self.write(piece)

    def flush(self) -> None:
        held = self._held
        if held:
            self._held, self._size = [], 0
            self._send(held)

    def _send(self, pieces: list[Any]) -> None:
        if self.transport.is_closing():
            return
        if len(pieces) == 1:
            self.transport.write(pieces[0])
        else:
            # Several pieces in one system call (uvloop: one writev).
            self.transport.writelines(pieces)

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._held, self._size = [], 0
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for `serve`, besides where to listen and how to log."""
    return {
        "http": ReadDeadlineProtocol,
        # A WebSocket message over MAX_BODY_BYTES is refused (1009) as it arrives, before
        # uvicorn gathers it (the app refuses it too, under any server).
        "ws_max_size": settings.max_body_bytes,
    }


def return_large_blocks_to_the_system() -> None:
    """Have glibc map every block from 128 KiB on its own, so that freeing it gives the
    memory back. By default glibc raises that size to the largest block freed so far,
    so after a few large request bodies or WebSocket messages their memory stayed with
    the process once they were freed (40 subscriptions of 1 MB documents, closed and
    collected: 183 MB, 145 MB once trimmed; 144 MB with this). Elsewhere than glibc,
    nothing is done."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return
    if mallopt(_M_MMAP_THRESHOLD, _MAPPED_FROM_BYTES) != 1:  # not glibc's, say musl's
        log.debug("the C allocator does not take an mmap threshold")


_heap_frozen = False

# How many container objects may be made (net of those freed) before the youngest
# generation is collected; Python's default is 700. A large report builds hundreds of
# thousands of objects that live until it is sent, and at 700 each was walked again at
# every young collection and promoted, then walked again in the older generations: the
# auditor report (bench/peers.py, on 100k transactions) spent 7 % of its CPU in the
# collector, 3.5 % at 10,000. Higher gains little more and makes each collection
# longer (at 50,000 the dashboard read met 90 ms pauses; at 10,000, 12 ms; at 700, 5).
YOUNG_COLLECTION_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """Once per process, when the app has started: collect, then move every object
    alive (modules, the schema, table metadata: what lives as long as the process) out
    of the garbage collector's reach. A full collection otherwise walked all of them
    now and then: one request in the first few dozen took 160 ms instead of 15
    (bench/victim.py's quiet phase). Later objects are collected as before, the
    youngest less often (YOUNG_COLLECTION_THRESHOLD)."""
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)

"""A real HTTP receiver for webhook tests: a server on 127.0.0.1 in a thread of its own
that answers each request with the next status of its script (then 200), records what
it received, and can go down and come back up on the same port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.live import free_port


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    # Connections waiting to be accepted: a turn of the worker opens one per endpoint at
    # once, and with socketserver's 5 some of 13 were reset (ReadError) on a busy machine.
    request_queue_size = 128


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    def __init__(
        self,
        script: list[int] | None = None,
        *,
        location: str | None = None,
        delay: float = 0.0,
        answer: Callable[[bytes], int | None] | None = None,
        body: bytes = b"x" * 5000,
    ) -> None:
        self.delay = delay
        self.body = body  # what every answer carries
        # Chooses the status by the body, before the script does (None: the script's).
        self.answer = answer
        self.port = free_port()
        self.script = list(script or [])
        self.location = location  # answered with 3xx statuses
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-body (killed, say): no request came, as
                    # an HTTP server would see it, and none is recorded.
                    self.close_connection = True
                    return
                time.sleep(receiver.delay)
                with receiver._lock:
                    chosen = receiver.answer(body) if receiver.answer is not None else None
                    if chosen is not None:
                        status = chosen
                    else:
                        status = receiver.script.pop(0) if receiver.script else 200
                    receiver.received.append(
                        Received(
                            time.monotonic(),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                        )
                    )
                self.send_response(status)
                if receiver.location is not None and 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

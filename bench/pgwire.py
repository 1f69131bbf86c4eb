"""Counting the SQL statements a client sends to PostgreSQL, on the wire (bench/peers.py:
pg_stat_statements needs a restart to load, and pg_stat_database counts transactions)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading


class StatementCounter:
    """A TCP proxy in front of PostgreSQL that counts the statements its clients run:
    each simple Query message (split on `;`) and each portal of the extended protocol
    executed (once, however many batches it is read in), classified by the text of the
    Parse it was bound to. Statements that only manage the session or transaction
    (BEGIN, COMMIT, SET, an empty ping…) are counted apart."""

    CONTROL = frozenset(
        "BEGIN START COMMIT END ROLLBACK SAVEPOINT RELEASE SET RESET DISCARD SHOW".split()
    ) | {""}

    def __init__(self, host: str, port: int) -> None:
        self.queries = 0
        self.control = 0
        self.port = free_port()
        self.upstream = (host, port)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            await asyncio.start_server(self._client, "127.0.0.1", self.port)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def snapshot(self) -> tuple[int, int]:
        return self.queries, self.control

    def _count(self, sql: str) -> None:
        for part in sql.split(";") if sql.strip() else [""]:
            words = part.split(None, 1)
            if not part.strip() and sql.strip():
                continue  # the text after a final `;`
            if (words[0].upper() if words else "") in self.CONTROL:
                self.control += 1
            else:
                self.queries += 1

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        back = asyncio.ensure_future(self._pipe(upstream_reader, writer))
        parsed: dict[bytes, str] = {}
        portals: dict[bytes, str] = {}
        try:
            started = False
            while not started:  # SSL/GSS requests and the startup message carry no type
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!i", head)[0] - 4)
                upstream_writer.write(head + body)
                await upstream_writer.drain()
                started = struct.unpack("!i", body[:4])[0] == 196608  # protocol 3.0
            while True:
                kind = await reader.readexactly(1)
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!i", head)[0] - 4)
                if kind == b"Q":
                    self._count(body[:-1].decode(errors="replace"))
                elif kind == b"P":
                    name, rest = body.split(b"\0", 1)
                    parsed[name] = rest.split(b"\0", 1)[0].decode(errors="replace")
                elif kind == b"B":
                    portal, statement, _ = body.split(b"\0", 2)
                    portals[portal] = parsed.get(statement, "?")
                elif kind == b"E":
                    # A portal executed again fetches more rows of the same statement
                    # (a cursor reading in batches): counted once, at its first Execute.
                    sql = portals.pop(body.split(b"\0", 1)[0], None)
                    if sql is not None:
                        self._count(sql)
                upstream_writer.write(kind + head + body)
                await upstream_writer.drain()
                if kind == b"X":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            upstream_writer.close()
            back.cancel()
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

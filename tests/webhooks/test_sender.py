"""A delivery has one deadline for the whole exchange, not one per read."""

from __future__ import annotations

import asyncio
import time

from app.webhooks.sender import Sender


async def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_deadline() -> None:
    # given: a receiver that sends its answer's head one byte every 0.1 s (each read
    # well within a per-read timeout), for much longer than the deadline
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = Sender(timeout=0.5, allow_private=True)
    try:
        # when
        started = time.perf_counter()
        outcome = await sender.send(f"http://127.0.0.1:{port}/hook", {}, b"{}")
        took = time.perf_counter() - started
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
    # then: not delivered, and given up near the deadline, not after the 10 s drip
    assert outcome.status_code is None
    assert outcome.error is not None and "0.5 s" in outcome.error
    assert took < 5

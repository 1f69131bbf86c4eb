"""uvicorn's per-connection receive queue, kept small (app/http/sockets.py
`ReceiveQueue`): what uvicorn relies on of an `asyncio.Queue` holds — every message
once, in order, a waiting reader woken, a reader cancelled after being woken leaving
its message to the next."""

from __future__ import annotations

import asyncio

from app.http.sockets import ReceiveQueue


async def test_messages_come_out_once_in_order() -> None:
    queue = ReceiveQueue([{"type": "websocket.connect"}])
    assert not queue.empty() and queue.qsize() == 1
    for n in range(3):
        queue.put_nowait(n)
    assert [await queue.get() for _ in range(4)] == [{"type": "websocket.connect"}, 0, 1, 2]
    assert queue.empty() and queue.qsize() == 0


async def test_a_waiting_reader_is_woken_by_the_next_message() -> None:
    queue = ReceiveQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert await reader == "a"
    assert await queue.get() == "b"
    later = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not later.done()
    queue.put_nowait("c")
    assert await asyncio.wait_for(later, 1) == "c"


async def test_a_reader_cancelled_after_being_woken_leaves_the_message_to_the_next() -> None:
    queue = ReceiveQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("only")  # wakes the first
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "only"
    assert first.cancelled()
    assert queue.empty()


async def test_a_cancelled_reader_takes_nothing() -> None:
    queue = ReceiveQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.sleep(0)
    assert reader.cancelled()
    queue.put_nowait("kept")
    assert await queue.get() == "kept"

"""What the availability tests share: the settings of the two servers, their addresses,
logs and health, and documents whose fragments fan out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.live import LiveData, Server
from tests.wsclient import LiveClient

CHANGES = "subscription { changes { sequence } }"
SETTINGS: dict[str, Any] = {"max_subscriptions_per_connection": 3, "ws_legacy_protocol": True}
SERVED: dict[str, Any] = {"request_read_timeout_seconds": 1, "max_header_bytes": 8192}


def server_of(live: LiveData) -> Server:
    return live.servers[0]


def served(live: LiveData) -> Server:
    """The server `pledge-ledger serve` started (SERVED)."""
    return live.servers[1]


async def connect(live: LiveData, role: str = "viewer") -> LiveClient:
    return await LiveClient.connect(server_of(live).ws, authorization=f"Bearer {live.keys[role]}")


def log_of(server: Server) -> str:
    return server.log.read_text(errors="replace")


async def healthz(http: httpx.AsyncClient, server: Server) -> None:
    response = await http.get(f"{server.http}/healthz")
    assert response.status_code == 200


async def while_answering(server: Server, attack: Any) -> tuple[Any, int]:
    """Runs `attack` while /healthz is asked again and again: the attack's result, and
    how many /healthz answers came while the attack was still under way."""
    async with httpx.AsyncClient(timeout=60) as http:
        task = asyncio.ensure_future(attack)
        answered = 0
        while not task.done():
            await healthz(http, server)
            answered += 0 if task.done() else 1
            await asyncio.sleep(0.02)
        return await task, answered


def fan_out(levels: int, on: str, leaf: str) -> str:
    """A document whose fragments each spread the next twice: its leaf 2^levels times."""
    fragments = " ".join(
        f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{fragments} fragment F{levels} on {on} {{ {leaf} }}"


NOT_AN_OBJECT = 'an operation is a JSON object: {"query": "..."}'
NO_OPERATION = "no operation: send its `query`, or the `documentId` it is registered as"

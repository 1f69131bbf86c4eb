"""A subscriber's side: the `changes` subscription, and a WebSocket client connected with a key."""

from __future__ import annotations

from typing import Any

from tests.live import Server
from tests.wsclient import LiveClient

CHANGES = """
subscription($after: String, $filter: ChangeEventFilter) {
  changes(after: $after, filter: $filter) {
    cursor sequence occurredAt entityType entityId operation
    actor { name role } changedFields record
  }
}"""


async def connect(server: Server, key: str | None, **kwargs: Any) -> LiveClient:
    return await LiveClient.connect(
        server.ws, authorization=f"Bearer {key}" if key else None, **kwargs
    )

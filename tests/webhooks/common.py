"""What the webhook tests share: settings with short waits, the worker running in this
process, an endpoint registered, writes, and waiting for deliveries."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from app import models as m
from app.config import Settings
from app.events.brokers import MemoryBroker
from app.events.hub import EventHub
from app.graphql.schema import build_schema
from app.webhooks import service
from app.webhooks.worker import WebhookWorker
from tests import factories as f
from tests.conftest import Database


def fast(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={
            "webhook_allow_private_addresses": True,
            "webhook_retry_first_seconds": 0.1,
            "webhook_retry_last_seconds": 5.0,
            "webhook_poll_seconds": 0.05,
            "events_poll_seconds": 0.05,
            "webhook_timeout_seconds": 5.0,
            **overrides,
        }
    )


@asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[WebhookWorker]:
    settings = settings.model_copy(update={"database_url": db.url})
    hub = EventHub(db.sessions, settings, broker=MemoryBroker())
    await hub.start()
    worker = WebhookWorker(db.sessions, settings, build_schema(settings), hub)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.close()
        await hub.close()


async def setup_ledger(db: Database) -> tuple[list[str], dict[str, str]]:
    """Two initiatives (codes A-1, B-2) and keys: admin, and a partner of A-1 only."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, code="A-1")
        await f.initiative(session, program, code="B-2")
        keys = {
            "admin": await f.api_key(session, "admin", name="hook-admin"),
            "partner": await f.api_key(
                session, "partner", initiatives=["A-1"], name="hook-partner"
            ),
        }
    return ["A-1", "B-2"], keys


async def add_endpoint(
    db: Database,
    settings: Settings,
    url: str,
    key: str = "hook-admin",
    ordering: str = "endpoint",
    **filters: list[str],
) -> tuple[int, str]:
    async with db.sessions() as session, session.begin():
        added = await service.add(
            session,
            settings,
            url=url,
            key_name=key,
            entity_types=filters.get("entity_types", []),
            operations=filters.get("operations", []),
            initiative_codes=filters.get("initiatives", []),
            created_by="test",
            ordering=ordering,
        )
        return added.endpoint.id, added.secret


async def write(db: Database, count: int, code: str = "A-1") -> None:
    """`count` transactions of the initiative `code`, one commit each."""
    for _ in range(count):
        async with db.sessions() as session, session.begin():
            initiative = await session.scalar(select(m.Initiative).where(m.Initiative.code == code))
            assert initiative is not None
            await f.transaction(session, initiative)


async def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """`until`, for a check that asks the database."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def endpoint_row(db: Database, endpoint_id: int) -> m.WebhookEndpoint:
    async with db.sessions() as session:
        row = await session.get(m.WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


def data_of(body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(body)
    data: dict[str, Any] = payload["data"]
    return data

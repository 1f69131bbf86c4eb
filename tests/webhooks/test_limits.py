"""Limits on endpoints: a cap in all and per key (refused past it, writing nothing), and
the admin list's cost in SQL does not grow with the number of endpoints."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from app import models as m
from app.config import Settings
from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.webhooks import repository as repo
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.webhooks.common import add_endpoint, fast, setup_ledger
from tests.webhooks.test_statements import counting

LIST = """{ webhookEndpoints {
  endpointId keyName heldDeliveries
  deadLetters { messageId } recentAttempts { messageId attempt }
} }"""


async def endpoints(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(m.WebhookEndpoint)) or 0)


async def test_endpoints_past_the_caps_are_refused_writing_nothing(
    db: Database, settings: Settings
) -> None:
    await setup_ledger(db)
    capped = fast(settings, max_webhook_endpoints=3, max_webhook_endpoints_per_key=2)
    for _ in range(2):
        await add_endpoint(db, capped, "http://127.0.0.1:9/h", key="hook-admin")
    # a third for the same key is past the key's cap
    with pytest.raises(DomainError) as refused:
        await add_endpoint(db, capped, "http://127.0.0.1:9/h", key="hook-admin")
    assert (refused.value.code, refused.value.field) == (ErrorCode.TOO_MANY_ENDPOINTS, "key")
    assert "MAX_WEBHOOK_ENDPOINTS_PER_KEY" in refused.value.message
    # another key still has room, up to the cap in all
    await add_endpoint(db, capped, "http://127.0.0.1:9/h", key="hook-partner")
    with pytest.raises(DomainError) as refused:
        await add_endpoint(db, capped, "http://127.0.0.1:9/h", key="hook-partner")
    assert (refused.value.code, refused.value.field) == (ErrorCode.TOO_MANY_ENDPOINTS, "url")
    assert "MAX_WEBHOOK_ENDPOINTS" in refused.value.message
    assert await endpoints(db) == 3


def test_a_cap_per_key_above_the_cap_in_all_is_refused() -> None:
    with pytest.raises(ValidationError, match="MAX_WEBHOOK_ENDPOINTS_PER_KEY"):
        Settings(max_webhook_endpoints=10, max_webhook_endpoints_per_key=11)


async def with_history(db: Database, settings: Settings, count: int) -> list[int]:
    """`count` endpoints, each with 25 attempts, 2 dead letters and a held delivery."""
    added = [(await add_endpoint(db, settings, "http://127.0.0.1:9/h"))[0] for _ in range(count)]
    now = utcnow()
    async with db.sessions() as session, session.begin():
        for endpoint_id in added:
            await repo.add_attempts(
                session,
                [
                    {
                        "endpoint_id": endpoint_id,
                        "message_id": f"msg_{endpoint_id}_{n}",
                        "sequence": n,
                        "attempt": 1,
                        "at": now,
                        "status_code": 500,
                        "error": None,
                        "response_excerpt": "no",
                        "duration_ms": 1,
                    }
                    for n in range(1, 26)
                ],
            )
            for n in (1, 2):
                session.add(
                    m.WebhookDeadLetter(
                        endpoint_id=endpoint_id,
                        message_id=f"msg_{endpoint_id}_{n}",
                        sequence=n,
                        cursor_before="Y2hhbmdlOjA=",
                        attempts=8,
                        last_error="HTTP 500",
                        created_at=now,
                    )
                )
            session.add(
                m.WebhookHeld(
                    endpoint_id=endpoint_id,
                    lane=0,
                    sequence=3,
                    cursor_before="Y2hhbmdlOjA=",
                    attempts=1,
                    created_at=now,
                )
            )
    return added


async def test_the_admin_list_costs_the_same_statements_for_2_or_12_endpoints(
    db: Database, settings: Settings, client_with: Callable[..., GraphQLClient]
) -> None:
    await setup_ledger(db)
    settings = fast(settings)
    async with db.sessions() as session, session.begin():
        admin = await f.api_key(session, "admin", name="list-admin")
    client = client_with(webhook_allow_private_addresses=True).with_key(admin)

    async def listed() -> tuple[int, list[dict[str, object]]]:
        async with counting(db) as seen:
            shown = (await client.data(LIST))["webhookEndpoints"]
        return len(seen), shown

    few_ids = await with_history(db, settings, 2)
    few, shown = await listed()
    assert [e["endpointId"] for e in shown] == few_ids
    more_ids = few_ids + await with_history(db, settings, 10)
    many, shown = await listed()
    # each endpoint with its own history: the latest 20 attempts, latest first, its dead
    # letters and its held delivery
    assert [e["endpointId"] for e in shown] == more_ids
    for endpoint in shown:
        own = endpoint["endpointId"]
        attempts = endpoint["recentAttempts"]
        assert isinstance(attempts, list)
        assert [a["messageId"] for a in attempts] == [f"msg_{own}_{n}" for n in range(25, 5, -1)]
        assert endpoint["deadLetters"] == [{"messageId": f"msg_{own}_{n}"} for n in (1, 2)]
        assert endpoint["heldDeliveries"] == 1
    # it used to be four statements more per endpoint
    assert many == few, (few, many)

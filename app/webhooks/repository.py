"""Every SQL statement of webhooks: endpoints, their leases, attempts, dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, WebhookAttempt, WebhookDeadLetter, WebhookEndpoint

# Attempts kept per endpoint: older ones are pruned as new ones are written.
KEPT_ATTEMPTS = 1000


async def endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


async def endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list((await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).all())


async def key_names(session: AsyncSession, key_ids: Sequence[int]) -> dict[int, str]:
    rows = await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids)))
    return {id_: name for id_, name in rows.all()}


def _claimable(now: datetime) -> list[Any]:
    return [
        WebhookEndpoint.status == "active",
        or_(WebhookEndpoint.lease_until.is_(None), WebhookEndpoint.lease_until < now),
        or_(WebhookEndpoint.next_attempt_at.is_(None), WebhookEndpoint.next_attempt_at <= now),
    ]


async def claimable(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Endpoints due for delivery that no process holds. On PostgreSQL the rows are
    locked while the claim's transaction lasts, and rows another process is claiming
    are skipped rather than waited for."""
    # The least recently held first (a release leaves its time in `lease_until`), so
    # that every endpoint gets its turn when there are more than one process takes.
    order = (WebhookEndpoint.lease_until.asc().nulls_first(), WebhookEndpoint.id)
    stmt = select(WebhookEndpoint.id).where(*_claimable(now)).order_by(*order)
    stmt = stmt.limit(limit)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.scalars(stmt)).all())


async def take_lease(
    session: AsyncSession, endpoint_id: int, owner: str, now: datetime, until: datetime
) -> bool:
    """Hold the endpoint until `until`, if no one else does; whether it is now ours."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, *_claimable(now))
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def update_held(
    session: AsyncSession, endpoint_id: int, owner: str, values: dict[str, Any]
) -> bool:
    """Change an endpoint this process holds; False when it no longer does."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest retry of an active endpoint falls due."""
    stmt = select(func.min(WebhookEndpoint.next_attempt_at)).where(
        WebhookEndpoint.status == "active"
    )
    value: datetime | None = await session.scalar(stmt)
    return value


async def add_attempts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(WebhookAttempt), rows)


async def prune_attempts(session: AsyncSession, endpoint_id: int) -> None:
    """Keep the endpoint's last KEPT_ATTEMPTS attempts."""
    oldest_kept = (
        select(WebhookAttempt.id)
        .where(WebhookAttempt.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.id.desc())
        .offset(KEPT_ATTEMPTS - 1)
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        delete(WebhookAttempt).where(
            WebhookAttempt.endpoint_id == endpoint_id, WebhookAttempt.id < oldest_kept
        )
    )


async def attempts(session: AsyncSession, endpoint_id: int, limit: int) -> list[WebhookAttempt]:
    stmt = (
        select(WebhookAttempt)
        .where(WebhookAttempt.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def dead_letters(
    session: AsyncSession, endpoint_id: int, limit: int, *, open_only: bool = False
) -> list[WebhookDeadLetter]:
    stmt = select(WebhookDeadLetter).where(WebhookDeadLetter.endpoint_id == endpoint_id)
    if open_only:
        stmt = stmt.where(WebhookDeadLetter.replayed_at.is_(None))
    stmt = stmt.order_by(WebhookDeadLetter.id).limit(limit)
    return list((await session.scalars(stmt)).all())


async def mark_replayed(session: AsyncSession, endpoint_id: int, when: datetime) -> None:
    await session.execute(
        update(WebhookDeadLetter)
        .where(
            WebhookDeadLetter.endpoint_id == endpoint_id, WebhookDeadLetter.replayed_at.is_(None)
        )
        .values(replayed_at=when)
    )


async def add_dead_letter(session: AsyncSession, letter: WebhookDeadLetter) -> None:
    session.add(letter)
    await session.flush()


async def remove(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    # The attempts and dead letters go with it (explicitly: SQLite may not enforce
    # the foreign keys' ON DELETE CASCADE).
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id))
    await session.execute(
        delete(WebhookDeadLetter).where(WebhookDeadLetter.endpoint_id == endpoint.id)
    )
    await session.delete(endpoint)
    await session.flush()

"""Every SQL statement of webhooks: endpoints, their leases, attempts, dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    and_,
    delete,
    exists,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    ApiKey,
    Change,
    WebhookAttempt,
    WebhookDeadLetter,
    WebhookEndpoint,
    WebhookHeld,
)
from app.webhooks.lanes import REPLAYS

# Attempts kept per endpoint: older ones are pruned as new ones are written.
KEPT_ATTEMPTS = 1000


async def has_tables(session: AsyncSession, names: Sequence[str]) -> bool:
    """Whether the database has every one of these tables (is migrated that far)."""
    connection = await session.connection()
    return await connection.run_sync(lambda sync: all(inspect(sync).has_table(n) for n in names))


async def endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


async def endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list((await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).all())


async def endpoint_states(session: AsyncSession) -> list[tuple[int, str, int]]:
    """Each endpoint's id, status and position (the gauges' reading: three columns, not
    the rows)."""
    stmt = select(WebhookEndpoint.id, WebhookEndpoint.status, WebhookEndpoint.position)
    rows = await session.execute(stmt.order_by(WebhookEndpoint.id))
    return [(id_, status, position) for id_, status, position in rows.all()]


async def endpoint_counts(session: AsyncSession, key_id: int) -> tuple[int, int]:
    """Endpoints registered, in all and for this key."""
    for_key = func.count().filter(WebhookEndpoint.api_key_id == key_id)
    row = (await session.execute(select(func.count(), for_key).select_from(WebhookEndpoint))).one()
    return int(row[0]), int(row[1])


async def key_names(session: AsyncSession, key_ids: Sequence[int]) -> dict[int, str]:
    rows = await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids)))
    return {id_: name for id_, name in rows.all()}


def _claimable(now: datetime) -> list[Any]:
    return [
        WebhookEndpoint.status == "active",
        or_(WebhookEndpoint.lease_until.is_(None), WebhookEndpoint.lease_until < now),
        or_(WebhookEndpoint.next_attempt_at.is_(None), WebhookEndpoint.next_attempt_at <= now),
    ]


async def claimable(session: AsyncSession, now: datetime, limit: int) -> list[tuple[int, bool]]:
    """Endpoints due for delivery that no process holds, each with whether it has held
    deliveries. On PostgreSQL the rows are locked while the claim's transaction lasts,
    and rows another process is claiming are skipped rather than waited for."""
    # The least recently held first (a release leaves its time in `lease_until`), so
    # that every endpoint gets its turn when there are more than one process takes.
    order = (WebhookEndpoint.lease_until.asc().nulls_first(), WebhookEndpoint.id)
    has_held = exists().where(WebhookHeld.endpoint_id == WebhookEndpoint.id)
    stmt = select(WebhookEndpoint.id, has_held).where(*_claimable(now)).order_by(*order)
    stmt = stmt.limit(limit)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=WebhookEndpoint, skip_locked=True)
    return [(id_, bool(held)) for id_, held in (await session.execute(stmt)).all()]


async def initiatives_before(
    session: AsyncSession, records: Sequence[tuple[int, str, int]]
) -> dict[int, int | None]:
    """For each (sequence, table, id): the initiative of that record in its last trail
    entry before `sequence` (None: it has none, or the trail has no entry of it), by
    `sequence`; one statement."""
    if not records:
        return {}
    rows = [
        select(
            literal(sequence).label("sequence"),
            select(Change.initiative_id)
            .where(
                Change.entity_type == table,
                Change.entity_id == record_id,
                Change.sequence < sequence,
            )
            .order_by(Change.sequence.desc())
            .limit(1)
            .scalar_subquery()
            .label("initiative_id"),
        )
        for sequence, table, record_id in records
    ]
    found = await session.execute(union_all(*rows) if len(rows) > 1 else rows[0])
    return {int(s): (int(i) if i is not None else None) for s, i in found.all()}


async def take_leases(
    session: AsyncSession, endpoint_ids: Sequence[int], owner: str, now: datetime, until: datetime
) -> list[WebhookEndpoint]:
    """Hold each of these endpoints until `until` that no one else holds (one
    statement for them all); the endpoints now ours, as they are."""
    if not endpoint_ids:
        return []
    stmt = (
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id.in_(endpoint_ids), *_claimable(now))
        .values(lease_owner=owner, lease_until=until)
        .returning(WebhookEndpoint)
        .execution_options(synchronize_session=False)
    )
    return list((await session.scalars(stmt)).all())


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


async def may_send(session: AsyncSession, endpoint_id: int, owner: str) -> bool:
    """Whether the endpoint is still there, active and held by `owner`: asked before
    each send, so that a pause or a removal stops a running turn at once."""
    stmt = select(WebhookEndpoint.id).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.lease_owner == owner,
        WebhookEndpoint.status == "active",
    )
    return await session.scalar(stmt) is not None


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest retry of an active endpoint, or of a held delivery of one,
    falls due."""
    active = WebhookEndpoint.status == "active"
    endpoints_due = select(func.min(WebhookEndpoint.next_attempt_at)).where(active)
    held_due = (
        select(func.min(WebhookHeld.next_attempt_at))
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookHeld.endpoint_id)
        .where(active)
    )
    found = [
        v
        for v in (
            await session.execute(
                select(endpoints_due.scalar_subquery(), held_due.scalar_subquery())
            )
        ).one()
        if v is not None
    ]
    return min(found) if found else None


async def due_lanes(session: AsyncSession, endpoint_id: int, now: datetime) -> list[int]:
    """The endpoint's lanes whose first held delivery is due."""
    head = (
        select(WebhookHeld.lane, func.min(WebhookHeld.sequence).label("sequence"))
        .where(WebhookHeld.endpoint_id == endpoint_id)
        .group_by(WebhookHeld.lane)
        .subquery()
    )
    stmt = (
        select(WebhookHeld.lane)
        .join(
            head,
            and_(WebhookHeld.lane == head.c.lane, WebhookHeld.sequence == head.c.sequence),
        )
        .where(
            WebhookHeld.endpoint_id == endpoint_id,
            or_(WebhookHeld.next_attempt_at.is_(None), WebhookHeld.next_attempt_at <= now),
        )
        .order_by(WebhookHeld.lane)
    )
    return list((await session.scalars(stmt)).all())


async def held_in_lane(
    session: AsyncSession, endpoint_id: int, lane: int, limit: int
) -> list[WebhookHeld]:
    stmt = (
        select(WebhookHeld)
        .where(WebhookHeld.endpoint_id == endpoint_id, WebhookHeld.lane == lane)
        .order_by(WebhookHeld.sequence)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def held_lanes(session: AsyncSession, endpoint_id: int) -> set[int]:
    """The initiative lanes (and lane 0) with deliveries held: later events of these
    lanes must wait behind them."""
    stmt = (
        select(WebhookHeld.lane)
        .where(WebhookHeld.endpoint_id == endpoint_id, WebhookHeld.lane != REPLAYS)
        .distinct()
    )
    return set((await session.scalars(stmt)).all())


async def held_count(session: AsyncSession, endpoint_id: int) -> int:
    stmt = select(func.count()).where(WebhookHeld.endpoint_id == endpoint_id)
    return int(await session.scalar(stmt) or 0)


async def hold(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(WebhookHeld), rows)


async def held_id(session: AsyncSession, endpoint_id: int, lane: int, sequence: int) -> int | None:
    stmt = select(WebhookHeld.id).where(
        WebhookHeld.endpoint_id == endpoint_id,
        WebhookHeld.lane == lane,
        WebhookHeld.sequence == sequence,
    )
    found: int | None = await session.scalar(stmt)
    return found


async def release_held(session: AsyncSession, held_id: int) -> None:
    await session.execute(delete(WebhookHeld).where(WebhookHeld.id == held_id))


async def retry_held(
    session: AsyncSession, held_id: int, attempts: int, when: datetime | None
) -> None:
    await session.execute(
        update(WebhookHeld)
        .where(WebhookHeld.id == held_id)
        .values(attempts=attempts, next_attempt_at=when)
    )


async def held_due_now(session: AsyncSession, endpoint_id: int) -> None:
    """Every held delivery of the endpoint may be tried at once, from its first attempt."""
    await session.execute(
        update(WebhookHeld)
        .where(WebhookHeld.endpoint_id == endpoint_id)
        .values(attempts=0, next_attempt_at=None)
    )


async def drop_held_after(session: AsyncSession, endpoint_id: int, position: int) -> int:
    """Forget the held deliveries past `position` (the endpoint is sent back there:
    they come again in the stream); how many."""
    result = await session.execute(
        delete(WebhookHeld).where(
            WebhookHeld.endpoint_id == endpoint_id, WebhookHeld.sequence > position
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


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


_Row = TypeVar("_Row", WebhookAttempt, WebhookDeadLetter)


async def latest_attempts(
    session: AsyncSession, endpoint_ids: Sequence[int], limit: int
) -> dict[int, list[WebhookAttempt]]:
    """Each endpoint's latest `limit` attempts, latest first, in one statement."""
    return await _first_per_endpoint(session, WebhookAttempt, endpoint_ids, limit, newest=True)


async def oldest_dead_letters(
    session: AsyncSession, endpoint_ids: Sequence[int], limit: int
) -> dict[int, list[WebhookDeadLetter]]:
    """Each endpoint's oldest `limit` dead letters, in one statement."""
    return await _first_per_endpoint(session, WebhookDeadLetter, endpoint_ids, limit, newest=False)


async def _first_per_endpoint(
    session: AsyncSession,
    model: type[_Row],
    endpoint_ids: Sequence[int],
    limit: int,
    *,
    newest: bool,
) -> dict[int, list[_Row]]:
    """The first `limit` rows of `model` per endpoint, by id (newest first or oldest
    first), in one statement: each endpoint's rows ranked, the first kept."""
    order = model.id.desc() if newest else model.id
    rank = func.row_number().over(partition_by=model.endpoint_id, order_by=order).label("rank")
    ranked = select(model.id, rank).where(model.endpoint_id.in_(endpoint_ids)).subquery()
    stmt = (
        select(model)
        .join(ranked, ranked.c.id == model.id)
        .where(ranked.c.rank <= limit)
        .order_by(model.endpoint_id, order)
    )
    found: dict[int, list[_Row]] = {id_: [] for id_ in endpoint_ids}
    for row in (await session.scalars(stmt)).all():
        found[row.endpoint_id].append(row)
    return found


async def held_counts(session: AsyncSession, endpoint_ids: Sequence[int]) -> dict[int, int]:
    stmt = (
        select(WebhookHeld.endpoint_id, func.count())
        .where(WebhookHeld.endpoint_id.in_(endpoint_ids))
        .group_by(WebhookHeld.endpoint_id)
    )
    counts = {id_: int(n) for id_, n in (await session.execute(stmt)).all()}
    return {id_: counts.get(id_, 0) for id_ in endpoint_ids}


async def dead_letters(
    session: AsyncSession, endpoint_id: int, limit: int, *, open_only: bool = False
) -> list[WebhookDeadLetter]:
    stmt = select(WebhookDeadLetter).where(WebhookDeadLetter.endpoint_id == endpoint_id)
    if open_only:
        stmt = stmt.where(WebhookDeadLetter.replayed_at.is_(None))
    stmt = stmt.order_by(WebhookDeadLetter.id).limit(limit)
    return list((await session.scalars(stmt)).all())


async def dead_letter(
    session: AsyncSession, endpoint_id: int, message_id: str
) -> WebhookDeadLetter | None:
    """The endpoint's latest dead letter of the message `message_id`."""
    stmt = (
        select(WebhookDeadLetter)
        .where(
            WebhookDeadLetter.endpoint_id == endpoint_id,
            WebhookDeadLetter.message_id == message_id,
        )
        .order_by(WebhookDeadLetter.id.desc())
        .limit(1)
    )
    found: WebhookDeadLetter | None = await session.scalar(stmt)
    return found


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
    await session.execute(delete(WebhookHeld).where(WebhookHeld.endpoint_id == endpoint.id))
    await session.execute(
        delete(WebhookDeadLetter).where(WebhookDeadLetter.endpoint_id == endpoint.id)
    )
    await session.delete(endpoint)
    await session.flush()

"""Registering and managing endpoints: the rules, for the CLI and GraphQL alike.

Services never commit: the caller's transaction holds each change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import kinds
from app.audit import repository as trail
from app.auth import repository as keys
from app.auth.keys import caller_of_key_id, caller_of_key_row
from app.auth.principal import Principal
from app.auth.roles import Permission
from app.config import Settings
from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.events.cursors import decode_event_cursor, encode_event_cursor
from app.events.scopes import Scope
from app.models import WebhookEndpoint, WebhookHeld
from app.webhooks import addresses, lanes
from app.webhooks import repository as repo
from app.webhooks.events import Filters
from app.webhooks.secrets import SecretBox, SecretUnreadable
from app.webhooks.signing import new_secret

_log = logging.getLogger(__name__)

ACTIVE = "active"
PAUSED = "paused"


def split(stored: str) -> tuple[str, ...]:
    return tuple(v for v in stored.split(",") if v)


def filters_of(endpoint: WebhookEndpoint) -> Filters:
    return Filters(
        entity_types=split(endpoint.entity_types),
        operations=split(endpoint.operations),
        initiative_ids=tuple(int(v) for v in split(endpoint.initiative_ids)),
    )


def _names(values: list[str], known: dict[str, str], field: str) -> list[str]:
    """Enum names (`known`: each name's value), from a name (BUDGET_LINE) or a value
    (budget_lines)."""
    by_value = {v: n for n, v in known.items()}
    names = []
    for value in values:
        name = value.upper() if value.upper() in known else by_value.get(value.lower())
        if name is None:
            raise DomainError(
                f"{field}: {value[:60]!r} is not one of {', '.join(known)}",
                code=ErrorCode.INVALID_ARGUMENT,
                field=field,
            )
        names.append(name)
    return sorted(set(names))


async def principal_of(session: AsyncSession, endpoint: WebhookEndpoint) -> Principal | None:
    """The caller the endpoint's deliveries are for; None once its key is revoked."""
    return await caller_of_key_id(session, endpoint.api_key_id)


@dataclass(frozen=True)
class Added:
    endpoint: WebhookEndpoint
    secret: str


async def add(
    session: AsyncSession,
    settings: Settings,
    *,
    url: str,
    key_name: str,
    entity_types: list[str],
    operations: list[str],
    initiative_codes: list[str],
    created_by: str,
    ordering: str = lanes.ENDPOINT,
) -> Added:
    ordering = lanes.checked(ordering)
    box = SecretBox.of(settings)
    box.check()
    for field, values in (
        ("entityTypes", entity_types),
        ("operations", operations),
        ("initiatives", initiative_codes),
    ):
        if len(values) > settings.max_filter_list:
            raise DomainError(
                f"{field}: at most {settings.max_filter_list} values",
                code=ErrorCode.INVALID_ARGUMENT,
                field=field,
            )
    await addresses.checked(url, allow_private=settings.webhook_allow_private_addresses)
    key = await keys.key_by_name(session, key_name)
    principal = await caller_of_key_row(session, key)
    if key is None or principal is None:
        raise DomainError(
            f"key: no usable key named {key_name[:100]!r} (unknown or revoked)",
            code=ErrorCode.NOT_FOUND,
            field="key",
        )
    if not principal.can(Permission.SUBSCRIBE):
        raise DomainError(
            f"key: the role '{key.role}' may not follow changes (it lacks the subscribe "
            "permission), so it can receive no webhooks",
            code=ErrorCode.FORBIDDEN,
            field="key",
        )
    await _room_for_one_more(session, settings, key.id)
    found = await keys.initiative_ids_by_code(session, initiative_codes)
    missing = sorted(set(initiative_codes) - set(found))
    if missing:
        raise DomainError(
            f"initiatives: no initiative with the code {missing[0][:60]!r}",
            code=ErrorCode.NOT_FOUND,
            field="initiatives",
        )
    initiative_ids = sorted(set(found.values()))
    scope = principal.initiative_ids
    if scope is not None and not set(initiative_ids) <= scope:
        raise DomainError(
            "initiatives: names an initiative the key may not see",
            code=ErrorCode.FORBIDDEN,
            field="initiatives",
        )
    # From now on, as a subscription started now: the trail's end and its cursor.
    position = await trail.last_sequence(session)
    cursor = await cursor_at(session, principal, position)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        api_key_id=key.id,
        entity_types=",".join(_names(entity_types, kinds.entity_type_names(), "entityTypes")),
        operations=",".join(_names(operations, kinds.operation_names(), "operations")),
        initiative_ids=",".join(str(i) for i in initiative_ids),
        status=ACTIVE,
        ordering=ordering,
        secret=box.seal(secret),
        position=position,
        cursor=cursor,
        attempts=0,
        created_by=created_by,
    )
    session.add(endpoint)
    await session.flush()
    return Added(endpoint, secret)


async def _room_for_one_more(session: AsyncSession, settings: Settings, key_id: int) -> None:
    """Refuse a registration past MAX_WEBHOOK_ENDPOINTS or the key's
    MAX_WEBHOOK_ENDPOINTS_PER_KEY. (Registrations at the same moment may each see
    room for one: the caps can be passed by as many; they bound growth, not a race.)"""
    in_all, for_key = await repo.endpoint_counts(session, key_id)
    if in_all >= settings.max_webhook_endpoints:
        raise DomainError(
            f"there are {in_all} webhook endpoints, as many as allowed "
            "(MAX_WEBHOOK_ENDPOINTS): remove one first",
            code=ErrorCode.TOO_MANY_ENDPOINTS,
            field="url",
        )
    if for_key >= settings.max_webhook_endpoints_per_key:
        raise DomainError(
            f"key: it has {for_key} webhook endpoints, as many as one key may "
            "(MAX_WEBHOOK_ENDPOINTS_PER_KEY): remove one first",
            code=ErrorCode.TOO_MANY_ENDPOINTS,
            field="key",
        )


async def cursor_at(session: AsyncSession, principal: Principal, position: int) -> str:
    scope = Scope(principal.initiative_ids)
    where = scope.where
    ordinal = position if scope.whole else await trail.count(session, where, until=position)
    return encode_event_cursor(scope, ordinal)


async def get(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await repo.endpoint(session, endpoint_id)
    if endpoint is None:
        raise DomainError(
            f"no webhook endpoint {endpoint_id}", code=ErrorCode.NOT_FOUND, field="id"
        )
    return endpoint


async def pause(
    session: AsyncSession, endpoint_id: int, reason: str = "paused by an admin"
) -> WebhookEndpoint:
    endpoint = await get(session, endpoint_id)
    if endpoint.status != PAUSED or not endpoint.paused_reason:
        # (Paused already, it keeps the reason it was paused for: a dead letter, say.)
        endpoint.paused_reason = reason
    endpoint.status = PAUSED
    await session.flush()
    return endpoint


async def resume(
    session: AsyncSession, endpoint_id: int, *, from_now: bool = False
) -> WebhookEndpoint:
    """Deliver again, from where the endpoint stands (a dead-lettered event stays in
    the dead letters: `replay` sends it again); `from_now`: from the end of the key's
    stream as it is now, what was pending or held skipped (the way back for an endpoint
    whose cursor names a stream its key no longer has, when its initiatives changed)."""
    endpoint = await get(session, endpoint_id)
    principal = await principal_of(session, endpoint)
    if principal is None:
        # (The worker would only pause it again at once.)
        raise _revoked()
    if from_now:
        if endpoint.status != PAUSED:
            # Skipping is an admin's decision about a stopped endpoint, never a side
            # effect of resuming a running one.
            raise DomainError(
                f"endpoint {endpoint_id} is {endpoint.status}: --from-now skips what it "
                "has not sent, and is for a paused endpoint (pause it first)",
                code=ErrorCode.CONFLICT,
                field="fromNow",
            )
        held = await repo.drop_held_after(session, endpoint.id, -1)  # all of them
        end = await trail.last_sequence(session)
        _log.warning(
            "webhooks: endpoint %s resumed from now: trail entries %s..%s not sent "
            "(those its key may see), %s held deliveries dropped",
            endpoint_id,
            endpoint.position + 1,
            end,
            held,
        )
        endpoint.position = end
        endpoint.cursor = await cursor_at(session, principal, endpoint.position)
        # As a replay after a cursor: a process delivering the endpoint stops.
        endpoint.lease_owner = None
        endpoint.lease_until = None
    endpoint.status = ACTIVE
    endpoint.paused_reason = None
    endpoint.attempts = 0
    endpoint.next_attempt_at = None
    # A lease still running is a process delivering the endpoint: taking it away would
    # let a second process claim it and send the same events beside the first.
    if endpoint.lease_until is None or endpoint.lease_until < utcnow():
        endpoint.lease_owner = None
        endpoint.lease_until = None
    await repo.held_due_now(session, endpoint.id)
    await session.flush()
    return endpoint


def _revoked() -> DomainError:
    return DomainError(
        "the endpoint's key is revoked: nothing can be delivered for it",
        code=ErrorCode.VALIDATION,
        field="id",
    )


async def _reopened(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """After a replay of deliveries: a paused endpoint is active again; an active one is
    left as it is (its lease, attempts and backoff belong to the process delivering it,
    and the other held deliveries keep their own backoff)."""
    if endpoint.status != ACTIVE:
        endpoint.status = ACTIVE
        endpoint.paused_reason = None
        endpoint.attempts = 0
        endpoint.next_attempt_at = None
        if endpoint.lease_until is None or endpoint.lease_until < utcnow():
            endpoint.lease_owner = None
            endpoint.lease_until = None
    await session.flush()
    return endpoint


# Dead letters replayed at once, at most (`replay` without a delivery or a cursor).
REPLAYED_AT_ONCE = 1000


async def replay(
    session: AsyncSession, endpoint_id: int, after: str | None, delivery: str | None = None
) -> WebhookEndpoint:
    """Send again, and resume:
    - `after` (a cursor of the key's change stream): everything after it, in order;
    - `delivery` (a dead letter's message id): that one delivery alone, under its
      `webhook-id`, so that a receiver that took it already knows it again;
    - neither: each open dead letter, alone, as with `delivery`."""
    endpoint = await get(session, endpoint_id)
    if after is not None and delivery is not None:
        raise DomainError(
            "give a cursor (after) or one delivery (delivery), not both",
            code=ErrorCode.INVALID_ARGUMENT,
            field="delivery",
        )
    principal = await principal_of(session, endpoint)
    if principal is None:
        raise _revoked()
    if after is not None:
        scope = Scope(principal.initiative_ids)
        ordinal = decode_event_cursor(scope, after, "after")
        if scope.whole:
            position: int | None = (
                ordinal if ordinal <= await trail.last_sequence(session) else None
            )
        else:
            position = 0 if ordinal == 0 else await trail.nth(session, scope.where, ordinal)
        if position is None:
            raise DomainError(
                "after: this cursor points past the end of the key's change stream",
                code=ErrorCode.INVALID_CURSOR,
                field="after",
            )
        await repo.mark_replayed(session, endpoint.id, utcnow())
        # What is held past the cursor comes again in the stream.
        await repo.drop_held_after(session, endpoint.id, position)
        endpoint.position = position
        endpoint.cursor = after
        # The endpoint goes back: a process delivering it must stop (its next record
        # finds the lease gone) rather than write its own position over this one.
        endpoint.lease_owner = None
        endpoint.lease_until = None
        await session.flush()
        return await resume(session, endpoint_id)
    if delivery is not None:
        letter = await repo.dead_letter(session, endpoint.id, delivery[:100])
        if letter is None:
            raise DomainError(
                f"delivery: the endpoint has no dead letter {delivery[:100]!r} (its "
                "`webhooks failures` lists them)",
                code=ErrorCode.NOT_FOUND,
                field="delivery",
            )
        letters = [letter]
    else:
        letters = await repo.dead_letters(session, endpoint.id, REPLAYED_AT_ONCE, open_only=True)
        if not letters:
            raise DomainError(
                "this endpoint has no open dead letters to replay; give a cursor (after) to "
                "deliver again from there",
                code=ErrorCode.VALIDATION,
                field="after",
            )
    now = utcnow()
    for letter in letters:
        # Only the replayed delivery is made due; nothing else of the endpoint moves.
        found = await repo.held_id(session, endpoint.id, lanes.REPLAYS, letter.sequence)
        if found is None:
            session.add(
                WebhookHeld(
                    endpoint_id=endpoint.id,
                    lane=lanes.REPLAYS,
                    sequence=letter.sequence,
                    cursor_before=letter.cursor_before,
                    attempts=0,
                    next_attempt_at=None,
                    created_at=now,
                )
            )
        else:
            await repo.retry_held(session, found, 0, None)
        letter.replayed_at = now
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another replay of the same delivery inserted it first (the unique index of
        # webhook_held): it is being sent again already.
        raise DomainError(
            "delivery: this delivery is being replayed already (another replay of it "
            "came at the same time)",
            code=ErrorCode.CONFLICT,
            field="delivery",
        ) from exc
    return await _reopened(session, endpoint)


# How long the previous secret may go on signing after a rotation, at most.
MAX_OVERLAP_HOURS = 720.0


def overlap_of(hours: float) -> timedelta:
    """A rotation's overlap, from 0 to MAX_OVERLAP_HOURS hours; anything else is refused
    (the CLI and GraphQL alike)."""
    if not 0 <= hours <= MAX_OVERLAP_HOURS:  # NaN compares false: refused too
        raise DomainError(
            f"overlapHours: from 0 to {MAX_OVERLAP_HOURS:g} hours, not {hours:g}",
            code=ErrorCode.INVALID_ARGUMENT,
            field="overlapHours",
        )
    return timedelta(hours=hours)


async def rotate(
    session: AsyncSession, settings: Settings, endpoint_id: int, overlap_hours: float
) -> str:
    """A new signing secret; the one it replaces also signs for the overlap.

    At most two secrets are kept: the new one and the one it replaces. A second
    rotation within an overlap therefore drops the oldest at once (receivers still on
    it stop verifying). A current secret that cannot be opened (sealed under a key no
    longer set) is not kept as the previous one: it could sign nothing, and the
    endpoint would stall on it; the new secret alone signs."""
    overlap = overlap_of(overlap_hours)
    endpoint = await get(session, endpoint_id)
    box = SecretBox.of(settings)
    secret = new_secret()
    if box.readable(endpoint.secret) and overlap > timedelta(0):
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = utcnow() + overlap
    else:
        endpoint.previous_secret = None
        endpoint.previous_secret_until = None
    if not box.readable(endpoint.secret):
        # Its deliveries were waiting for a secret that could be opened: due now.
        endpoint.next_attempt_at = None
    endpoint.secret = box.seal(secret)
    await session.flush()
    return secret


def signing_secrets(settings: Settings, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign the endpoint's deliveries now (the previous one during a
    rotation's overlap). SecretUnreadable: one of them cannot be opened."""
    box = SecretBox.of(settings)
    found = [box.open(endpoint.secret)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret is not None and until is not None and now < until:
        try:
            found.append(box.open(endpoint.previous_secret))
        except SecretUnreadable as exc:
            raise SecretUnreadable(f"(the previous secret) {exc}") from None
    return found


async def remove(session: AsyncSession, endpoint_id: int) -> None:
    await repo.remove(session, await get(session, endpoint_id))

"""Webhook endpoints, their attempts and their dead letters (app/webhooks/).

An endpoint's place in the trail is `position` (the sequence of the last entry it has
been given or passed over) and `cursor` (the `changes` cursor there, in the key's
scope); the trail itself is the outbox, so nothing is queued anywhere else.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import UTCDateTime, utcnow


def new_message_key() -> str:
    """A random key of an endpoint's `webhook-id`s (app/webhooks/worker.py's message_id)."""
    return secrets.token_hex(16)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Deliveries carry what this key's caller may see (its role and partner scope).
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    # Filters, comma-separated (empty: any): table names, operations, initiative ids.
    entity_types: Mapped[str] = mapped_column(String(2000), default="")
    operations: Mapped[str] = mapped_column(String(200), default="")
    initiative_ids: Mapped[str] = mapped_column(Text, default="")
    # active or paused
    status: Mapped[str] = mapped_column(String(16), default="active")
    # "endpoint": every event in the trail's order, a failing one holds back the rest;
    # "initiative": in order per initiative, a failing event holds back only its own
    # initiative's (events tied to no initiative are a lane of their own). The held-back
    # events wait in webhook_held.
    ordering: Mapped[str] = mapped_column(String(16), default="endpoint", server_default="endpoint")
    __table_args__ = (
        CheckConstraint("ordering IN ('endpoint', 'initiative')", name="ordering_known"),
    )
    paused_reason: Mapped[str | None] = mapped_column(String(500))
    # The signing secrets (app/webhooks/secrets.py: encrypted under WEBHOOK_SECRET_KEY);
    # after a rotation the previous one also signs until `previous_secret_until`.
    secret: Mapped[str] = mapped_column(String(500))
    previous_secret: Mapped[str | None] = mapped_column(String(500))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Keys the digest of a trail sequence that is the event's `webhook-id`: one id per
    # event, kept when a partner's stream is renumbered, telling nothing of the trail.
    message_key: Mapped[str] = mapped_column(String(64), default=new_message_key)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor: Mapped[str] = mapped_column(String(200))
    # The attempts made at the next event so far, and when the next may be made.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which process holds the endpoint, until when (SQLite's lease; PostgreSQL also
    # locks the row while it claims).
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class WebhookAttempt(Base):
    """One request made to an endpoint; its answer's body kept to its first KB."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(100))
    sequence: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The HTTP status, or null when no answer came (the error says why).
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(1000))
    response_excerpt: Mapped[str | None] = mapped_column(String(1024))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class WebhookHeld(Base):
    """An event the endpoint's position has passed that is still to be delivered: one
    that failed (the head of its lane: `attempts`, `next_attempt_at`), one waiting
    behind it in its lane, or one an admin replayed.

    Lanes (app/webhooks/lanes.py): an initiative's id, 0 for events tied to no
    initiative, -1 for replayed deliveries. A lane is delivered in sequence order."""

    __tablename__ = "webhook_held"
    __table_args__ = (
        Index(
            "ux_webhook_held_endpoint_lane_sequence", "endpoint_id", "lane", "sequence", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    lane: Mapped[int] = mapped_column(BigInteger)
    sequence: Mapped[int] = mapped_column(BigInteger)
    # The `changes` cursor just before the event, in the endpoint's stream: the event
    # is rendered again from it.
    cursor_before: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Null: due as soon as it heads its lane.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDeadLetter(Base):
    """An event an endpoint did not take after the last attempt."""

    __tablename__ = "webhook_dead_letters"
    __table_args__ = (Index("ix_webhook_dead_letters_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(100))
    sequence: Mapped[int] = mapped_column(BigInteger)
    # The `changes` cursor just before the event: replaying from it sends it again.
    cursor_before: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

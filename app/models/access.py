"""API keys (stored hashed) and idempotency records of mutations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import UTCDateTime, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # viewer, auditor, editor, partner, admin (app/auth/roles.py)
    role: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the secret: the secret is 256 random bits, so a fast hash is safe here.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, to recognise it in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKeyInitiative(Base):
    """An initiative a partner key may see. No foreign key: an archived initiative
    stays in scope, so the partner can still read it as of the past."""

    __tablename__ = "api_key_initiatives"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    initiative_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class IdempotencyRecord(Base):
    """The first result of a mutation sent with an idempotency key, per caller."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("actor_name", "key"),
        Index("ix_idempotency_records_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    # The mutation and a hash of its input: the same key with other input is refused.
    operation: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    # The trail entry the first call wrote: its `after` is the result returned again.
    change_sequence: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

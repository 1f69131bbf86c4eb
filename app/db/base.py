"""Declarative base with a naming convention, so migrations name constraints stably."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import MetaData
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _as_created(context: DefaultExecutionContext) -> datetime:
    # A new record has not changed since it was created: one instant for both.
    created: datetime = context.get_current_parameters()["created_at"]  # type: ignore[no-untyped-call]
    return created


class Timestamped:
    """Creation and change times, and the version optimistic concurrency checks.

    Every update carries the version it read; the write refuses a stale one, so two
    editors never overwrite each other unknowingly.
    """

    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_as_created, onupdate=utcnow)

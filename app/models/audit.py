"""The audit trail: every change to the ledger, append-only and hash-chained.

The domain tables are the current state; the trail is how that state came to be.
Each entry holds the whole record before and after, so any past moment can be
rebuilt from the trail alone (`app/views/`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.sizes import COUNTS_ROWS
from app.db.types import UTCDateTime

# The hash before the first entry.
GENESIS_HASH = "0" * 64


class Change(Base):
    """One entry of the trail. Nothing updates or deletes these rows (triggers refuse)."""

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_entity", "entity_type", "entity_id", "sequence"),
        Index("ix_changes_initiative", "initiative_id", "sequence"),
        # A moment's last entry in one probe (`app/views/repository.sequence_at`).
        Index("ix_changes_occurred_at_sequence", "occurred_at", "sequence"),
    )

    # Gapless, assigned under the chain lock (not a database sequence, which skips on
    # rollback): the last one is the number of entries (what sizes the trail).
    sequence: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, info={COUNTS_ROWS: True}
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_name: Mapped[str] = mapped_column(String(200), index=True)
    actor_role: Mapped[str] = mapped_column(String(32))
    # The table of the record ("transactions"), and its primary key.
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    # The initiative the record belongs to, if any: partners see only their initiatives'.
    initiative_id: Mapped[int | None] = mapped_column(BigInteger)
    # create, update, archive, approve, reject
    operation: Mapped[str] = mapped_column(String(16))
    # Canonical JSON of the whole record (column name -> value); null before a create
    # and after an archive. Stored as text so the hashed bytes are the stored bytes.
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHead(Base):
    """The one row every write locks first: it serialises writers and holds the chain's end."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

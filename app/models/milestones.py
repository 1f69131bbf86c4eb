from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.described import DescribedStrEnum
from app.models._columns import str_enum


class MilestoneStatus(DescribedStrEnum):
    PLANNED = "planned", "Not started."
    IN_PROGRESS = "in_progress", "Work toward it has started."
    ACHIEVED = "achieved", "Reached; its actual date says when."
    MISSED = (
        "missed",
        "Not reached when it was due. It stays open, and its initiative is off track "
        "unless cancelled or completed.",
    )
    CANCELLED = "cancelled", "Dropped: no longer pursued, and not judged."


class Milestone(Timestamped, Base):
    __tablename__ = "milestones"
    __table_args__ = (
        Index("uq_milestones_initiative_id_ref", "initiative_id", "ref", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    # The record's key within its initiative in imported files (app/imports); null for
    # records written otherwise. Unique per initiative when present.
    ref: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    # Null where the source gives no date: a milestone may be known before its date is.
    planned_date: Mapped[date | None] = mapped_column()
    forecast_date: Mapped[date | None] = mapped_column()
    actual_date: Mapped[date | None] = mapped_column()
    status: Mapped[MilestoneStatus] = mapped_column(
        str_enum(MilestoneStatus, "milestone_status"), index=True
    )

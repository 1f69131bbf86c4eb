from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.described import DescribedStrEnum
from app.models._columns import str_enum


class InitiativeStatus(DescribedStrEnum):
    """IATI ActivityStatus, by name."""

    PIPELINE = "pipeline", "Being identified or planned; work has not started."
    IMPLEMENTATION = "implementation", "Under way: the work is being carried out."
    FINALISATION = (
        "finalisation",
        "The work is done or the last payment made; the initiative stays open until its "
        "accounts are settled and its results assessed.",
    )
    CLOSED = "closed", "Finished, with its accounts settled."
    CANCELLED = "cancelled", "Stopped for good before it was completed."
    SUSPENDED = "suspended", "Halted for a time; it may resume."


class ParticipationRole(DescribedStrEnum):
    """IATI OrganisationRole, by name (its codes 1 to 4 in the order below)."""

    FUNDING = "funding", "Provides the money (IATI OrganisationRole 1)."
    ACCOUNTABLE = (
        "accountable",
        "Answers for the initiative: oversees it and is responsible for its outcomes "
        "(IATI OrganisationRole 2).",
    )
    EXTENDING = (
        "extending",
        "Manages the money and direction of the initiative on the funder's behalf "
        "(IATI OrganisationRole 3).",
    )
    IMPLEMENTING = "implementing", "Carries out the work (IATI OrganisationRole 4)."


class Initiative(Timestamped, Base):
    """One activity of a programme (an IATI activity)."""

    __tablename__ = "initiatives"
    # Lists of initiatives in their default order (app/initiatives/listing.py: by
    # position, then id): a first page is read from this index's first entries, where
    # PostgreSQL would otherwise read the whole table and sort it on every request.
    __table_args__ = (Index("ix_initiatives_position_id", "position", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    # Stable identifier: never changes once published.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # The initiative's number within its programme, for display order.
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    focus_area: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[InitiativeStatus] = mapped_column(
        str_enum(InitiativeStatus, "initiative_status"), index=True
    )
    planned_start: Mapped[date | None] = mapped_column()
    actual_start: Mapped[date | None] = mapped_column()
    planned_end: Mapped[date | None] = mapped_column()
    actual_end: Mapped[date | None] = mapped_column()
    # ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision code, e.g. "CN" or "CN-ZJ".
    region: Mapped[str | None] = mapped_column(String(16), index=True)


class Participation(Timestamped, Base):
    """An organisation's role in an initiative (IATI participating-org)."""

    __tablename__ = "participations"
    __table_args__ = (UniqueConstraint("initiative_id", "organization_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[ParticipationRole] = mapped_column(
        str_enum(ParticipationRole, "participation_role")
    )

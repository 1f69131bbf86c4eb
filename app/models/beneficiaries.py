from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import UTCDateTime
from app.described import DescribedStrEnum
from app.models._columns import PERCENTAGE, QUANTITY, str_enum


class FigureQualifier(DescribedStrEnum):
    """How a reported figure relates to the truth, as the source words it."""

    EXACT = "exact", "The figure as stated, without qualification."
    MORE_THAN = "more_than", 'Above the figure ("more than 10,000").'
    AT_LEAST = "at_least", 'The figure or above ("at least 10,000").'
    ABOUT = "about", 'Near the figure, either way ("about 10,000").'
    UP_TO = "up_to", 'The figure or below ("up to 10,000").'


class BeneficiaryGroup(Timestamped, Base):
    __tablename__ = "beneficiary_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class BeneficiaryFigure(Timestamped, Base):
    """An initiative's target and reach for one beneficiary group (an indicator).

    `reached_*` is the approved figure, the only one reports count. An editor's new
    figure waits in `draft_reached_*` until an auditor or admin approves it.
    """

    __tablename__ = "beneficiary_figures"
    __table_args__ = (UniqueConstraint("initiative_id", "group_id", "unit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_groups.id"), index=True)
    # What is counted, e.g. "people employed".
    unit: Mapped[str] = mapped_column(String(100))
    target_value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    target_date: Mapped[date | None] = mapped_column()
    reached_value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    reached_qualifier: Mapped[FigureQualifier] = mapped_column(
        str_enum(FigureQualifier, "figure_qualifier"), default=FigureQualifier.EXACT
    )
    reached_as_of: Mapped[date | None] = mapped_column()
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    draft_reached_value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    draft_reached_qualifier: Mapped[FigureQualifier | None] = mapped_column(
        str_enum(FigureQualifier, "draft_figure_qualifier")
    )
    draft_reached_as_of: Mapped[date | None] = mapped_column()
    draft_submitted_by: Mapped[str | None] = mapped_column(String(200))
    draft_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BeneficiaryShare(Timestamped, Base):
    """The percentage of an initiative's money meant for one beneficiary group.

    Like IATI's sector percentages: an initiative's shares add up to at most 100; what
    is left over is money not assigned to any group. Reports split an initiative's
    figures across its groups by these shares.
    """

    __tablename__ = "beneficiary_shares"
    __table_args__ = (
        UniqueConstraint("initiative_id", "group_id"),
        CheckConstraint("percentage > 0", name="percentage_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("beneficiary_groups.id"), index=True)
    # At most 100, and at most 100 summed per initiative: checked where shares are
    # written (SQLite stores the column scaled, so a CHECK could not state "100").
    percentage: Mapped[Decimal] = mapped_column(PERCENTAGE)

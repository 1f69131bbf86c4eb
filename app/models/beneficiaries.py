from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.models._columns import QUANTITY, str_enum


class FigureQualifier(StrEnum):
    """How a reported figure relates to the truth, as the source words it."""

    EXACT = "exact"
    MORE_THAN = "more_than"
    AT_LEAST = "at_least"
    ABOUT = "about"
    UP_TO = "up_to"


class BeneficiaryGroup(Timestamped, Base):
    __tablename__ = "beneficiary_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class BeneficiaryFigure(Timestamped, Base):
    """An initiative's target and reach for one beneficiary group (an indicator)."""

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

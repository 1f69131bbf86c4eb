from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.models._columns import AMOUNT, in_currency


class Program(Timestamped, Base):
    """The pledge: what was promised, by whom, by when, and who governs it."""

    __tablename__ = "programs"
    __table_args__ = (CheckConstraint("pledged_amount >= 0", name="pledged_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    sponsor_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    pledged_amount: Mapped[Decimal] = mapped_column(AMOUNT, info=in_currency("pledged_currency"))
    pledged_currency: Mapped[str] = mapped_column(String(3))
    announced_on: Mapped[date | None] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date)
    governance_body: Mapped[str | None] = mapped_column(String(300))
    governance_lead: Mapped[str | None] = mapped_column(String(300))

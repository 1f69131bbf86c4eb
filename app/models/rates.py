from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.models._columns import RATE


class ExchangeRate(Timestamped, Base):
    """`1 base = rate quote`, valid from `rate_date` until the next rate of the pair."""

    __tablename__ = "exchange_rates"
    __table_args__ = (
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("base <> quote", name="distinct_pair"),
        Index("ix_exchange_rates_pair_date", "base", "quote", "rate_date", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(RATE)
    rate_date: Mapped[date] = mapped_column(Date)
    # Who published the rate, in words ("stated in the announcement", "ECB reference rate").
    source: Mapped[str] = mapped_column(String(300))
    source_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_documents.id"), index=True
    )

"""Budget lines and transactions: the money of an initiative."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.models._columns import AMOUNT, in_currency, str_enum


class BudgetType(StrEnum):
    ORIGINAL = "original"
    # A revised budget holds the new total for its period, not the difference.
    REVISED = "revised"


class BudgetStatus(StrEnum):
    INDICATIVE = "indicative"
    COMMITTED = "committed"


class TransactionType(StrEnum):
    """IATI TransactionType, by name."""

    INCOMING_FUNDS = "incoming_funds"
    OUTGOING_COMMITMENT = "outgoing_commitment"
    DISBURSEMENT = "disbursement"
    EXPENDITURE = "expenditure"
    INTEREST_PAYMENT = "interest_payment"
    LOAN_REPAYMENT = "loan_repayment"
    REIMBURSEMENT = "reimbursement"
    PURCHASE_OF_EQUITY = "purchase_of_equity"
    SALE_OF_EQUITY = "sale_of_equity"
    CREDIT_GUARANTEE = "credit_guarantee"
    INCOMING_COMMITMENT = "incoming_commitment"
    OUTGOING_PLEDGE = "outgoing_pledge"
    INCOMING_PLEDGE = "incoming_pledge"


class BudgetLine(Timestamped, Base):
    __tablename__ = "budget_lines"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        Index("ix_budget_lines_initiative_period", "initiative_id", "period_start", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    type: Mapped[BudgetType] = mapped_column(str_enum(BudgetType, "budget_type"))
    status: Mapped[BudgetStatus] = mapped_column(str_enum(BudgetStatus, "budget_status"))
    # Functional classification (Fiscal Data Package), free text such as "grants".
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT, info=in_currency("currency"))
    currency: Mapped[str] = mapped_column(String(3))
    # Picks the exchange rate when the amount is converted.
    value_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)


class Transaction(Timestamped, Base):
    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_initiative_date", "initiative_id", "transaction_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id", ondelete="CASCADE"))
    budget_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("budget_lines.id", ondelete="SET NULL"), index=True
    )
    type: Mapped[TransactionType] = mapped_column(
        str_enum(TransactionType, "transaction_type"), index=True
    )
    transaction_date: Mapped[date] = mapped_column(Date)
    # Signed: a reduction is a negative transaction.
    amount: Mapped[Decimal] = mapped_column(AMOUNT, info=in_currency("currency"))
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[date] = mapped_column(Date)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    receiver_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)

"""Budget lines and transactions: the money of an initiative."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.described import DescribedStrEnum
from app.models._columns import AMOUNT, in_currency, str_enum


class BudgetType(DescribedStrEnum):
    ORIGINAL = "original", "The budget first set for the period."
    REVISED = (
        "revised",
        "A revision of the period's original budget: it holds the period's new total, "
        "not the difference, and replaces the original as the current budget.",
    )


class BudgetStatus(DescribedStrEnum):
    INDICATIVE = "indicative", "An estimate: planned, not yet formally approved."
    COMMITTED = "committed", "Formally approved: a binding allocation."


class TransactionType(DescribedStrEnum):
    """IATI TransactionType, by name. A reduction is a negative transaction of its type."""

    INCOMING_FUNDS = (
        "incoming_funds",
        "Money received from another organisation, to be spent on the initiative.",
    )
    OUTGOING_COMMITMENT = (
        "outgoing_commitment",
        "A firm, written obligation to pay a receiver (a signed grant or contract); no "
        "money moves yet.",
    )
    DISBURSEMENT = (
        "disbursement",
        "Money paid out to another organisation, which spends it (e.g. a grant "
        "instalment to an implementing partner).",
    )
    EXPENDITURE = (
        "expenditure",
        "Money spent directly on goods and services for the initiative.",
    )
    INTEREST_PAYMENT = "interest_payment", "Interest paid on a loan or line of credit."
    LOAN_REPAYMENT = "loan_repayment", "Principal repaid on a loan."
    REIMBURSEMENT = (
        "reimbursement",
        "A payment that covers money the receiver has already spent, as agreed.",
    )
    PURCHASE_OF_EQUITY = "purchase_of_equity", "Money paid to acquire shares in a company."
    SALE_OF_EQUITY = "sale_of_equity", "Money received from selling shares in a company."
    CREDIT_GUARANTEE = (
        "credit_guarantee",
        "An undertaking to repay a third party's loan or line of credit should the "
        "borrower fail to.",
    )
    INCOMING_COMMITMENT = (
        "incoming_commitment",
        "A firm, written obligation of another organisation to pay money to the initiative.",
    )
    OUTGOING_PLEDGE = (
        "outgoing_pledge",
        "A stated intention to commit money to a receiver; not yet binding.",
    )
    INCOMING_PLEDGE = (
        "incoming_pledge",
        "Another organisation's stated intention to commit money to the initiative; not "
        "yet binding.",
    )


class BudgetLine(Timestamped, Base):
    __tablename__ = "budget_lines"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        Index("ix_budget_lines_initiative_period", "initiative_id", "period_start", "period_end"),
        Index("uq_budget_lines_initiative_id_ref", "initiative_id", "ref", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id", ondelete="CASCADE"))
    # The record's key within its initiative in imported files (app/imports); null for
    # records written otherwise. Unique per initiative when present.
    ref: Mapped[str | None] = mapped_column(String(64))
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
        Index("uq_transactions_initiative_id_ref", "initiative_id", "ref", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id", ondelete="CASCADE"))
    # The record's key within its initiative in imported files (app/imports); null for
    # records written otherwise. Unique per initiative when present.
    ref: Mapped[str | None] = mapped_column(String(64))
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

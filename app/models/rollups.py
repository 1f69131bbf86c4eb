"""Budget rollups: the budget summary's sums kept per grain, per report currency.

Not ledger data: derived from budget lines, transactions and exchange rates, rewritten
in the transaction of every write that changes them (app/reports/budget/rollups.py
states the rule and keeps them), never audited, never in a view.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.finance import BudgetStatus, TransactionType


def _plain_enum(enum_cls: type[BudgetStatus] | type[TransactionType]) -> SAEnum:
    # The values as the records' columns hold them (VARCHAR), read back as the enum;
    # no CHECK: rows come from the records, which have theirs.
    return SAEnum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class RollupCurrency(Base):
    """A currency the rollups are kept in: reports in it may read them."""

    __tablename__ = "budget_rollup_currencies"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)


class BudgetRollup(Base):
    """The records of one grain, converted into `target` and summed: one initiative,
    kind of record, category, transaction type or budget status and flags, month of
    the record's date, and currency it is published in."""

    __tablename__ = "budget_rollups"
    __table_args__ = (Index("ix_budget_rollups_target_initiative", "target", "initiative_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(
        String(3), ForeignKey("budget_rollup_currencies.currency", ondelete="CASCADE")
    )
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "budget_line" or "transaction"
    category: Mapped[str | None] = mapped_column(String(100))
    transaction_type: Mapped[TransactionType | None] = mapped_column(_plain_enum(TransactionType))
    budget_status: Mapped[BudgetStatus | None] = mapped_column(_plain_enum(BudgetStatus))
    is_original: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    records: Mapped[int] = mapped_column(BigInteger)
    # Each record converted into `target` and rounded to its minor unit, then summed.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # "CUR YYYY-MM-DD" of a record here that no rate converts into `target`, else null.
    missing_rate: Mapped[str | None] = mapped_column(String(16))

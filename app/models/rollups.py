"""Budget rollups: the budget summary's sums kept per grain, per report currency.

Not ledger data: derived from budget lines, transactions and exchange rates, rewritten
in the transaction of every write that changes them (app/reports/budget/rollups.py
states the rule and keeps them), never audited, never in a view.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ColumnElement, ForeignKey, Index, Integer, String, or_, text
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
    # The trail's end when its rollups were built: their history (`BudgetRollupHistory`)
    # holds every moment from this sequence on.
    since_sequence: Mapped[int] = mapped_column(BigInteger, server_default="0")


class _Grain:
    """The columns of one grain's row (its target and initiative are each table's)."""

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


class BudgetRollup(_Grain, Base):
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


class BudgetRollupHistory(_Grain, Base):
    """Every row `budget_rollups` has held since its currency was built, with the trail
    sequences it held it over: from the write that computed it (`from_sequence`, the
    last entry of that write) until the write that recomputed it (`until_sequence`;
    null while it is current). The rows valid at sequence S (from <= S < until) are the
    rollups as of S. No key to the initiative: an archived one's history stays."""

    __tablename__ = "budget_rollup_history"
    __table_args__ = (
        # The rows as of a moment: those closed after it, and the open ones.
        Index("ix_budget_rollup_history_target_until", "target", "until_sequence"),
        # The open rows a write closes, by initiative (as `budget_rollups`' index).
        Index(
            "ix_budget_rollup_history_open",
            "target",
            "initiative_id",
            postgresql_where=text("until_sequence IS NULL"),
            sqlite_where=text("until_sequence IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(
        String(3), ForeignKey("budget_rollup_currencies.currency", ondelete="CASCADE")
    )
    initiative_id: Mapped[int] = mapped_column(BigInteger)
    from_sequence: Mapped[int] = mapped_column(BigInteger)
    until_sequence: Mapped[int | None] = mapped_column(BigInteger)

    @classmethod
    def valid_at(cls, sequence: int) -> list[ColumnElement[bool]]:
        """The rows that were the rollups as of trail entry `sequence` (the one rule)."""
        return [
            cls.from_sequence <= sequence,
            or_(cls.until_sequence.is_(None), cls.until_sequence > sequence),
        ]


class RollupWrite(Base):
    """A write that changed the rollups: its trail entries run from after
    `start_sequence` to `end_sequence`. A moment between the two (a write's flushes can
    be dated apart) is not one the history holds: the records answer it."""

    __tablename__ = "budget_rollup_writes"

    end_sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    start_sequence: Mapped[int] = mapped_column(BigInteger)

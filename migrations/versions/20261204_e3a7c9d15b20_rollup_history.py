"""rollup history: the rollups as of every trail sequence, and the trail by moment

Revision ID: e3a7c9d15b20
Revises: b7e4a19c3d52
Create Date: 2026-12-04 21:05:00

`budget_rollup_history` keeps every row `budget_rollups` has held, with the trail
sequences it held it over, so that an `asOf` report reads the rollups of its moment
(app/reports/budget/rollups.py); `budget_rollup_writes` names the writes that changed
them. A currency kept already starts its history now: its current rows are copied
with the trail's end as their first sequence, which `since_sequence` records (moments
before it are answered from the records, as before). The trail's index on its moment
becomes one on (moment, sequence): a moment's last entry is then one probe
(app/views/repository.py `sequence_at`). Derived tables: no trail entry.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3a7c9d15b20"
down_revision: str | None = "b7e4a19c3d52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GRAIN = (
    "target, initiative_id, kind, category, transaction_type, budget_status, is_original, "
    "is_current, year, month, currency, records, amount_minor, missing_rate"
)


def upgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changes_occurred_at"))
        batch_op.create_index(
            "ix_changes_occurred_at_sequence", ["occurred_at", "sequence"], unique=False
        )
    with op.batch_alter_table("budget_rollup_currencies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("since_sequence", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "budget_rollup_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=3), nullable=False),
        sa.Column("initiative_id", sa.BigInteger(), nullable=False),
        sa.Column("from_sequence", sa.BigInteger(), nullable=False),
        sa.Column("until_sequence", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column(
            "transaction_type",
            sa.Enum(
                "incoming_funds",
                "outgoing_commitment",
                "disbursement",
                "expenditure",
                "interest_payment",
                "loan_repayment",
                "reimbursement",
                "purchase_of_equity",
                "sale_of_equity",
                "credit_guarantee",
                "incoming_commitment",
                "outgoing_pledge",
                "incoming_pledge",
                name="transactiontype",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "budget_status",
            sa.Enum(
                "indicative",
                "committed",
                name="budgetstatus",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("is_original", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("missing_rate", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["target"],
            ["budget_rollup_currencies.currency"],
            name=op.f("fk_budget_rollup_history_target_budget_rollup_currencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_rollup_history")),
    )
    with op.batch_alter_table("budget_rollup_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_budget_rollup_history_target_until", ["target", "until_sequence"], unique=False
        )
        batch_op.create_index(
            "ix_budget_rollup_history_open",
            ["target", "initiative_id"],
            unique=False,
            postgresql_where=sa.text("until_sequence IS NULL"),
            sqlite_where=sa.text("until_sequence IS NULL"),
        )
    op.create_table(
        "budget_rollup_writes",
        sa.Column("end_sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("start_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("end_sequence", name=op.f("pk_budget_rollup_writes")),
    )
    # The currencies kept already: their history starts at the trail's end.
    end = "(SELECT coalesce(max(last_sequence), 0) FROM audit_chain_head)"
    op.execute(f"UPDATE budget_rollup_currencies SET since_sequence = {end}")
    op.execute(
        f"INSERT INTO budget_rollup_history ({_GRAIN}, from_sequence) "
        f"SELECT {_GRAIN}, {end} FROM budget_rollups"
    )


def downgrade() -> None:
    op.drop_table("budget_rollup_writes")
    with op.batch_alter_table("budget_rollup_history", schema=None) as batch_op:
        batch_op.drop_index("ix_budget_rollup_history_open")
        batch_op.drop_index("ix_budget_rollup_history_target_until")
    op.drop_table("budget_rollup_history")
    with op.batch_alter_table("budget_rollup_currencies", schema=None) as batch_op:
        batch_op.drop_column("since_sequence")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index("ix_changes_occurred_at_sequence")
        batch_op.create_index(batch_op.f("ix_changes_occurred_at"), ["occurred_at"], unique=False)

"""budget rollups: the budget summary's sums per grain, per report currency

Revision ID: 4b8e2d1f6c37
Revises: 7a3e5c21d0b4
Create Date: 2026-12-04 06:24:18

Two derived tables (app/models/rollups.py), created empty: no currency is kept until
`pledge-ledger rollups build` names one, and until then every report reads the
records as before. Not ledger data, so no trail entry.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b8e2d1f6c37"
down_revision: str | None = "7a3e5c21d0b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_rollup_currencies",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint("currency", name=op.f("pk_budget_rollup_currencies")),
    )
    op.create_table(
        "budget_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=3), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
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
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "budget_status",
            sa.Enum("indicative", "committed", name="budgetstatus", native_enum=False, length=32),
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
            ["initiative_id"],
            ["initiatives.id"],
            name=op.f("fk_budget_rollups_initiative_id_initiatives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target"],
            ["budget_rollup_currencies.currency"],
            name=op.f("fk_budget_rollups_target_budget_rollup_currencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_rollups")),
    )
    with op.batch_alter_table("budget_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_budget_rollups_target_initiative", ["target", "initiative_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("budget_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_budget_rollups_target_initiative")

    op.drop_table("budget_rollups")
    op.drop_table("budget_rollup_currencies")

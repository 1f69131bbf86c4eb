"""record refs: budget lines, transactions and milestones get an optional key

Revision ID: 7a3e5c21d0b4
Revises: 3d9175aeb81a
Create Date: 2026-12-04 02:40:00

An import (app/imports) finds a record again by its key. Budget lines, transactions
and milestones had none, so each gets `ref` (up to 64 characters, null for records
written otherwise), unique within its initiative when present (a unique index: both
backends let any number of rows hold null). No data changes, so no trail entry.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a3e5c21d0b4"
down_revision: str | None = "3d9175aeb81a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("budget_lines", "transactions", "milestones")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("ref", sa.String(length=64), nullable=True))
        op.create_index(
            f"uq_{table}_initiative_id_ref", table, ["initiative_id", "ref"], unique=True
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"uq_{table}_initiative_id_ref", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("ref")

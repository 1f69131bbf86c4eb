"""initiatives in their default order: an index on (position, id)

Revision ID: 4b8d2e6f1a73
Revises: e3a7c9d15b20
Create Date: 2026-12-05 05:40:00

A list of initiatives in its default order (by position, then id: a dashboard's first
page) read the whole table and sorted it on every request; with this index its first
page is the index's first entries. The table is small and seldom written.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4b8d2e6f1a73"
down_revision: str | None = "e3a7c9d15b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("initiatives", schema=None) as batch_op:
        batch_op.create_index("ix_initiatives_position_id", ["position", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("initiatives", schema=None) as batch_op:
        batch_op.drop_index("ix_initiatives_position_id")

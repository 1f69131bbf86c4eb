"""webhooks: ordering per endpoint or per initiative; held deliveries

An endpoint's `ordering` ("endpoint", as before, or "initiative"), and the deliveries
its position has passed that are still to be made (app/webhooks/lanes.py): a failing
event and those of its initiative behind it, or a dead letter an admin replayed.
A new column with a default and a new table only.

Revision ID: 5d2f8a3c9e14
Revises: 9c1e4b7d2a60
Create Date: 2026-12-04 12:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "5d2f8a3c9e14"
down_revision: str | None = "9c1e4b7d2a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ordering", sa.String(length=16), server_default="endpoint", nullable=False)
        )
        batch_op.create_check_constraint("ordering_known", "ordering IN ('endpoint', 'initiative')")
    op.create_table(
        "webhook_held",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("lane", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("cursor_before", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_held_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_held")),
    )
    with op.batch_alter_table("webhook_held", schema=None) as batch_op:
        batch_op.create_index(
            "ux_webhook_held_endpoint_lane_sequence",
            ["endpoint_id", "lane", "sequence"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_held", schema=None) as batch_op:
        batch_op.drop_index("ux_webhook_held_endpoint_lane_sequence")
    op.drop_table("webhook_held")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_webhook_endpoints_ordering_known"), type_="check")
        batch_op.drop_column("ordering")

"""webhooks: a random key per endpoint for its webhook-ids

An event's `webhook-id` is a digest of its trail sequence under this key
(app/webhooks/worker.py's message_id): the same on every attempt, retry, held retry,
dead letter and replay, unique when a partner's stream is renumbered, and telling the
partner nothing of the trail. Existing endpoints get a key each.

Revision ID: b7e4a19c3d52
Revises: 5d2f8a3c9e14
Create Date: 2026-12-04 15:45:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e4a19c3d52"
down_revision: str | None = "5d2f8a3c9e14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_key", sa.String(length=64), nullable=True))
    endpoints = sa.table(
        "webhook_endpoints", sa.column("id", sa.Integer), sa.column("message_key", sa.String)
    )
    connection = op.get_bind()
    for (endpoint_id,) in connection.execute(sa.select(endpoints.c.id)).all():
        connection.execute(
            endpoints.update()
            .where(endpoints.c.id == endpoint_id)
            .values(message_key=secrets.token_hex(16))
        )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("message_key", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("message_key")

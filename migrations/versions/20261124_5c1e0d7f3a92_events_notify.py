"""events notify: PostgreSQL announces each commit that grows the audit trail

Revision ID: 5c1e0d7f3a92
Revises: faad67428b5b
Create Date: 2026-11-24 21:00:00

Every writer moves the chain head row past its entries, in its transaction, so a
trigger on that row is the one place that sees every commit, whoever writes: the
service, `generate`, `audit baseline`. NOTIFY is transactional: listeners hear of it
when the transaction commits, never when it rolls back. The payload is the new last
sequence only (ids, never rows: NOTIFY payloads must stay under 8000 bytes). SQLite
has no such mechanism; there the service's own processes tell each other.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c1e0d7f3a92"
down_revision: str | None = "faad67428b5b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported) so the migration means the same whatever the code becomes.
CHANNEL = "pledge_ledger_changes"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION audit_chain_head_notify() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"PERFORM pg_notify('{CHANNEL}', NEW.last_sequence::text); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_head_notify AFTER UPDATE ON audit_chain_head "
        "FOR EACH ROW WHEN (NEW.last_sequence IS DISTINCT FROM OLD.last_sequence) "
        "EXECUTE FUNCTION audit_chain_head_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_chain_head_notify ON audit_chain_head")
    op.execute("DROP FUNCTION IF EXISTS audit_chain_head_notify()")

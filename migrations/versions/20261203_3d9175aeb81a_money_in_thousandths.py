"""money in thousandths: amounts keep a dinar's fils (KWD 12.345)

Revision ID: 3d9175aeb81a
Revises: 5c1e0d7f3a92
Create Date: 2026-12-03 15:10:00

The money columns go from NUMERIC(18, 2) to NUMERIC(18, 3), so that currencies with
three minor-unit digits (KWD, BHD, JOD, OMR, ...) can be written as they are published.
Precision stays 18 digits: 15 before the decimal point, up to 999,999,999,999,999.999.

Values do not change; only how they are stored does:
- PostgreSQL: ALTER COLUMN ... TYPE NUMERIC(18, 3) (12.50 is then 12.500).
- SQLite: ExactDecimal stores an integer count of 10**-scale units and its column stays
  BIGINT whatever the scale (autogenerate cannot see this change), so every stored
  integer is multiplied by 10: 1250 hundredths become 12500 thousandths.

Both refuse to start (and change nothing) when a stored amount has 16 integer digits
or more (it would not fit NUMERIC(18, 3) nor, times 10, SQLite's 64-bit integers), or,
on SQLite, when an amount is not stored as an integer (written around the service).

No trail entry is written: no record's value changes. The trail's states need nothing
either: money in a state is spelled with two decimals, three only where the third is
not zero (app/audit/records.py), so states of amounts in cents read as before, and the
readers of states take two decimals or three.

Downgrade never rounds: it REFUSES, and changes nothing, when any amount has a non-zero
third decimal, in the tables or in a state the audit trail recorded (its entries cannot
be rewritten, and a past moment holding 12.345 could not be rebuilt in NUMERIC(18, 2)).
Otherwise it divides SQLite's integers by 10, or alters PostgreSQL's columns back to
NUMERIC(18, 2).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.migrate import MigrationRefused

revision: str = "3d9175aeb81a"
down_revision: str | None = "5c1e0d7f3a92"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported) so the migration means the same whatever the code becomes:
# every column typed AMOUNT, as (table, column).
MONEY_COLUMNS = (
    ("budget_lines", "amount"),
    ("transactions", "amount"),
    ("programs", "pledged_amount"),
)
PRECISION = 18
# Amounts from this many units up do not fit 15 integer digits.
TOO_LARGE = 10**15


def _refuse_if(sql: str, problem: str) -> None:
    found = op.get_bind().execute(sa.text(sql)).first()
    if found is not None:
        raise MigrationRefused(f"{problem}: {tuple(found)}; nothing was changed")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Scale 2 as stored: SQLite's hundredths, PostgreSQL's NUMERIC.
    limit = TOO_LARGE * 100 if sqlite else TOO_LARGE
    for table, column in MONEY_COLUMNS:
        if sqlite:
            _refuse_if(
                f"SELECT id, {column}, typeof({column}) FROM {table} "
                f"WHERE typeof({column}) <> 'integer' LIMIT 1",
                f"{table}.{column} holds a value that is not a stored amount (id, value, type)",
            )
        _refuse_if(
            f"SELECT id, {column} FROM {table} WHERE abs({column}) >= {limit} LIMIT 1",
            f"{table}.{column} holds an amount of 16 integer digits or more, which "
            f"NUMERIC({PRECISION}, 3) cannot hold (id, stored value)",
        )
    _rescale(2, 3)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in MONEY_COLUMNS:
        finer = f"{column} % 10 <> 0" if sqlite else f"{column} <> round({column}, 2)"
        _refuse_if(
            f"SELECT id, {column} FROM {table} WHERE {finer} LIMIT 1",
            f"{table}.{column} holds an amount with a third decimal, which NUMERIC("
            f"{PRECISION}, 2) cannot hold and a downgrade will not round (id, stored value)",
        )
        for state in ("before", "after"):
            if sqlite:
                value = f"json_extract({state}, '$.{column}')"
                # Any third decimal, "12.500" too: the earlier revision reads a state
                # by dropping its point, so three places would read ten times too large.
                finer = f"{value} GLOB '*.[0-9][0-9][0-9]'"
            else:
                value = f"({state}::jsonb ->> '{column}')"
                finer = f"{value} ~ '\\.[0-9]{{3}}$'"
            _refuse_if(
                f"SELECT sequence, {value} FROM changes "
                f"WHERE entity_type = '{table}' AND {finer} LIMIT 1",
                f"the audit trail recorded {table}.{column} with a third decimal: its "
                "entries cannot be rewritten, and the earlier revision could not rebuild "
                "that moment (sequence, amount)",
            )
    _rescale(3, 2)


def _rescale(old: int, new: int) -> None:
    """Every money column from `old` decimals to `new`: SQLite's stored integers are
    multiplied or divided by ten, PostgreSQL's NUMERIC columns altered."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in MONEY_COLUMNS:
        if sqlite:
            by = "* 10" if new > old else "/ 10"
            op.execute(f"UPDATE {table} SET {column} = {column} {by}")
        else:
            op.alter_column(
                table,
                column,
                type_=sa.Numeric(PRECISION, new),
                existing_type=sa.Numeric(PRECISION, old),
                existing_nullable=False,
            )

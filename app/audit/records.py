"""A record's state as canonical JSON, and back.

The trail stores whole records, column by column, in a form that reads the same on
every backend: decimals as exact strings at their column's scale (money at two
decimals, three only where needed: `MONEY_STATE_PLACES`), dates and times in ISO 8601
(times in UTC), enums by value. `decode_state` turns such a state back into the values
the ORM columns take, which is how past moments are rebuilt; readers of states take a
decimal with fewer places than its column's scale. `with_amounts_shown` shows money as
the API does, to the currency's minor unit.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Column, Date, Table
from sqlalchemy import Enum as SAEnum

from app.db.base import Timestamped
from app.db.types import ExactDecimal, UTCDateTime
from app.models import audited_tables as audited_tables  # the tables the trail records
from app.models._columns import CURRENCY_COLUMN
from app.money.currencies import shown

State = dict[str, Any]


@dataclass(frozen=True)
class Actor:
    """Who made a change: an API key's name or a token's subject, and the role used."""

    name: str
    role: str


# Loading the demo and generating data are changes too; they are made by the system.
SYSTEM_ROLE = "system"


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def is_audited(obj: object) -> bool:
    return isinstance(obj, Timestamped)


# Money in a state: two decimals, three only where the third is not zero ("12.50",
# "12.345"). Money had two decimals before revision 3d9175aeb81a, and its states were
# spelled so; keeping that spelling keeps every state of an amount in cents the same,
# before and after, and one the earlier revision still reads after a downgrade.
MONEY_STATE_PLACES = Decimal("0.01")


def encode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    column_type = column.type
    if isinstance(column_type, ExactDecimal):
        stored = column_type.check(value)
        if CURRENCY_COLUMN in column.info:
            in_cents = stored.quantize(MONEY_STATE_PLACES)
            if in_cents == stored:
                return format(in_cents, "f")
        return format(stored, "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _decode(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, ExactDecimal):
        return Decimal(value)
    if isinstance(column_type, UTCDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column_type, SAEnum) and column_type.enum_class is not None:
        return column_type.enum_class(value)
    if isinstance(column_type, Date):
        return date.fromisoformat(value)
    if isinstance(column_type, Boolean):
        return bool(value)
    return value


def state_of(obj: Any) -> State:
    """The record's current attribute values, every column, encoded."""
    table: Table = obj.__table__
    return {column.key: encode(column, getattr(obj, column.key)) for column in table.columns}


def state_from_row(table: Table, row: Any) -> State:
    """Like `state_of`, for a Core row with the table's columns (bulk loads)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {column.key: encode(column, mapping[column.key]) for column in table.columns}


@cache
def money_columns(table: Table) -> dict[str, str]:
    """The money columns of `table`, each with the column that holds its currency."""
    return {
        column.key: column.info[CURRENCY_COLUMN]
        for column in table.columns
        if CURRENCY_COLUMN in column.info
    }


def with_amounts_shown(table: str, state: State | None) -> State | None:
    """A stored state with its money amounts as the API shows money (`shown`: to the
    currency's minor unit): "100.00" yen as 100, "12.34" KWD as 12.340."""
    model = audited_tables().get(table)
    if state is None or model is None:
        return state
    shown_state = dict(state)
    for amount, currency in money_columns(model.__table__).items():
        value, code = state.get(amount), state.get(currency)
        if isinstance(value, str) and isinstance(code, str):
            # A value that is no number (written around the service) is shown as is.
            with suppress(ArithmeticError):
                shown_state[amount] = format(shown(Decimal(value), code), "f")
    return shown_state


def decode_state(table: Table, state: State) -> dict[str, Any]:
    """Column values for an INSERT into `table`, from an encoded state.

    Columns the state lacks (added to the table after the entry was written) take
    their server default, or null.
    """
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.key in state:
            values[column.key] = _decode(column.type, state[column.key])
        elif column.server_default is None:
            values[column.key] = None
    return values


def initiative_of(obj: Any) -> int | None:
    """The initiative a record belongs to, if any (partners see only their own)."""
    if getattr(obj, "__tablename__", None) == "initiatives":
        return int(obj.id)
    value = getattr(obj, "initiative_id", None)
    if value is not None:
        return int(value)
    if getattr(obj, "__tablename__", None) == "citations":
        subject = getattr(obj, "subject_type", None)
        if subject is not None and getattr(subject, "value", subject) == "initiative":
            return int(obj.subject_id)
    return None

"""Small helpers shared by the model modules."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum as SAEnum

from app.db.types import ExactDecimal

# Money: 18 digits with 3 decimals, so that currencies with three minor-unit digits
# (KWD 12.345) are held as published; up to 999,999,999,999,999.999 (15 integer digits:
# CNY 100 bn ten thousand times over), and within SQLite's 64-bit integer store
# (thousandths up to 10**18 - 1). Changing the scale needs a hand-written migration
# (see ExactDecimal and migrations/versions/20261203_3d9175aeb81a_money_in_thousandths.py).
AMOUNT = ExactDecimal(18, 3)
# Column.info key of a money column: the column holding its ISO 4217 currency, by which
# its amounts are shown (app/money/currencies.py `shown`).
CURRENCY_COLUMN = "currency_column"


def in_currency(column: str) -> dict[str, str]:
    """The `info` of a money column whose currency is in `column`."""
    return {CURRENCY_COLUMN: column}


# Exchange rates: 10 decimals resolve 1/6.4516 well beyond a cent on 100 bn; up to 1e8.
RATE = ExactDecimal(18, 10)
# Beneficiary figures: counts and percentages, exact.
QUANTITY = ExactDecimal(18, 4)
# Shares of a whole, 0 to 100 with four decimals (33.3333).
PERCENTAGE = ExactDecimal(7, 4)


def str_enum(enum_cls: type[StrEnum], name: str) -> SAEnum:
    """A portable enum column: VARCHAR plus a CHECK constraint, values in lowercase."""
    return SAEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )

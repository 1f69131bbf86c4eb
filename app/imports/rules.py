"""Checks the importer still makes itself: the shares' sum over a whole file. Every
other record uses its domain's rules (the programme's app/programs/rules.py,
organisations' app/organizations/rules.py, groups' and share percentages'
app/beneficiaries/groups.py, citations' app/evidence/rules.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.writes.errors import Problems

HUNDRED = Decimal(100)


def shares_within_whole(problems: Problems, total: Decimal) -> None:
    """An initiative's shares add up to at most 100 (the rest is unassigned)."""
    if total > HUNDRED:
        problems.add(
            "percentage",
            f"the initiative's shares would add up to {total}; together they are at most 100",
        )


def values_of(record: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in names)

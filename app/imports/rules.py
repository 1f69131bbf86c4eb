"""Checks the importer still makes itself: the shares' sum over a whole file and a
citation's text. Every other record uses its domain's rules (the programme's
app/programs/rules.py, organisations' app/organizations/rules.py, groups' and share
percentages' app/beneficiaries/groups.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app import models as m
from app.kit.text import Kind
from app.writes import checks
from app.writes.errors import Problems

MAX_FIELD = 64
HUNDRED = Decimal(100)


def shares_within_whole(problems: Problems, total: Decimal) -> None:
    """An initiative's shares add up to at most 100 (the rest is unassigned)."""
    if total > HUNDRED:
        problems.add(
            "percentage",
            f"the initiative's shares would add up to {total}; together they are at most 100",
        )


def check_citation(problems: Problems, citation: m.Citation) -> None:
    citation.quote = checks.text(problems, citation.quote, "quote", required=True) or ""
    citation.field = checks.text(
        problems, citation.field, "field", limit=MAX_FIELD, kind=Kind.IDENTIFIER
    )
    citation.translation = checks.text(problems, citation.translation, "translation")
    citation.note = checks.text(problems, citation.note, "note")


def values_of(record: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in names)

"""Checks the importer still makes itself: a programme's (checked in the file's order,
before its sponsor and budgets are written, where app/programs/rules.py checks a
written programme against the database), the shares' sum over a whole file, and a
citation's text. Organisations, groups and share percentages use their domains'
rules (app/organizations/rules.py, app/beneficiaries/groups.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.kit.text import Kind
from app.writes import checks
from app.writes.errors import Problems

MAX_NAME = 200
MAX_FIELD = 64
HUNDRED = Decimal(100)


def _key(problems: Problems, value: str, field: str) -> str:
    found = checks.text(problems, value, field, limit=64, required=True, kind=Kind.IDENTIFIER)
    if found and any(c.isspace() for c in found):
        problems.add(field, "a key has no spaces (it appears in links and files)")
    return found or ""


async def validate_program(_session: AsyncSession, problems: Problems, program: m.Program) -> None:
    program.ref = _key(problems, program.ref, "ref")
    program.name = (
        checks.text(
            problems, program.name, "name", limit=checks.MAX_TITLE, required=True, kind=Kind.NAME
        )
        or ""
    )
    program.summary = checks.text(problems, program.summary, "summary")
    program.pledged_amount, program.pledged_currency = checks.money(
        problems,
        program.pledged_amount,
        program.pledged_currency,
        "pledged_amount",
        non_negative=True,
    )
    checks.ordered(
        problems, program.announced_on, program.deadline, "deadline", after="announcedOn"
    )
    for name in ("governance_body", "governance_lead"):
        value = checks.text(problems, getattr(program, name), name, limit=300, kind=Kind.NAME)
        setattr(program, name, value)


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

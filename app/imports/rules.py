"""Checks of the kinds of record that have no rules module of their own yet
(organisations, programmes, beneficiary groups, shares, citations), made of the
checks every write shares (app/writes/checks.py). When a domain gains its rules, the
importer should call those instead (each function here names its kind)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.kit.text import Kind
from app.models._columns import PERCENTAGE
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


async def validate_organization(
    _session: AsyncSession, problems: Problems, org: m.Organization
) -> None:
    org.ref = _key(problems, org.ref, "ref")
    org.name = (
        checks.text(problems, org.name, "name", limit=MAX_NAME, required=True, kind=Kind.NAME) or ""
    )
    org.headquarters = checks.text(
        problems, org.headquarters, "headquarters", limit=MAX_NAME, kind=Kind.NAME
    )
    org.description = checks.text(problems, org.description, "description")


async def validate_group(
    _session: AsyncSession, problems: Problems, group: m.BeneficiaryGroup
) -> None:
    group.code = _key(problems, group.code, "code")
    group.name = (
        checks.text(problems, group.name, "name", limit=MAX_NAME, required=True, kind=Kind.NAME)
        or ""
    )
    group.description = checks.text(problems, group.description, "description")


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


def share_percentage(problems: Problems, value: Decimal) -> Decimal:
    """Above 0, at most 100, in the column's four decimals."""
    try:
        value = PERCENTAGE.check(value)
    except ValueError:
        problems.add("percentage", f"{value} is not a percentage with at most 4 decimals")
        return value
    if not 0 < value <= HUNDRED:
        problems.add("percentage", "must be above 0 and at most 100")
    return value


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

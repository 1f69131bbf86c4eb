"""The rules of organisations: sponsors, funders, partners.

An organisation has a unique reference (IATI organisation identifiers serve well), a
name and a kind. One still named by the ledger stays: archiving an organisation that
sponsors a programme, takes part in an initiative, or gave or received money would
leave those records pointing at nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorCode
from app.kit.text import Kind
from app.models import Organization, Participation, Program, Transaction
from app.writes import checks
from app.writes.errors import Problems

MAX_REF = 64
MAX_NAME = 200
MAX_HEADQUARTERS = 200


async def validate_organization(
    session: AsyncSession, problems: Problems, organization: Organization
) -> None:
    organization.ref = (
        checks.text(
            problems, organization.ref, "ref", limit=MAX_REF, required=True, kind=Kind.IDENTIFIER
        )
        or ""
    )
    organization.name = (
        checks.text(
            problems, organization.name, "name", limit=MAX_NAME, required=True, kind=Kind.NAME
        )
        or ""
    )
    organization.headquarters = checks.text(
        problems, organization.headquarters, "headquarters", limit=MAX_HEADQUARTERS, kind=Kind.NAME
    )
    organization.description = checks.text(problems, organization.description, "description")
    if organization.ref and await checks.exists_where(
        session, Organization.ref == organization.ref, Organization.id != (organization.id or -1)
    ):
        problems.add(
            "ref",
            f"another organisation has the ref {organization.ref!r}",
            ErrorCode.ALREADY_EXISTS,
        )


# What names an organisation, as the conflict message counts it.
USES: tuple[tuple[type[Any], tuple[str, ...], str], ...] = (
    (Program, ("sponsor_id",), "programme(s) it sponsors"),
    (Participation, ("organization_id",), "participation(s)"),
    (Transaction, ("provider_id", "receiver_id"), "transaction(s) it provided or received"),
)


async def guard_organization_archive(
    session: AsyncSession, problems: Problems, organization: Organization
) -> None:
    found = []
    for model, columns, label in USES:
        named = or_(*(getattr(model, column) == organization.id for column in columns))
        count = await session.scalar(select(func.count()).select_from(model).where(named))
        if count:
            found.append(f"{count} {label}")
    if found:
        problems.add(
            "id",
            f"the organisation is still named by {', '.join(found)}; archive or change them first",
            ErrorCode.CONFLICT,
        )

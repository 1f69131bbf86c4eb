"""Plain factory functions: each adds one record with sensible defaults and flushes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.auth.keys import create_key
from app.auth.roles import Role

_seq = itertools.count(1)


async def _add(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row


async def organization(session: AsyncSession, **kw: Any) -> m.Organization:
    n = next(_seq)
    defaults: dict[str, Any] = {
        "ref": f"org-{n}",
        "name": f"Organization {n}",
        "kind": m.OrganizationKind.COMPANY,
    }
    return await _add(session, m.Organization(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def program(session: AsyncSession, **kw: Any) -> m.Program:
    n = next(_seq)
    if "sponsor_id" not in kw:
        kw["sponsor_id"] = (await organization(session)).id
    defaults: dict[str, Any] = {
        "ref": f"program-{n}",
        "name": f"Program {n}",
        "pledged_amount": Decimal("1000000.00"),
        "pledged_currency": "CNY",
        "announced_on": date(2021, 9, 3),
        "deadline": date(2025, 12, 31),
    }
    return await _add(session, m.Program(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def initiative(session: AsyncSession, program: m.Program, **kw: Any) -> m.Initiative:
    n = next(_seq)
    defaults: dict[str, Any] = {
        "program_id": program.id,
        "code": f"IN-{n:04d}",
        "position": n,
        "title": f"Initiative {n}",
        "status": m.InitiativeStatus.IMPLEMENTATION,
        "region": "CN",
    }
    return await _add(session, m.Initiative(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def budget_line(session: AsyncSession, initiative: m.Initiative, **kw: Any) -> m.BudgetLine:
    defaults: dict[str, Any] = {
        "initiative_id": initiative.id,
        "period_start": date(2022, 1, 1),
        "period_end": date(2022, 12, 31),
        "type": m.BudgetType.ORIGINAL,
        "status": m.BudgetStatus.COMMITTED,
        "amount": Decimal("100.00"),
        "currency": "CNY",
        "value_date": date(2022, 1, 1),
    }
    return await _add(session, m.BudgetLine(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def transaction(session: AsyncSession, initiative: m.Initiative, **kw: Any) -> m.Transaction:
    defaults: dict[str, Any] = {
        "initiative_id": initiative.id,
        "type": m.TransactionType.DISBURSEMENT,
        "transaction_date": date(2022, 3, 1),
        "amount": Decimal("10.00"),
        "currency": "CNY",
        "value_date": date(2022, 3, 1),
    }
    return await _add(session, m.Transaction(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def milestone(session: AsyncSession, initiative: m.Initiative, **kw: Any) -> m.Milestone:
    n = next(_seq)
    defaults: dict[str, Any] = {
        "initiative_id": initiative.id,
        "title": f"Milestone {n}",
        "planned_date": date(2023, 6, 30),
        "status": m.MilestoneStatus.PLANNED,
    }
    return await _add(session, m.Milestone(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def beneficiary_group(session: AsyncSession, **kw: Any) -> m.BeneficiaryGroup:
    n = next(_seq)
    defaults: dict[str, Any] = {"code": f"group-{n}", "name": f"Group {n}"}
    return await _add(session, m.BeneficiaryGroup(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def beneficiary_figure(
    session: AsyncSession, initiative: m.Initiative, group: m.BeneficiaryGroup, **kw: Any
) -> m.BeneficiaryFigure:
    defaults: dict[str, Any] = {
        "initiative_id": initiative.id,
        "group_id": group.id,
        "unit": "people",
        "reached_qualifier": m.FigureQualifier.EXACT,
    }
    return await _add(session, m.BeneficiaryFigure(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def exchange_rate(session: AsyncSession, **kw: Any) -> m.ExchangeRate:
    defaults: dict[str, Any] = {
        "base": "CNY",
        "quote": "USD",
        "rate": Decimal("0.155"),
        "rate_date": date(2021, 1, 1),
        "source": "test rate",
    }
    return await _add(session, m.ExchangeRate(**{**defaults, **kw}))  # type: ignore[no-any-return]


async def beneficiary_share(
    session: AsyncSession, initiative: m.Initiative, group: m.BeneficiaryGroup, percentage: str
) -> m.BeneficiaryShare:
    row = m.BeneficiaryShare(
        initiative_id=initiative.id, group_id=group.id, percentage=Decimal(percentage)
    )
    return await _add(session, row)  # type: ignore[no-any-return]


async def api_key(
    session: AsyncSession,
    role: str | Role,
    *,
    initiatives: Sequence[str] = (),
    name: str | None = None,
) -> str:
    """Add an API key (flushed, not committed); return its secret for `Authorization`."""
    _key, secret = await create_key(
        session,
        name=name or f"{role}-key-{next(_seq)}",
        role=role,
        initiative_codes=initiatives,
        created_by="test-setup",
    )
    return secret

"""Reading programmes."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BudgetLine, Initiative, Program, Transaction


async def first(session: AsyncSession) -> Program | None:
    """The programme with the lowest id (the demo has one); None when there is none."""
    return await session.scalar(select(Program).order_by(Program.id).limit(1))


async def amount_dates(session: AsyncSession, program_id: int) -> list[tuple[str, date]]:
    """Each (currency, value date) of the programme's budget lines and transactions,
    once: what converting all its money into another currency needs rates for."""
    of_program = select(Initiative.id).where(Initiative.program_id == program_id)
    pairs = union(
        select(BudgetLine.currency, BudgetLine.value_date).where(
            BudgetLine.initiative_id.in_(of_program)
        ),
        select(Transaction.currency, Transaction.value_date).where(
            Transaction.initiative_id.in_(of_program)
        ),
    )
    return [(code, on) for code, on in (await session.execute(pairs)).all()]

"""The statements of the IATI export: a programme's records, read whole.

The export reads through the sessions it is given, so on a view (asOf, a partner's
scope) it sees what the view holds and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BeneficiaryShare,
    BudgetLine,
    Citation,
    ExchangeRate,
    Initiative,
    Milestone,
    Organization,
    Participation,
    Program,
    SourceDocument,
    SubjectType,
    Transaction,
)


@dataclass
class Cited:
    """A source document cited by one record."""

    subject_type: SubjectType
    subject_id: int
    document: SourceDocument


async def programs(session: AsyncSession, ref: str | None) -> list[Program]:
    """The programme `ref`, or every programme (by id); a partner's view holds only
    programmes with an initiative it sees."""
    query = select(Program).order_by(Program.id)
    if ref is not None:
        query = query.where(Program.ref == ref)
    return list(await session.scalars(query))


async def initiatives(session: AsyncSession, program_ids: Sequence[int]) -> list[Initiative]:
    query = (
        select(Initiative)
        .where(Initiative.program_id.in_(program_ids))
        .order_by(Initiative.program_id, Initiative.position, Initiative.id)
    )
    return list(await session.scalars(query))


async def record_count(session: AsyncSession, initiative_ids: Sequence[int]) -> int:
    """Budget lines and transactions of the initiatives: the bulk of a file."""
    lines = select(func.count()).where(BudgetLine.initiative_id.in_(initiative_ids))
    moves = select(func.count()).where(Transaction.initiative_id.in_(initiative_ids))
    return int(await session.scalar(lines) or 0) + int(await session.scalar(moves) or 0)


async def organizations(session: AsyncSession) -> dict[int, Organization]:
    """Every organisation (a shared list, small next to the money records)."""
    return {o.id: o for o in await session.scalars(select(Organization))}


async def participations(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> list[Participation]:
    query = (
        select(Participation)
        .where(Participation.initiative_id.in_(initiative_ids))
        .order_by(Participation.initiative_id, Participation.role, Participation.id)
    )
    return list(await session.scalars(query))


async def budget_lines(session: AsyncSession, initiative_ids: Sequence[int]) -> list[BudgetLine]:
    query = (
        select(BudgetLine)
        .where(BudgetLine.initiative_id.in_(initiative_ids))
        .order_by(BudgetLine.initiative_id, BudgetLine.period_start, BudgetLine.type, BudgetLine.id)
    )
    return list(await session.scalars(query))


async def transactions(session: AsyncSession, initiative_ids: Sequence[int]) -> list[Transaction]:
    query = (
        select(Transaction)
        .where(Transaction.initiative_id.in_(initiative_ids))
        .order_by(Transaction.initiative_id, Transaction.transaction_date, Transaction.id)
    )
    return list(await session.scalars(query))


async def beneficiary_figures(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> list[tuple[BeneficiaryFigure, BeneficiaryGroup]]:
    query = (
        select(BeneficiaryFigure, BeneficiaryGroup)
        .join(BeneficiaryGroup, BeneficiaryGroup.id == BeneficiaryFigure.group_id)
        .where(BeneficiaryFigure.initiative_id.in_(initiative_ids))
        .order_by(BeneficiaryFigure.initiative_id, BeneficiaryFigure.id)
    )
    return [(figure, group) for figure, group in (await session.execute(query)).all()]


# The records whose citations become an activity's document links.
LINKED_SUBJECTS = (
    SubjectType.PROGRAM,
    SubjectType.INITIATIVE,
    SubjectType.BUDGET_LINE,
    SubjectType.TRANSACTION,
    SubjectType.BENEFICIARY_FIGURE,
)


async def cited_documents(session: AsyncSession) -> list[Cited]:
    """Each (record, document) pair a citation makes, once; the caller keeps those of
    the records it exports (a view holds only the citations its records have)."""
    query = (
        select(Citation.subject_type, Citation.subject_id, SourceDocument)
        .join(SourceDocument, SourceDocument.id == Citation.source_document_id)
        .where(Citation.subject_type.in_(LINKED_SUBJECTS))
        .distinct()
        .order_by(Citation.subject_type, Citation.subject_id, SourceDocument.id)
    )
    return [
        Cited(kind, subject, doc) for kind, subject, doc in (await session.execute(query)).all()
    ]


async def exchange_rates(session: AsyncSession) -> list[ExchangeRate]:
    """Every rate (reports convert at any of them, as a backup carries them all)."""
    query = select(ExchangeRate).order_by(
        ExchangeRate.base, ExchangeRate.quote, ExchangeRate.rate_date, ExchangeRate.id
    )
    return list(await session.scalars(query))


async def sources(session: AsyncSession, ids: Sequence[int]) -> list[SourceDocument]:
    query = select(SourceDocument).where(SourceDocument.id.in_(ids)).order_by(SourceDocument.id)
    return list(await session.scalars(query))


async def milestones(session: AsyncSession, initiative_ids: Sequence[int]) -> list[Milestone]:
    query = (
        select(Milestone)
        .where(Milestone.initiative_id.in_(initiative_ids))
        .order_by(Milestone.initiative_id, Milestone.id)
    )
    return list(await session.scalars(query))


async def shares(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> list[tuple[BeneficiaryShare, BeneficiaryGroup]]:
    query = (
        select(BeneficiaryShare, BeneficiaryGroup)
        .join(BeneficiaryGroup, BeneficiaryGroup.id == BeneficiaryShare.group_id)
        .where(BeneficiaryShare.initiative_id.in_(initiative_ids))
        .order_by(BeneficiaryShare.initiative_id, BeneficiaryShare.id)
    )
    return [(share, group) for share, group in (await session.execute(query)).all()]


async def citations_of(
    session: AsyncSession, program_ids: Sequence[int], initiative_ids: Sequence[int]
) -> int:
    """How many citations (quoted words) back the programmes' records and those under
    their initiatives: the export carries their documents, never their words."""
    total = await session.scalar(
        select(func.count())
        .select_from(Citation)
        .where(Citation.subject_type == SubjectType.PROGRAM, Citation.subject_id.in_(program_ids))
    )
    found = int(total or 0)
    kinds: tuple[tuple[SubjectType, type[Any]], ...] = (
        (SubjectType.INITIATIVE, Initiative),
        (SubjectType.BUDGET_LINE, BudgetLine),
        (SubjectType.TRANSACTION, Transaction),
        (SubjectType.MILESTONE, Milestone),
        (SubjectType.BENEFICIARY_FIGURE, BeneficiaryFigure),
    )
    for kind, model in kinds:
        under = Initiative.id if model is Initiative else model.initiative_id
        query = (
            select(func.count())
            .select_from(Citation)
            .join(model, model.id == Citation.subject_id)
            .where(Citation.subject_type == kind, under.in_(initiative_ids))
        )
        found += int(await session.scalar(query) or 0)
    return found

"""Programmes to export: one that uses everything the export writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from app import models as m
from tests import factories as f
from tests.conftest import Database


@dataclass
class Pledge:
    program_ref: str
    codes: list[str]


async def full_pledge(db: Database) -> Pledge:
    """A programme of two initiatives: a 2021-2025 envelope budget with a revision of
    one year, a transaction of every type the ledger holds, a partner organisation, an
    approved "more than" reach and a draft one waiting, a cited source with a URL."""
    async with db.sessions() as session, session.begin():
        sponsor = await f.organization(session, ref="sponsor-org", name="Sponsor")
        partner = await f.organization(
            session, ref="partner-ngo", name="Partner NGO", kind=m.OrganizationKind.NGO
        )
        program = await f.program(session, ref="pledge-1", sponsor_id=sponsor.id)
        jobs = await f.initiative(
            session,
            program,
            code="JOBS",
            focus_area="high-quality jobs",
            region="CN-ZJ",
            planned_start=date(2021, 9, 3),
            actual_start=date(2021, 10, 1),
            planned_end=date(2025, 12, 31),
        )
        fund = await f.initiative(
            session,
            program,
            code="FUND",
            focus_area="common prosperity fund",
            status=m.InitiativeStatus.PIPELINE,
            planned_end=date(2025, 12, 31),
        )
        await f.budget_line(
            session,
            jobs,
            period_start=date(2021, 1, 1),
            period_end=date(2025, 12, 31),
            amount=Decimal("1000.00"),
            value_date=date(2021, 1, 1),
        )
        await f.budget_line(
            session,
            fund,
            period_start=date(2022, 1, 1),
            period_end=date(2022, 12, 31),
            amount=Decimal("300.00"),
            status=m.BudgetStatus.INDICATIVE,
        )
        await f.budget_line(
            session,
            fund,
            period_start=date(2022, 1, 1),
            period_end=date(2022, 12, 31),
            type=m.BudgetType.REVISED,
            amount=Decimal("250.50"),
        )
        for n, kind in enumerate(m.TransactionType):
            await f.transaction(
                session,
                jobs,
                type=kind,
                amount=Decimal(f"{n + 1}.{n:02d}"),
                transaction_date=date(2022, 1, 1 + n),
                value_date=date(2022, 1, 1 + n),
                provider_id=sponsor.id,
                receiver_id=partner.id,
                description=f"move {kind.value}",
            )
        await f.transaction(session, fund, amount=Decimal("-5.25"), description="a reduction")
        session.add(
            m.Participation(
                initiative_id=jobs.id,
                organization_id=partner.id,
                role=m.ParticipationRole.IMPLEMENTING,
            )
        )
        group = await f.beneficiary_group(session, code="workers", name="Workers")
        await f.beneficiary_figure(
            session,
            jobs,
            group,
            unit="people employed",
            target_value=Decimal(20000),
            target_date=date(2025, 12, 31),
            reached_value=Decimal(10000),
            reached_qualifier=m.FigureQualifier.MORE_THAN,
            reached_as_of=date(2023, 6, 30),
            approved_by="auditor-1",
            approved_at=datetime(2023, 7, 1, tzinfo=UTC),
            draft_reached_value=Decimal(99999),
            draft_submitted_by="editor-1",
        )
        document = m.SourceDocument(
            ref="report-2023",
            title="Annual report 2023",
            url="https://example.org/report-2023",
            language="en",
            category="annual-report",
            published_on=date(2024, 3, 1),
        )
        session.add(document)
        await session.flush()
        session.add(
            m.Citation(
                source_document_id=document.id,
                subject_type=m.SubjectType.INITIATIVE,
                subject_id=jobs.id,
                quote="jobs for 10,000 people",
            )
        )
    return Pledge("pledge-1", ["JOBS", "FUND"])

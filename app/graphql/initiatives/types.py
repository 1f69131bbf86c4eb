"""Initiatives and the organisations taking part in them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models as m
from app.beneficiaries.listing import FIGURES_OF_INITIATIVE
from app.finance.listing import BUDGET_LINES_OF_INITIATIVE, TRANSACTIONS_OF_INITIATIVE
from app.graphql.beneficiaries.types import (
    BeneficiaryFigure,
    BeneficiaryFigureOrder,
    BeneficiaryShare,
)
from app.graphql.context import Info
from app.graphql.evidence.types import cited_sources
from app.graphql.extensions.work import BUDGETS, FIGURES, reads
from app.graphql.figures import BudgetMeasures
from app.graphql.finance.types import BudgetLine, BudgetLineOrder, Transaction, TransactionOrder
from app.graphql.inputs import (
    BeneficiaryFigureFilter,
    BudgetLineFilter,
    MilestoneFilter,
    ParticipationFilter,
    TransactionFilter,
)
from app.graphql.milestones.types import Milestone, MilestoneOrder
from app.graphql.money import Money
from app.graphql.records import Record, db_id_of, order_input, register, stamps
from app.graphql.relay import connection
from app.graphql.visibility import Shows
from app.initiatives.listing import INITIATIVES, PARTICIPATIONS, PARTICIPATIONS_OF_INITIATIVE
from app.milestones.listing import MILESTONES_OF_INITIATIVE
from app.models import InitiativeStatus, ParticipationRole, SubjectType
from app.money.currencies import parse_currency
from app.reports.budget.repository import Dimension

if TYPE_CHECKING:
    from app.graphql.loaders import NodeLoader
    from app.graphql.organizations.types import Organization
    from app.graphql.programs.types import Program

ParticipationOrder = order_input("Participation", PARTICIPATIONS)
InitiativeOrder = order_input("Initiative", INITIATIVES)


@register(m.Participation)
@strawberry.type(description="An organisation's role in an initiative.")
class Participation(Record):
    _row: strawberry.Private[m.Participation]
    role: ParticipationRole = strawberry.field(
        description="The organisation's role in the initiative."
    )

    @classmethod
    def from_row(cls, row: m.Participation) -> Participation:
        return cls(**stamps(row), _row=row, role=row.role)

    @strawberry.field(
        description="The organisation taking part.", extensions=[Shows("organization_id")]
    )
    async def organization(
        self, info: Info
    ) -> Annotated[Organization, strawberry.lazy("app.graphql.organizations.types")]:
        organizations: NodeLoader[Organization] = info.context.loaders.node_of(m.Organization)
        return await organizations.load_required(self._row.organization_id)

    @strawberry.field(
        description="The initiative it takes part in.", extensions=[Shows("initiative_id")]
    )
    async def initiative(self, info: Info) -> Initiative:
        return await info.context.loaders.node(Initiative).load_required(self._row.initiative_id)


@register(m.Initiative)
@strawberry.type(description="One initiative of a programme (an IATI activity).")
class Initiative(Record):
    _program_id: strawberry.Private[int]
    code: str = strawberry.field(description="Stable identifier; never changes once published.")
    position: int = strawberry.field(description="The initiative's number in its programme.")
    title: str = strawberry.field(description="A short title.")
    summary: str | None = strawberry.field(
        description="What the initiative does, in a few sentences."
    )
    focus_area: str | None = strawberry.field(
        description="The programme's focus area the initiative belongs to."
    )
    status: InitiativeStatus = strawberry.field(
        description="Where the initiative stands (IATI activity status)."
    )
    planned_start: date | None = strawberry.field(description="When work is planned to start.")
    actual_start: date | None = strawberry.field(description="When work actually started.")
    planned_end: date | None = strawberry.field(description="When work is planned to end.")
    actual_end: date | None = strawberry.field(description="When work actually ended.")
    region: str | None = strawberry.field(
        description="ISO 3166-1 country or ISO 3166-2 subdivision, e.g. CN or CN-ZJ."
    )

    @classmethod
    def from_row(cls, row: m.Initiative) -> Initiative:
        return cls(
            **stamps(row),
            _program_id=row.program_id,
            code=row.code,
            position=row.position,
            title=row.title,
            summary=row.summary,
            focus_area=row.focus_area,
            status=row.status,
            planned_start=row.planned_start,
            actual_start=row.actual_start,
            planned_end=row.planned_end,
            actual_end=row.actual_end,
            region=row.region,
        )

    @strawberry.field(
        description="The programme the initiative belongs to.", extensions=[Shows("program_id")]
    )
    async def program(
        self, info: Info
    ) -> Annotated[Program, strawberry.lazy("app.graphql.programs.types")]:
        programs: NodeLoader[Program] = info.context.loaders.node_of(m.Program)
        return await programs.load_required(self._program_id)

    @strawberry.field(
        description="Current budget: per period the revised budget where one exists, else the "
        "original, summed over its lines, in the programme's currency (other currencies are "
        "converted at their value date's rate): `figures { budgetCurrent }`.",
        metadata=reads(*BUDGETS, once="initiative-budgets"),
    )
    async def budget(self, info: Info) -> Money:
        currency = await self._currency(info)
        key = (Dimension.INITIATIVE, self.db_id, currency)
        return Money(amount=await info.context.loaders.budgets.load(key), currency=currency)

    @strawberry.field(
        description="The same as `budget`: what the programme allocated to it.",
        metadata=reads(*BUDGETS, once="initiative-budgets"),
    )
    async def allocated(self, info: Info) -> Money:
        budget: Money = await self.budget(info)
        return budget

    async def _currency(self, info: Info) -> str:
        """The programme's pledge currency, the default of the money fields."""
        program = await info.context.loaders.by_id(m.Program).load(self._program_id)
        currency: str = program.pledged_currency
        return currency

    @strawberry.field(
        description="Budget and execution: original and current budget, committed, disbursed, "
        "spent and variance, each record converted at its value date's rate.",
        metadata=reads(*FIGURES, once="initiative-figures"),
    )
    async def figures(
        self,
        info: Info,
        currency: Annotated[
            str | None,
            strawberry.argument(
                description="ISO 4217 code; default: the programme's pledge currency."
            ),
        ] = None,
    ) -> BudgetMeasures:
        if currency:
            target = parse_currency(currency, field="currency")
        else:
            target = await self._currency(info)
        key = (Dimension.INITIATIVE, self.db_id, target)
        return BudgetMeasures(_m=await info.context.loaders.figures.load(key), _currency=target)

    @strawberry.field(
        description="Outgoing commitments, in the programme's currency.",
        metadata=reads(*FIGURES, once="initiative-figures"),
    )
    async def committed(self, info: Info) -> Money:
        figures: BudgetMeasures = await self.figures(info)
        return figures.money("committed")

    @strawberry.field(
        description="Disbursements, in the programme's currency.",
        metadata=reads(*FIGURES, once="initiative-figures"),
    )
    async def disbursed(self, info: Info) -> Money:
        figures: BudgetMeasures = await self.figures(info)
        return figures.money("disbursed")

    @strawberry.field(
        description="Expenditure, in the programme's currency.",
        metadata=reads(*FIGURES, once="initiative-figures"),
    )
    async def spent(self, info: Info) -> Money:
        figures: BudgetMeasures = await self.figures(info)
        return figures.money("spent")

    @strawberry.field(
        description="How its money splits across beneficiary groups (by group); what the "
        "shares leave to 100 % is assigned to no group."
    )
    async def beneficiary_shares(self, info: Info) -> list[BeneficiaryShare]:
        shares = await info.context.loaders.shares.load(self.db_id)
        return [BeneficiaryShare.from_row(row) for row in shares]

    budget_lines = connection(
        BUDGET_LINES_OF_INITIATIVE,
        BudgetLine,
        BudgetLineFilter,
        BudgetLineOrder,
        description="The initiative's budget lines, original and revised.",
        parent_key=db_id_of,
    )
    transactions = connection(
        TRANSACTIONS_OF_INITIATIVE,
        Transaction,
        TransactionFilter,
        TransactionOrder,
        description="The initiative's transactions.",
        parent_key=db_id_of,
    )
    milestones = connection(
        MILESTONES_OF_INITIATIVE,
        Milestone,
        MilestoneFilter,
        MilestoneOrder,
        description="The initiative's milestones.",
        parent_key=db_id_of,
    )
    beneficiaries = connection(
        FIGURES_OF_INITIATIVE,
        BeneficiaryFigure,
        BeneficiaryFigureFilter,
        BeneficiaryFigureOrder,
        description="Who the initiative serves: per beneficiary group, target and reach.",
        parent_key=db_id_of,
    )
    participants = connection(
        PARTICIPATIONS_OF_INITIATIVE,
        Participation,
        ParticipationFilter,
        ParticipationOrder,
        description="Organisations taking part, with their roles.",
        parent_key=db_id_of,
    )
    sources = cited_sources(SubjectType.INITIATIVE)

"""Programmes: the pledges themselves."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models as m
from app.graphql.context import Info
from app.graphql.evidence.types import cited_sources
from app.graphql.extensions.work import BUDGETS, FIGURES, reads
from app.graphql.figures import BudgetMeasures
from app.graphql.initiatives.types import Initiative, InitiativeOrder
from app.graphql.inputs import InitiativeFilter
from app.graphql.money import ConvertedMoney, Money, convert_money
from app.graphql.records import Record, db_id_of, order_input, register, stamps
from app.graphql.relay import connection
from app.graphql.visibility import Shows
from app.initiatives.listing import INITIATIVES_OF_PROGRAM
from app.models import SubjectType
from app.money.currencies import parse_currency
from app.programs.listing import PROGRAMS
from app.reports.budget.repository import Dimension

if TYPE_CHECKING:
    from app.graphql.loaders import NodeLoader
    from app.graphql.organizations.types import Organization

ProgramOrder = order_input("Program", PROGRAMS)


@strawberry.type(description="Who governs a programme.")
class Governance:
    body: str | None = strawberry.field(description="The governing body, e.g. a task force.")
    lead: str | None = strawberry.field(description="Who leads it.")


@register(m.Program)
@strawberry.type(description="A pledge: money promised for a set of initiatives by a deadline.")
class Program(Record):
    _row: strawberry.Private[m.Program]
    ref: str = strawberry.field(
        description="Stable reference of the programme, for re-loading data."
    )
    name: str = strawberry.field(description="The programme's name.")
    summary: str | None = strawberry.field(
        description="What the pledge is for, in a few sentences."
    )
    announced_on: date | None = strawberry.field(description="When the pledge was announced.")
    deadline: date | None = strawberry.field(description="When every initiative is due.")
    governance: Governance = strawberry.field(
        description="Who governs the programme.",
        extensions=[Shows("governance_body", "governance_lead")],
    )

    @classmethod
    def from_row(cls, row: m.Program) -> Program:
        return cls(
            **stamps(row),
            _row=row,
            ref=row.ref,
            name=row.name,
            summary=row.summary,
            announced_on=row.announced_on,
            deadline=row.deadline,
            governance=Governance(body=row.governance_body, lead=row.governance_lead),
        )

    @strawberry.field(
        description="The organisation that made the pledge.", extensions=[Shows("sponsor_id")]
    )
    async def sponsor(
        self, info: Info
    ) -> Annotated[Organization, strawberry.lazy("app.graphql.organizations.types")]:
        organizations: NodeLoader[Organization] = info.context.loaders.node_of(m.Organization)
        return await organizations.load_required(self._row.sponsor_id)

    @strawberry.field(
        description="The amount pledged, in the pledge's own currency.",
        extensions=[Shows("pledged_amount", "pledged_currency")],
    )
    def pledged(self) -> Money:
        return Money(amount=self._row.pledged_amount, currency=self._row.pledged_currency)

    @strawberry.field(
        description="The pledged amount converted at the rate valid on the announcement date."
    )
    async def pledged_in(
        self,
        info: Info,
        currency: Annotated[
            str, strawberry.argument(description="ISO 4217 code to convert into, e.g. USD.")
        ],
    ) -> ConvertedMoney:
        on = self._row.announced_on or datetime.now(UTC).date()
        return await convert_money(info, self.pledged(), currency, on)

    @strawberry.field(
        description="Sum of the initiatives' current budgets, in the pledge's currency: "
        "`figures { budgetCurrent }`, each line converted at its value date's rate and "
        "rounded to the currency's minor unit before summing.",
        metadata=reads(*BUDGETS, once="program-budgets"),
    )
    async def allocated(self, info: Info) -> Money:
        currency = self._row.pledged_currency
        key = (Dimension.PROGRAM, self.db_id, currency)
        return Money(amount=await info.context.loaders.budgets.load(key), currency=currency)

    @strawberry.field(
        description="Pledged minus allocated: not yet given to any initiative.",
        metadata=reads(*BUDGETS, once="program-budgets"),
    )
    async def unallocated(self, info: Info) -> Money:
        allocated = await self.allocated(info)
        return Money(
            amount=self._row.pledged_amount - allocated.amount, currency=allocated.currency
        )

    @strawberry.field(
        description="Budget and execution of all its initiatives: original and current "
        "budget, committed, disbursed, spent and variance, each record converted at its "
        "value date's rate.",
        metadata=reads(*FIGURES, once="program-figures"),
    )
    async def figures(
        self,
        info: Info,
        currency: Annotated[
            str | None,
            strawberry.argument(description="ISO 4217 code; default: the pledge's currency."),
        ] = None,
    ) -> BudgetMeasures:
        target = (
            parse_currency(currency, field="currency") if currency else self._row.pledged_currency
        )
        found = await info.context.loaders.figures.load((Dimension.PROGRAM, self.db_id, target))
        return BudgetMeasures(_m=found, _currency=target)

    @strawberry.field(
        description="Outgoing commitments of its initiatives, in the pledge's currency.",
        metadata=reads(*FIGURES, once="program-figures"),
    )
    async def committed(self, info: Info) -> Money:
        figures: BudgetMeasures = await self.figures(info)
        return figures.money("committed")

    @strawberry.field(
        description="Disbursements of its initiatives, in the pledge's currency.",
        metadata=reads(*FIGURES, once="program-figures"),
    )
    async def disbursed(self, info: Info) -> Money:
        figures: BudgetMeasures = await self.figures(info)
        return figures.money("disbursed")

    @strawberry.field(
        description="Expenditure of its initiatives, in the pledge's currency.",
        metadata=reads(*FIGURES, once="program-figures"),
    )
    async def spent(self, info: Info) -> Money:
        figures: BudgetMeasures = await self.figures(info)
        return figures.money("spent")

    initiatives = connection(
        INITIATIVES_OF_PROGRAM,
        Initiative,
        InitiativeFilter,
        InitiativeOrder,
        description="The programme's initiatives.",
        parent_key=db_id_of,
    )
    sources = cited_sources(SubjectType.PROGRAM)

"""The root Query: one entry per kind of record, plus `node` and `program`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.beneficiaries.listing import BENEFICIARY_FIGURES, BENEFICIARY_GROUPS
from app.errors import DomainError, ErrorCode
from app.evidence.listing import SOURCE_DOCUMENTS
from app.finance.listing import BUDGET_LINES, TRANSACTIONS
from app.graphql.audit import AuditQueries
from app.graphql.context import Info
from app.graphql.extensions.views import AsOf
from app.graphql.inputs import (
    BeneficiaryFigureFilter,
    BeneficiaryGroupFilter,
    BudgetLineFilter,
    ExchangeRateFilter,
    InitiativeFilter,
    MilestoneFilter,
    OrganizationFilter,
    ProgramFilter,
    SourceDocumentFilter,
    TransactionFilter,
)
from app.graphql.nodes import (
    NODE_TYPES,
    BeneficiaryFigure,
    BeneficiaryFigureOrder,
    BeneficiaryGroup,
    BeneficiaryGroupOrder,
    BudgetLine,
    BudgetLineOrder,
    ExchangeRate,
    ExchangeRateOrder,
    Initiative,
    InitiativeOrder,
    Milestone,
    MilestoneOrder,
    Organization,
    OrganizationOrder,
    Program,
    ProgramOrder,
    SourceDocument,
    SourceDocumentOrder,
    Transaction,
    TransactionOrder,
)
from app.graphql.records import load_node
from app.graphql.relay import Node, connection
from app.graphql.reports import ReportQueries
from app.graphql.webhooks import WebhookQueries
from app.initiatives import repository as initiatives_repository
from app.initiatives.listing import INITIATIVES
from app.kit.ids import MAX_KEY, decode_global_id, decode_id_of
from app.milestones.listing import MILESTONES
from app.organizations.listing import ORGANIZATIONS
from app.programs.listing import PROGRAMS
from app.rates.listing import EXCHANGE_RATES


@strawberry.type(description="Read access to pledges and everything reported about them.")
class Query(ReportQueries, AuditQueries, WebhookQueries):
    @strawberry.field(description="Any object by its global ID; null when it does not exist.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
        as_of: AsOf = None,
    ) -> Node | None:
        type_name, pk = decode_global_id(id)
        if type_name not in NODE_TYPES or not 0 < pk <= MAX_KEY:
            return None  # no record can have this ID
        return await load_node(info, type_name, pk)

    @strawberry.field(
        description="One programme by ID; without an ID, the first programme (the demo has one)."
    )
    async def program(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The programme's global ID.")
        ] = None,
        as_of: AsOf = None,
    ) -> Program | None:
        if id is not None:
            return await info.context.loaders.node(Program).load(decode_id_of(id, "Program"))
        row = await info.context.loaders.first_program()
        return Program.from_row(row) if row is not None else None

    @strawberry.field(description="One initiative, by global ID or by code (exactly one of them).")
    async def initiative(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The initiative's global ID.")
        ] = None,
        code: Annotated[
            str | None, strawberry.argument(description='The initiative\'s code, e.g. "IN-0001".')
        ] = None,
        as_of: AsOf = None,
    ) -> Initiative | None:
        if id is not None and code is None:
            return await info.context.loaders.node(Initiative).load(decode_id_of(id, "Initiative"))
        if code is not None and id is None:
            async with info.context.reads() as session:
                row = await initiatives_repository.by_code(session, code)
            return Initiative.from_row(row) if row is not None else None
        raise DomainError(
            "give exactly one of id and code",
            code=ErrorCode.INVALID_ARGUMENT,
            field="id" if id is not None else "code",
        )

    programs = connection(
        PROGRAMS, Program, ProgramFilter, ProgramOrder, description="All programmes (pledges)."
    )
    initiatives = connection(
        INITIATIVES,
        Initiative,
        InitiativeFilter,
        InitiativeOrder,
        description="Initiatives of every programme.",
    )
    budget_lines = connection(
        BUDGET_LINES,
        BudgetLine,
        BudgetLineFilter,
        BudgetLineOrder,
        description="Budget lines of every initiative.",
    )
    transactions = connection(
        TRANSACTIONS,
        Transaction,
        TransactionFilter,
        TransactionOrder,
        description="Transactions of every initiative.",
    )
    milestones = connection(
        MILESTONES,
        Milestone,
        MilestoneFilter,
        MilestoneOrder,
        description="Milestones of every initiative.",
    )
    beneficiary_groups = connection(
        BENEFICIARY_GROUPS,
        BeneficiaryGroup,
        BeneficiaryGroupFilter,
        BeneficiaryGroupOrder,
        description="The groups of people initiatives serve.",
    )
    beneficiary_figures = connection(
        BENEFICIARY_FIGURES,
        BeneficiaryFigure,
        BeneficiaryFigureFilter,
        BeneficiaryFigureOrder,
        description="Targets and reach of every initiative, per beneficiary group.",
    )
    exchange_rates = connection(
        EXCHANGE_RATES,
        ExchangeRate,
        ExchangeRateFilter,
        ExchangeRateOrder,
        description="Stored exchange rates, each with its date and source.",
    )
    organizations = connection(
        ORGANIZATIONS,
        Organization,
        OrganizationFilter,
        OrganizationOrder,
        description="Sponsors, funders and partners.",
    )
    source_documents = connection(
        SOURCE_DOCUMENTS,
        SourceDocument,
        SourceDocumentFilter,
        SourceDocumentOrder,
        description="The documents figures are cited from.",
    )

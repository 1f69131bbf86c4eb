"""The object types of the read API, one module per domain.

Modules are imported in dependency order: every list's node type exists before the
field that lists it. A reference back up the tree (to one record, e.g. a transaction's
initiative) names its type lazily and loads it through `load_node`.
"""

from app.graphql.types.base import NODE_TYPES, Record
from app.graphql.types.beneficiaries import BeneficiaryFigure, BeneficiaryFigureOrder
from app.graphql.types.beneficiary_groups import BeneficiaryGroup, BeneficiaryGroupOrder
from app.graphql.types.currency import ExchangeRate, ExchangeRateOrder
from app.graphql.types.evidence import Citation, CitationOrder, SourceDocument, SourceDocumentOrder
from app.graphql.types.finance import (
    Amounted,
    BudgetLine,
    BudgetLineOrder,
    Transaction,
    TransactionOrder,
)
from app.graphql.types.initiatives import (
    Initiative,
    InitiativeOrder,
    Participation,
    ParticipationOrder,
)
from app.graphql.types.organizations import Organization, OrganizationOrder
from app.graphql.types.programs import Governance, Program, ProgramOrder
from app.graphql.types.timelines import Milestone, MilestoneOrder

__all__ = [
    "NODE_TYPES",
    "Amounted",
    "BeneficiaryFigure",
    "BeneficiaryFigureOrder",
    "BeneficiaryGroup",
    "BeneficiaryGroupOrder",
    "BudgetLine",
    "BudgetLineOrder",
    "Citation",
    "CitationOrder",
    "ExchangeRate",
    "ExchangeRateOrder",
    "Governance",
    "Initiative",
    "InitiativeOrder",
    "Milestone",
    "MilestoneOrder",
    "Organization",
    "OrganizationOrder",
    "Participation",
    "ParticipationOrder",
    "Program",
    "ProgramOrder",
    "Record",
    "SourceDocument",
    "SourceDocumentOrder",
    "Transaction",
    "TransactionOrder",
]

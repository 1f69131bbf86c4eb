"""The object types of the read API, one module per domain.

Each module imports the types it lists, so every list's node type exists before the
field that lists it. A reference back up the tree (to one record, e.g. a transaction's
initiative) names its type for the type checker alone, lazily for the schema
(`strawberry.lazy`), and loads it by model, so no two domains' modules import each
other: `info.context.loaders.node_of(m.Initiative).load(pk)`.
"""

from app.graphql.beneficiaries.groups import BeneficiaryGroup, BeneficiaryGroupOrder
from app.graphql.beneficiaries.types import (
    BeneficiaryFigure,
    BeneficiaryFigureOrder,
    BeneficiaryShare,
)
from app.graphql.evidence.types import Citation, CitationOrder, SourceDocument, SourceDocumentOrder
from app.graphql.finance.types import (
    Amounted,
    BudgetLine,
    BudgetLineOrder,
    Transaction,
    TransactionOrder,
)
from app.graphql.initiatives.types import (
    Initiative,
    InitiativeOrder,
    Participation,
    ParticipationOrder,
)
from app.graphql.loaders import NODE_TYPES
from app.graphql.milestones.types import Milestone, MilestoneOrder
from app.graphql.organizations.types import Organization, OrganizationOrder
from app.graphql.programs.types import Governance, Program, ProgramOrder
from app.graphql.rates.types import ExchangeRate, ExchangeRateOrder
from app.graphql.records import Record

__all__ = [
    "NODE_TYPES",
    "Amounted",
    "BeneficiaryFigure",
    "BeneficiaryFigureOrder",
    "BeneficiaryGroup",
    "BeneficiaryGroupOrder",
    "BeneficiaryShare",
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

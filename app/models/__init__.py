"""Every ORM model, imported here so that `Base.metadata` knows them all."""

from app.models.access import ApiKey, ApiKeyInitiative, IdempotencyRecord
from app.models.audit import GENESIS_HASH, ChainHead, Change
from app.models.beneficiaries import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BeneficiaryShare,
    FigureQualifier,
)
from app.models.evidence import Citation, SourceDocument, SubjectType
from app.models.finance import BudgetLine, BudgetStatus, BudgetType, Transaction, TransactionType
from app.models.initiatives import Initiative, InitiativeStatus, Participation, ParticipationRole
from app.models.milestones import Milestone, MilestoneStatus
from app.models.organizations import Organization, OrganizationKind
from app.models.programs import Program
from app.models.rates import ExchangeRate

__all__ = [
    "GENESIS_HASH",
    "ApiKey",
    "ApiKeyInitiative",
    "BeneficiaryFigure",
    "BeneficiaryGroup",
    "BeneficiaryShare",
    "BudgetLine",
    "BudgetStatus",
    "BudgetType",
    "ChainHead",
    "Change",
    "Citation",
    "ExchangeRate",
    "FigureQualifier",
    "IdempotencyRecord",
    "Initiative",
    "InitiativeStatus",
    "Milestone",
    "MilestoneStatus",
    "Organization",
    "OrganizationKind",
    "Participation",
    "ParticipationRole",
    "Program",
    "SourceDocument",
    "SubjectType",
    "Transaction",
    "TransactionType",
]

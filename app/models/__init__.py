"""Every ORM model, imported here so that `Base.metadata` knows them all."""

from app.models.beneficiaries import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BeneficiaryShare,
    FigureQualifier,
)
from app.models.currency import ExchangeRate
from app.models.finance import BudgetLine, BudgetStatus, BudgetType, Transaction, TransactionType
from app.models.initiatives import Initiative, InitiativeStatus, Participation, ParticipationRole
from app.models.organizations import Organization, OrganizationKind
from app.models.programs import Program
from app.models.sources import Citation, SourceDocument, SubjectType
from app.models.timelines import Milestone, MilestoneStatus

__all__ = [
    "BeneficiaryFigure",
    "BeneficiaryGroup",
    "BeneficiaryShare",
    "BudgetLine",
    "BudgetStatus",
    "BudgetType",
    "Citation",
    "ExchangeRate",
    "FigureQualifier",
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

"""Every ORM model, imported here so that `Base.metadata` knows them all."""

from functools import cache
from typing import Any

from app.db.base import Base, Timestamped
from app.models.access import ApiKey, ApiKeyInitiative, IdempotencyRecord
from app.models.audit import GENESIS_HASH, ChainHead, Change
from app.models.beneficiaries import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BeneficiaryShare,
    FigureQualifier,
)
from app.models.evidence import SUBJECT_TABLES, Citation, SourceDocument, SubjectType
from app.models.finance import BudgetLine, BudgetStatus, BudgetType, Transaction, TransactionType
from app.models.initiatives import Initiative, InitiativeStatus, Participation, ParticipationRole
from app.models.milestones import Milestone, MilestoneStatus
from app.models.organizations import Organization, OrganizationKind
from app.models.programs import Program
from app.models.rates import ExchangeRate
from app.models.rollups import BudgetRollup, BudgetRollupHistory, RollupCurrency, RollupWrite
from app.models.webhooks import (
    WebhookAttempt,
    WebhookDeadLetter,
    WebhookEndpoint,
    WebhookHeld,
)

__all__ = [
    "GENESIS_HASH",
    "SUBJECT_TABLES",
    "ApiKey",
    "ApiKeyInitiative",
    "BeneficiaryFigure",
    "BeneficiaryGroup",
    "BeneficiaryShare",
    "BudgetLine",
    "BudgetRollup",
    "BudgetRollupHistory",
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
    "RollupCurrency",
    "RollupWrite",
    "SourceDocument",
    "SubjectType",
    "Transaction",
    "TransactionType",
    "WebhookAttempt",
    "WebhookDeadLetter",
    "WebhookEndpoint",
    "WebhookHeld",
    "audited_tables",
]


@cache
def audited_tables() -> dict[str, type[Any]]:
    """Every table of the ledger's data, by name: the models with a version (the ones
    the audit trail records, and a view rebuilds)."""
    models: list[Any] = [mapper.class_ for mapper in Base.registry.mappers]
    return {cls.__table__.name: cls for cls in models if issubclass(cls, Timestamped)}

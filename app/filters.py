"""What each kind of record can be filtered by: its columns, and its relations to others.

The filters nest across relations (an initiative's budget lines, a budget line's
initiative), so every kind's spec is here, in one graph, as their GraphQL inputs are
in one module (`app/graphql/inputs.py`): split per domain, they would import each other
in a ring. Keys are the attribute names of those inputs. What each list sorts and
aggregates by, and the lists nested under a parent, are their domain's
(`app/<domain>/listing.py`); the compiler is `app/kit/filtering.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from app.kit.filtering import Column, FilterSpec, Relation, has_some, member_of
from app.models import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BudgetLine,
    Citation,
    ExchangeRate,
    Initiative,
    Milestone,
    Organization,
    Participation,
    Program,
    SourceDocument,
    Transaction,
)
from app.money.currencies import parse_currency


def currency_column(expr: Any) -> Column:
    """A currency column: codes in filters are checked against ISO 4217."""
    return Column(expr, convert=lambda code, where: parse_currency(code, field=where))


def organization_filters() -> FilterSpec:
    return {
        "id": Column(Organization.id, id_type="Organization"),
        "ref": Column(Organization.ref),
        "name": Column(Organization.name),
        "kind": Column(Organization.kind),
    }


def program_filters() -> FilterSpec:
    return {
        "id": Column(Program.id, id_type="Program"),
        "ref": Column(Program.ref),
        "name": Column(Program.name),
        "pledged_amount": Column(Program.pledged_amount),
        "pledged_currency": currency_column(Program.pledged_currency),
        "announced_on": Column(Program.announced_on),
        "deadline": Column(Program.deadline),
        "sponsor": member_of(Program.sponsor_id, Organization, organization_filters),
    }


def initiative_filters() -> FilterSpec:
    return {
        "id": Column(Initiative.id, id_type="Initiative"),
        "code": Column(Initiative.code),
        "position": Column(Initiative.position),
        "title": Column(Initiative.title),
        "summary": Column(Initiative.summary),
        "focus_area": Column(Initiative.focus_area),
        "status": Column(Initiative.status),
        "region": Column(Initiative.region),
        "planned_start": Column(Initiative.planned_start),
        "actual_start": Column(Initiative.actual_start),
        "planned_end": Column(Initiative.planned_end),
        "actual_end": Column(Initiative.actual_end),
        "program": member_of(Initiative.program_id, Program, program_filters),
        "beneficiary_group": Relation(
            beneficiary_group_filters,
            lambda cond: exists().where(
                BeneficiaryFigure.initiative_id == Initiative.id,
                BeneficiaryFigure.group_id.in_(select(BeneficiaryGroup.id).where(cond)),
            ),
        ),
        "budget_line": has_some(BudgetLine.initiative_id, Initiative.id, budget_line_filters),
        "transaction": has_some(Transaction.initiative_id, Initiative.id, transaction_filters),
        "milestone": has_some(Milestone.initiative_id, Initiative.id, milestone_filters),
        "participant": Relation(
            organization_filters,
            lambda cond: exists().where(
                Participation.initiative_id == Initiative.id,
                Participation.organization_id.in_(select(Organization.id).where(cond)),
            ),
        ),
    }


def budget_line_filters() -> FilterSpec:
    return {
        "id": Column(BudgetLine.id, id_type="BudgetLine"),
        "initiative": member_of(BudgetLine.initiative_id, Initiative, initiative_filters),
        "period_start": Column(BudgetLine.period_start),
        "period_end": Column(BudgetLine.period_end),
        "type": Column(BudgetLine.type),
        "status": Column(BudgetLine.status),
        "category": Column(BudgetLine.category),
        "amount": Column(BudgetLine.amount),
        "currency": currency_column(BudgetLine.currency),
        "value_date": Column(BudgetLine.value_date),
    }


def transaction_filters() -> FilterSpec:
    return {
        "id": Column(Transaction.id, id_type="Transaction"),
        "initiative": member_of(Transaction.initiative_id, Initiative, initiative_filters),
        "budget_line": member_of(Transaction.budget_line_id, BudgetLine, budget_line_filters),
        "type": Column(Transaction.type),
        "date": Column(Transaction.transaction_date),
        "amount": Column(Transaction.amount),
        "currency": currency_column(Transaction.currency),
        "value_date": Column(Transaction.value_date),
        "description": Column(Transaction.description),
        "provider": member_of(Transaction.provider_id, Organization, organization_filters),
        "receiver": member_of(Transaction.receiver_id, Organization, organization_filters),
    }


def milestone_filters() -> FilterSpec:
    return {
        "id": Column(Milestone.id, id_type="Milestone"),
        "initiative": member_of(Milestone.initiative_id, Initiative, initiative_filters),
        "title": Column(Milestone.title),
        "planned_date": Column(Milestone.planned_date),
        "forecast_date": Column(Milestone.forecast_date),
        "actual_date": Column(Milestone.actual_date),
        "status": Column(Milestone.status),
    }


def beneficiary_group_filters() -> FilterSpec:
    return {
        "id": Column(BeneficiaryGroup.id, id_type="BeneficiaryGroup"),
        "code": Column(BeneficiaryGroup.code),
        "name": Column(BeneficiaryGroup.name),
        "initiative": Relation(
            initiative_filters,
            lambda cond: exists().where(
                BeneficiaryFigure.group_id == BeneficiaryGroup.id,
                BeneficiaryFigure.initiative_id.in_(select(Initiative.id).where(cond)),
            ),
        ),
    }


def beneficiary_figure_filters() -> FilterSpec:
    return {
        "id": Column(BeneficiaryFigure.id, id_type="BeneficiaryFigure"),
        "initiative": member_of(BeneficiaryFigure.initiative_id, Initiative, initiative_filters),
        "group": member_of(BeneficiaryFigure.group_id, BeneficiaryGroup, beneficiary_group_filters),
        "unit": Column(BeneficiaryFigure.unit),
        "target": Column(BeneficiaryFigure.target_value),
        "reached": Column(BeneficiaryFigure.reached_value),
        "reached_as_of": Column(BeneficiaryFigure.reached_as_of),
    }


def exchange_rate_filters() -> FilterSpec:
    return {
        "id": Column(ExchangeRate.id, id_type="ExchangeRate"),
        "base": currency_column(ExchangeRate.base),
        "quote": currency_column(ExchangeRate.quote),
        "rate": Column(ExchangeRate.rate),
        "rate_date": Column(ExchangeRate.rate_date),
        "source": Column(ExchangeRate.source),
    }


def source_document_filters() -> FilterSpec:
    return {
        "id": Column(SourceDocument.id, id_type="SourceDocument"),
        "ref": Column(SourceDocument.ref),
        "title": Column(SourceDocument.title),
        "published_on": Column(SourceDocument.published_on),
        "language": Column(SourceDocument.language),
        "category": Column(SourceDocument.category),
    }


def citation_filters() -> FilterSpec:
    return {
        "id": Column(Citation.id, id_type="Citation"),
        "field": Column(Citation.field),
        "quote": Column(Citation.quote),
        "is_estimate": Column(Citation.is_estimate),
        "subject_type": Column(Citation.subject_type),
        "document": member_of(Citation.source_document_id, SourceDocument, source_document_filters),
    }


def participation_filters() -> FilterSpec:
    return {
        "id": Column(Participation.id, id_type="Participation"),
        "role": Column(Participation.role),
        "organization": member_of(
            Participation.organization_id, Organization, organization_filters
        ),
        "initiative": member_of(Participation.initiative_id, Initiative, initiative_filters),
    }

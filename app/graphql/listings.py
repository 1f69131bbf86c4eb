"""What every list can be filtered and ordered by, as columns and relations in SQL.

Keys of the filter specs are the attribute names of the inputs in `inputs.py`;
keys of the order maps are the values of the order-field enums in `nodes.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import exists, select

from app.graphql.relay import Listing, SortKey
from app.kit.aggregation import Amount, Day, Number
from app.kit.filtering import Column, FilterSpec, Relation
from app.kit.ordering import sort_keys
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


def member_of(fk: Any, target: Any, spec: Any) -> Relation:
    """Many-to-one: the row's foreign key points at a matching target row."""
    return Relation(spec, lambda cond: fk.in_(select(target.id).where(cond)))


def _has_some(fk: Any, parent_pk: Any, spec: Any) -> Relation:
    """One-to-many: at least one child row points at this row and matches."""
    return Relation(spec, lambda cond: exists().where(fk == parent_pk, cond))


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
        "budget_line": _has_some(BudgetLine.initiative_id, Initiative.id, budget_line_filters),
        "transaction": _has_some(Transaction.initiative_id, Initiative.id, transaction_filters),
        "milestone": _has_some(Milestone.initiative_id, Initiative.id, milestone_filters),
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


def _asc(*columns: Any) -> Any:
    # Sorted as client orders are, so both backends agree on the default order too.
    return lambda: [term for c in columns for term in sort_keys(c)]


def _sorts(model: Any, **keys: str | tuple[Any, str]) -> dict[str, SortKey]:
    """The keys a list sorts by, each with what it is in words: `title="the initiative's
    title"` sorts by the model's column of that name; `date=(column, "…")` by another."""
    return {
        name: SortKey(*key) if isinstance(key, tuple) else SortKey(getattr(model, name), key)
        for name, key in keys.items()
    }


# What every amount's sort key is: the number as stored, in whatever currency.
_AMOUNT = "the amount as a number, whatever its currency (nothing is converted)"
_VALUE_DATE = "the value date (the day whose exchange rate converts the amount)"


# --- the lists: one per record type; nested lists add the parent they hang under -------


def nested(base: Listing, name: str, parent: Callable[[], Any], **more: Any) -> Listing:
    return replace(base, name=name, parent=parent, **more)


ORGANIZATIONS = Listing(
    "organizations",
    Organization,
    organization_filters,
    _sorts(
        Organization,
        ref="the organisation's ref (its stable identifier)",
        name="the organisation's name",
        kind="the organisation's kind",
    ),
    _asc(Organization.name),
    aggregates=lambda: {},
)
PROGRAMS = Listing(
    "programs",
    Program,
    program_filters,
    _sorts(
        Program,
        ref="the programme's ref (its stable identifier)",
        name="the programme's name",
        announced_on="the day the pledge was announced",
        deadline="the pledge's deadline",
        pledged_amount="the pledged amount as a number, whatever its currency (nothing is "
        "converted)",
    ),
    _asc(Program.id),
    aggregates=lambda: {
        "pledged": Amount(Program.pledged_amount, Program.pledged_currency, Program.announced_on),
        "announced_on": Day(Program.announced_on),
        "deadline": Day(Program.deadline),
    },
)
PROGRAMS_OF_SPONSOR = nested(PROGRAMS, "organization.sponsoredPrograms", lambda: Program.sponsor_id)
INITIATIVES = Listing(
    "initiatives",
    Initiative,
    initiative_filters,
    _sorts(
        Initiative,
        code="the initiative's code",
        position="the initiative's number within its programme",
        title="the initiative's title",
        focus_area="the initiative's focus area",
        status="the initiative's status",
        region="the initiative's region code",
        planned_start="the initiative's planned start date",
        actual_start="the initiative's actual start date",
        planned_end="the initiative's planned end date",
        actual_end="the initiative's actual end date",
    ),
    _asc(Initiative.position),
    aggregates=lambda: {
        name: Day(getattr(Initiative, name))
        for name in ("planned_start", "actual_start", "planned_end", "actual_end")
    },
)
INITIATIVES_OF_PROGRAM = nested(INITIATIVES, "program.initiatives", lambda: Initiative.program_id)
# An initiative serves a group when it has a figure for it (once, whatever the units).
_GROUP_LINKS = (
    select(BeneficiaryFigure.initiative_id, BeneficiaryFigure.group_id)
    .distinct()
    .subquery("initiative_group_links")
)
INITIATIVES_OF_GROUP = nested(
    INITIATIVES,
    "beneficiaryGroup.initiatives",
    lambda: _GROUP_LINKS.c.group_id,
    join=lambda: (_GROUP_LINKS, _GROUP_LINKS.c.initiative_id == Initiative.id),
)
BUDGET_LINES = Listing(
    "budgetLines",
    BudgetLine,
    budget_line_filters,
    _sorts(
        BudgetLine,
        period_start="the first day of the budget's period",
        period_end="the last day of the budget's period",
        type="the budget type",
        status="the budget status",
        category="the budget line's category",
        amount=_AMOUNT,
        currency="the currency code",
        value_date=_VALUE_DATE,
    ),
    _asc(BudgetLine.period_start),
    aggregates=lambda: {
        "amount": Amount(BudgetLine.amount, BudgetLine.currency, BudgetLine.value_date),
        "period_start": Day(BudgetLine.period_start),
        "period_end": Day(BudgetLine.period_end),
    },
)
BUDGET_LINES_OF_INITIATIVE = nested(
    BUDGET_LINES, "initiative.budgetLines", lambda: BudgetLine.initiative_id
)
TRANSACTIONS = Listing(
    "transactions",
    Transaction,
    transaction_filters,
    _sorts(
        Transaction,
        type="the transaction type",
        amount=_AMOUNT,
        currency="the currency code",
        value_date=_VALUE_DATE,
        date=(Transaction.transaction_date, "the transaction date"),
    ),
    _asc(Transaction.transaction_date),
    aggregates=lambda: {
        "amount": Amount(Transaction.amount, Transaction.currency, Transaction.value_date),
        "date": Day(Transaction.transaction_date),
    },
)
TRANSACTIONS_OF_INITIATIVE = nested(
    TRANSACTIONS, "initiative.transactions", lambda: Transaction.initiative_id
)
TRANSACTIONS_OF_BUDGET_LINE = nested(
    TRANSACTIONS, "budgetLine.transactions", lambda: Transaction.budget_line_id
)
MILESTONES = Listing(
    "milestones",
    Milestone,
    milestone_filters,
    _sorts(
        Milestone,
        title="the milestone's title",
        planned_date="the milestone's planned date",
        forecast_date="the milestone's forecast date",
        actual_date="the day the milestone was achieved",
        status="the milestone's status",
    ),
    _asc(Milestone.planned_date),
    aggregates=lambda: {
        name: Day(getattr(Milestone, name))
        for name in ("planned_date", "forecast_date", "actual_date")
    },
)
MILESTONES_OF_INITIATIVE = nested(
    MILESTONES, "initiative.milestones", lambda: Milestone.initiative_id
)
BENEFICIARY_GROUPS = Listing(
    "beneficiaryGroups",
    BeneficiaryGroup,
    beneficiary_group_filters,
    _sorts(
        BeneficiaryGroup, code="the beneficiary group's code", name="the beneficiary group's name"
    ),
    _asc(BeneficiaryGroup.name),
    aggregates=lambda: {},
)
BENEFICIARY_FIGURES = Listing(
    "beneficiaryFigures",
    BeneficiaryFigure,
    beneficiary_figure_filters,
    _sorts(
        BeneficiaryFigure,
        unit="the unit counted (e.g. people employed)",
        reached_as_of="the date the approved reach describes",
        target=(BeneficiaryFigure.target_value, "the target"),
        reached=(BeneficiaryFigure.reached_value, "the approved reach"),
    ),
    _asc(BeneficiaryFigure.initiative_id),
    aggregates=lambda: {
        "target": Number(BeneficiaryFigure.target_value),
        "reached": Number(BeneficiaryFigure.reached_value),
        "reached_as_of": Day(BeneficiaryFigure.reached_as_of),
    },
)
FIGURES_OF_INITIATIVE = nested(
    BENEFICIARY_FIGURES,
    "initiative.beneficiaries",
    lambda: BeneficiaryFigure.initiative_id,
    default_order=_asc(BeneficiaryFigure.group_id),
)
FIGURES_OF_GROUP = nested(
    BENEFICIARY_FIGURES, "beneficiaryGroup.figures", lambda: BeneficiaryFigure.group_id
)
EXCHANGE_RATES = Listing(
    "exchangeRates",
    ExchangeRate,
    exchange_rate_filters,
    _sorts(
        ExchangeRate,
        base="the base currency's code",
        quote="the quote currency's code",
        rate="the rate: units of the quote currency per unit of the base",
        rate_date="the day from which the rate is valid",
    ),
    _asc(ExchangeRate.rate_date),
    aggregates=lambda: {
        "rate": Number(ExchangeRate.rate),
        "rate_date": Day(ExchangeRate.rate_date),
    },
)
SOURCE_DOCUMENTS = Listing(
    "sourceDocuments",
    SourceDocument,
    source_document_filters,
    _sorts(
        SourceDocument,
        ref="the document's ref (its stable identifier)",
        title="the document's title",
        published_on="the document's publication date",
    ),
    _asc(SourceDocument.title),
    aggregates=lambda: {"published_on": Day(SourceDocument.published_on)},
)
CITATIONS = Listing(
    "citations",
    Citation,
    citation_filters,
    _sorts(
        Citation,
        field="the field of its record the citation supports (none: the record as a whole)",
        is_estimate="whether the figure is an estimate (false before true)",
    ),
    _asc(Citation.id),
    aggregates=lambda: {},
)
CITATIONS_OF_DOCUMENT = nested(
    CITATIONS, "sourceDocument.citations", lambda: Citation.source_document_id
)
PARTICIPATIONS = Listing(
    "participations",
    Participation,
    participation_filters,
    _sorts(Participation, role="the organisation's role"),
    _asc(Participation.role),
    aggregates=lambda: {},
)
PARTICIPATIONS_OF_INITIATIVE = nested(
    PARTICIPATIONS, "initiative.participants", lambda: Participation.initiative_id
)
PARTICIPATIONS_OF_ORGANIZATION = nested(
    PARTICIPATIONS,
    "organization.participations",
    lambda: Participation.organization_id,
    default_order=_asc(Participation.initiative_id),
)


def citations_of(subject_type: Any) -> Listing:
    """The citations of one kind of record, nested under such a record."""
    return nested(
        CITATIONS,
        f"{subject_type.value}.sources",
        lambda: Citation.subject_id,
        scope=lambda: Citation.subject_type == subject_type,
    )

"""IATI 2.03 elements from the ledger's records, in the order the schema's sequences
state (iati-activities-schema.xsd). Every amount is written from its Decimal, as the
ledger shows it (`shown`), with its currency and value date; never through a float.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from xml.etree.ElementTree import Element, SubElement, register_namespace

from app.iati import codelists as c
from app.iati.rules import split_by_days, yearly_periods
from app.imports import keys
from app.models import (
    BeneficiaryFigure,
    BeneficiaryGroup,
    BeneficiaryShare,
    BudgetLine,
    ExchangeRate,
    FigureQualifier,
    Milestone,
    Organization,
    SourceDocument,
    Transaction,
)
from app.money.currencies import shown

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# The ledger's own attributes and elements, in a namespace of their own (IATI allows
# them where its schema says `##other`): what an IATI element cannot say but the
# ledger needs to read its file back whole (app/iati/reader.py). IATI tools ignore them.
LEDGER_NS = "urn:x-pledge-ledger:iati:1"
register_namespace("ledger", LEDGER_NS)


def ours(name: str) -> str:
    return f"{{{LEDGER_NS}}}{name}"


QUALIFIER_WORDS = {
    FigureQualifier.MORE_THAN: "more than",
    FigureQualifier.AT_LEAST: "at least",
    FigureQualifier.ABOUT: "about",
    FigureQualifier.UP_TO: "up to",
}


def number(value: Decimal) -> str:
    """A decimal as plain digits (10000, not 1E+4)."""
    return format(value, "f")


def quantity(value: Decimal) -> str:
    """A count without the column's trailing zeros (20000, not 20000.0000)."""
    return number(value.normalize())


def narrative(parent: Element, tag: str, text: str, **attributes: str) -> Element:
    element = SubElement(parent, tag, attributes)
    SubElement(element, "narrative").text = text
    return element


def dated(parent: Element, tag: str, day: date, **attributes: str) -> Element:
    return SubElement(parent, tag, {**attributes, "iso-date": day.isoformat()})


def value(parent: Element, amount: Decimal, currency: str, value_date: date) -> Element:
    element = SubElement(
        parent, "value", {"currency": currency, "value-date": value_date.isoformat()}
    )
    element.text = number(shown(amount, currency))
    return element


def organisation(parent: Element, tag: str, org: Organization, **attributes: str) -> Element:
    """reporting-org, participating-org, provider-org, receiver-org: ref, type, name."""
    return narrative(
        parent,
        tag,
        org.name,
        **attributes,
        ref=org.ref,
        type=c.ORGANISATION_TYPE[org.kind],
    )


def budgets(parent: Element, lines: Iterable[BudgetLine]) -> None:
    """One budget per line and year: a line over a year is split by the rule of
    app/iati/rules.py; each part keeps the line's type, status and value date."""
    for line in lines:
        periods = yearly_periods(line.period_start, line.period_end)
        parts = split_by_days(line.amount, line.currency, periods)
        for (start, end), part in zip(periods, parts, strict=True):
            budget = SubElement(
                parent,
                "budget",
                {
                    "type": c.BUDGET_TYPE[line.type],
                    "status": c.BUDGET_STATUS[line.status],
                    # The line each yearly part is of: read back, the parts are one line.
                    ours("line"): line_key(line),
                },
            )
            if line.category:
                budget.set(ours("category"), line.category)
            if line.description:
                budget.set(ours("description"), line.description)
            dated(budget, "period-start", start)
            dated(budget, "period-end", end)
            value(budget, part, line.currency, line.value_date)


def line_key(line: BudgetLine) -> str:
    """The line's key in the file: its ref, else its id (app/imports/keys.py), which an
    import into the same ledger finds again."""
    return keys.file_key(keys.LINE, line.ref, line.id)


def transaction_key(tx: Transaction) -> str:
    return keys.file_key(keys.TRANSACTION, tx.ref, tx.id)


def transaction(
    parent: Element, tx: Transaction, orgs: dict[int, Organization], line_keys: dict[int, str]
) -> None:
    element = SubElement(parent, "transaction", {"ref": transaction_key(tx)})
    SubElement(element, "transaction-type", {"code": c.TRANSACTION_TYPE[tx.type]})
    dated(element, "transaction-date", tx.transaction_date)
    value(element, tx.amount, tx.currency, tx.value_date)
    if tx.description:
        narrative(element, "description", tx.description)
    if tx.budget_line_id is not None:
        element.set(ours("line"), line_keys[tx.budget_line_id])
    if tx.provider_id is not None:
        organisation(element, "provider-org", orgs[tx.provider_id])
    if tx.receiver_id is not None:
        organisation(element, "receiver-org", orgs[tx.receiver_id])


def document_link(parent: Element, document: SourceDocument, languages: frozenset[str]) -> None:
    assert document.url is not None
    link = SubElement(
        parent,
        "document-link",
        {"url": document.url, "format": c.LINK_FORMAT, ours("ref"): document.ref},
    )
    narrative(link, "title", document.title)
    category = c.document_category(document.category)
    if c.READ_CATEGORY.get(category) != document.category:
        # The code reads back as another category (or none): the ledger's own, "" for none.
        link.set(ours("category"), document.category or "")
    SubElement(link, "category", {"code": category})
    language = (document.language or "").split("-")[0].lower()
    if language in languages:
        SubElement(link, "language", {"code": language})
    if document.published_on is not None:
        dated(link, "document-date", document.published_on)


def result(
    parent: Element,
    figure: BeneficiaryFigure,
    group: BeneficiaryGroup,
    start: date | None,
    end: date | None,
) -> None:
    """A beneficiary figure as an output result: one indicator counting `unit`; with a
    period (`start`, `end`) and a target or an approved reach, its baseline (none
    reached before the initiative starts) and one period holding them. Draft figures
    awaiting approval are never written."""
    attributes = {"type": c.RESULT_OUTPUT, "aggregation-status": "1", ours("group"): group.code}
    if figure.reached_value is not None:
        attributes[ours("reached-qualifier")] = figure.reached_qualifier.value
        if figure.reached_as_of is not None:
            attributes[ours("reached-as-of")] = figure.reached_as_of.isoformat()
    if figure.target_date is None:
        attributes[ours("no-target-date")] = "1"
    if figure.reached_value is not None:
        # Who approved the reach ("" no one named, as generated data's): read back as it
        # was, where a file from elsewhere's reach is approved by whoever imports it.
        attributes[ours("approved-by")] = figure.approved_by or ""
        if figure.approved_at is not None:
            attributes[ours("approved-at")] = figure.approved_at.isoformat()
    element = SubElement(parent, "result", attributes)
    narrative(element, "title", f"{group.name}: {figure.unit}")
    indicator = SubElement(element, "indicator", {"measure": c.MEASURE_UNIT, "ascending": "1"})
    narrative(indicator, "title", figure.unit)
    if (
        start is None
        or end is None
        or (figure.target_value is None and figure.reached_value is None)
    ):
        return
    baseline = SubElement(
        indicator,
        "baseline",
        {"year": str(start.year), "iso-date": start.isoformat(), "value": "0"},
    )
    narrative(baseline, "comment", "None reached before the initiative started.")
    period = SubElement(indicator, "period")
    dated(period, "period-start", start)
    dated(period, "period-end", end)
    if figure.target_value is not None:
        SubElement(period, "target", {"value": quantity(figure.target_value)})
    if figure.reached_value is not None:
        actual = SubElement(period, "actual", {"value": quantity(figure.reached_value)})
        narrative(actual, "comment", reach_words(figure))


def reach_words(figure: BeneficiaryFigure) -> str:
    """What a number alone cannot say: its qualifier ("more than"), when, who approved."""
    assert figure.reached_value is not None
    words = QUALIFIER_WORDS.get(figure.reached_qualifier)
    amount = quantity(figure.reached_value)
    said = f"{words} {amount}" if words else amount
    text = f"Reached: {said} {figure.unit}"
    if figure.reached_as_of is not None:
        text += f", as of {figure.reached_as_of.isoformat()}"
    if figure.approved_by:
        text += f"; approved by {figure.approved_by}"
    return text + "."


# What IATI has no element for, in LEDGER_NS (where the schema allows other elements: an
# activity's end, the file's end), so that the ledger's reports read back the same.


def _attributes(**found: str | None) -> dict[str, str]:
    return {name.replace("_", "-"): text for name, text in found.items() if text is not None}


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def exchange_rate(parent: Element, rate: ExchangeRate, source_ref: str | None) -> None:
    SubElement(
        parent,
        ours("exchange-rate"),
        _attributes(
            base=rate.base,
            quote=rate.quote,
            rate=number(rate.rate),
            rate_date=rate.rate_date.isoformat(),
            source=rate.source,
            source_ref=source_ref,
        ),
    )


def source(parent: Element, document: SourceDocument) -> None:
    """A source a rate names, which no document-link may carry (no URL, or not cited)."""
    SubElement(
        parent,
        ours("source"),
        _attributes(
            ref=document.ref,
            title=document.title,
            url=document.url,
            publisher=document.publisher,
            published_on=_day(document.published_on),
            language=document.language,
            category=document.category,
        ),
    )


def beneficiary_group(parent: Element, group: BeneficiaryGroup) -> None:
    SubElement(
        parent,
        ours("beneficiary-group"),
        _attributes(code=group.code, name=group.name, description=group.description),
    )


def share(parent: Element, found: BeneficiaryShare, group: BeneficiaryGroup) -> None:
    SubElement(
        parent,
        ours("share"),
        _attributes(group=group.code, name=group.name, percentage=number(found.percentage)),
    )


def milestone(parent: Element, stone: Milestone) -> None:
    SubElement(
        parent,
        ours("milestone"),
        _attributes(
            ref=keys.file_key(keys.MILESTONE, stone.ref, stone.id),
            title=stone.title,
            description=stone.description,
            status=stone.status.value,
            planned_date=_day(stone.planned_date),
            forecast_date=_day(stone.forecast_date),
            actual_date=_day(stone.actual_date),
        ),
    )

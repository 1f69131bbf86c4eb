"""Every code the export can write is in its IATI 2.03 codelist."""

from __future__ import annotations

from app.iati import codelists as c
from app.models import TransactionType
from tests.iati.oracle import codelists


def test_the_mapped_codes_are_in_their_2_03_codelists() -> None:
    lists = codelists()
    assert set(c.ACTIVITY_STATUS.values()) <= lists["ActivityStatus"]
    assert set(c.ORGANISATION_ROLE.values()) <= lists["OrganisationRole"]
    assert set(c.ORGANISATION_TYPE.values()) <= lists["OrganisationType"]
    assert set(c.TRANSACTION_TYPE.values()) <= lists["TransactionType"]
    assert set(c.BUDGET_TYPE.values()) <= lists["BudgetType"]
    assert set(c.BUDGET_STATUS.values()) <= lists["BudgetStatus"]
    assert set(c.DAC_SECTOR.values()) <= lists["Sector"]
    assert (
        set(c.DOCUMENT_CATEGORY.values()) | {c.DEFAULT_DOCUMENT_CATEGORY}
        <= lists["DocumentCategory"]
    )
    assert {c.PLANNED_START, c.ACTUAL_START, c.PLANNED_END, c.ACTUAL_END} <= lists[
        "ActivityDateType"
    ]
    assert {c.PARENT, c.CHILD} <= lists["RelatedActivityType"]
    assert {c.SECTOR_VOCABULARY_OWN, c.SECTOR_VOCABULARY_DAC} <= lists["SectorVocabulary"]
    assert c.GENERAL_DESCRIPTION in lists["DescriptionType"]
    assert c.RESULT_OUTPUT in lists["ResultType"]
    assert c.MEASURE_UNIT in lists["IndicatorMeasure"]
    assert c.LINK_FORMAT in lists["FileFormat"]


def test_every_transaction_type_of_the_ledger_has_its_own_iati_code() -> None:
    assert set(c.TRANSACTION_TYPE) == set(TransactionType)
    assert len(set(c.TRANSACTION_TYPE.values())) == len(TransactionType)


def test_the_shipped_country_currency_and_language_lists_are_the_2_03_ones() -> None:
    lists = codelists()
    assert lists["Country"] == c.COUNTRY
    assert lists["Currency"] == c.CURRENCY
    assert lists["Language"] == c.LANGUAGE


def test_every_code_read_back_is_a_2_03_code() -> None:
    lists = codelists()
    assert set(c.READ_KIND) <= lists["OrganisationType"]
    assert set(c.READ_CATEGORY) <= lists["DocumentCategory"]
    assert set(c.READ_STATUS) == lists["ActivityStatus"]
    assert set(c.READ_TRANSACTION) == lists["TransactionType"]

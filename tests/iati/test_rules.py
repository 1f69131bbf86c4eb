"""The rules a published pledge keeps: yearly budgets split exactly, percentages that
add up to 100, and the check that refuses a file breaking a rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from xml.etree.ElementTree import Element, SubElement

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import DomainError, ErrorCode
from app.iati.codelists import CODE_CHECKS
from app.iati.rules import (
    check_document,
    percentages,
    split_by_days,
    within_a_year,
    yearly_periods,
)

TODAY = date(2024, 6, 30)


def test_a_period_of_a_year_is_kept_and_a_longer_one_is_cut_at_each_new_year() -> None:
    assert yearly_periods(date(2021, 7, 1), date(2022, 6, 30)) == [
        (date(2021, 7, 1), date(2022, 6, 30))
    ]
    assert yearly_periods(date(2021, 7, 1), date(2022, 7, 1)) == [
        (date(2021, 7, 1), date(2021, 12, 31)),
        (date(2022, 1, 1), date(2022, 7, 1)),
    ]
    assert len(yearly_periods(date(2021, 1, 1), date(2025, 12, 31))) == 5


def test_a_period_of_centuries_is_refused_not_cut_into_thousands_of_budgets() -> None:
    # given: a budget line of 0001 to 9999, which the ledger may hold
    # when / then: a typed refusal, not 9,999 budgets (or a date past 9999-12-31)
    with pytest.raises(DomainError) as caught:
        yearly_periods(date(1, 1, 1), date(9999, 12, 31))
    assert caught.value.code is ErrorCode.NOT_PUBLISHABLE
    assert yearly_periods(date(9999, 1, 1), date(9999, 12, 31)) == [
        (date(9999, 1, 1), date(9999, 12, 31))
    ]
    assert len(yearly_periods(date(2000, 1, 1), date(2099, 12, 31))) == 100


def test_a_year_from_29_february_ends_on_the_last_day_of_february() -> None:
    assert within_a_year(date(2024, 2, 29), date(2025, 2, 28))
    assert not within_a_year(date(2024, 2, 29), date(2025, 3, 1))


@given(
    cents=st.integers(min_value=0, max_value=10**17),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    days=st.integers(min_value=0, max_value=4000),
)
def test_split_parts_add_up_exactly_to_the_whole(cents: int, start: date, days: int) -> None:
    # given
    amount = Decimal(cents).scaleb(-2)
    end = date.fromordinal(start.toordinal() + days)
    periods = yearly_periods(start, end)
    # when
    parts = split_by_days(amount, "CNY", periods)
    # then
    assert sum(parts) == amount
    assert all(within_a_year(a, b) for a, b in periods)
    assert all(part.as_tuple().exponent == -2 for part in parts)
    # Each part is within a cent of its share by days.
    total_days = days + 1
    for (a, b), part in zip(periods, parts, strict=True):
        share = amount * Decimal((b - a).days + 1) / Decimal(total_days)
        assert abs(part - share) < Decimal("0.01")


def test_split_in_yen_keeps_whole_yen() -> None:
    parts = split_by_days(
        Decimal(1000), "JPY", yearly_periods(date(2021, 1, 1), date(2023, 12, 31))
    )
    # Three equal years: 333 each and one yen left, to the earliest on the tie.
    assert parts == [Decimal(334), Decimal(333), Decimal(333)]


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30))
def test_percentages_add_up_to_exactly_100(weights: list[int]) -> None:
    shares = percentages([Decimal(w).scaleb(-2) for w in weights])
    assert sum(shares) == Decimal(100)
    assert all(s >= 0 and s.as_tuple().exponent == -2 for s in shares)


def test_three_equal_weights_are_33_34_33_33_33_33() -> None:
    assert percentages([Decimal(1)] * 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def _file() -> tuple[Element, Element]:
    """The smallest file the check passes: one activity with a budget and a transaction."""
    root = Element("iati-activities")
    activity = SubElement(root, "iati-activity")
    SubElement(activity, "iati-identifier").text = "org-A"
    budget = SubElement(activity, "budget", {"type": "1", "status": "2"})
    SubElement(budget, "period-start", {"iso-date": "2022-01-01"})
    SubElement(budget, "period-end", {"iso-date": "2022-12-31"})
    SubElement(budget, "value", {"currency": "CNY", "value-date": "2022-01-01"}).text = "1.00"
    transaction = SubElement(activity, "transaction")
    SubElement(transaction, "transaction-type", {"code": "3"})
    SubElement(transaction, "transaction-date", {"iso-date": "2022-03-01"})
    SubElement(transaction, "value", {"currency": "CNY", "value-date": "2022-03-01"}).text = "1"
    SubElement(activity, "sector", {"vocabulary": "99", "code": "x", "percentage": "100"})
    SubElement(activity, "recipient-country", {"code": "CN", "percentage": "100"})
    return root, activity


def _refusal(root: Element) -> str:
    with pytest.raises(DomainError) as refused:
        check_document(root, today=TODAY, codes=CODE_CHECKS)
    assert refused.value.code is ErrorCode.NOT_PUBLISHABLE
    assert "org-A" in refused.value.message
    return refused.value.message


def test_the_smallest_file_passes_the_check() -> None:
    root, _ = _file()
    check_document(root, today=TODAY, codes=CODE_CHECKS)


def test_a_budget_longer_than_a_year_is_refused() -> None:
    root, activity = _file()
    activity.find("budget/period-end").set("iso-date", "2023-01-01")  # type: ignore[union-attr]
    assert "longer than a year" in _refusal(root)


def test_a_value_without_a_value_date_is_refused() -> None:
    root, activity = _file()
    del activity.find("transaction/value").attrib["value-date"]  # type: ignore[union-attr]
    assert "value date" in _refusal(root)


def test_a_transaction_after_today_is_refused() -> None:
    root, activity = _file()
    activity.find("transaction/transaction-date").set("iso-date", "2024-07-01")  # type: ignore[union-attr]
    assert "2024-07-01" in _refusal(root)


@pytest.mark.parametrize("tag", ["sector", "recipient-country"])
def test_percentages_not_adding_up_to_100_are_refused(tag: str) -> None:
    root, activity = _file()
    activity.find(tag).set("percentage", "99.99")  # type: ignore[union-attr]
    assert "not 100" in _refusal(root)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("transaction/transaction-type", "14"),
        ("recipient-country", "XX"),
        ("budget", None),
    ],
)
def test_a_code_outside_its_codelist_is_refused(path: str, code: str | None) -> None:
    root, activity = _file()
    element = activity.find(path)
    assert element is not None
    if code is None:
        element.set("status", "3")
    else:
        element.set("code", code)
    assert "is not an IATI 2.03 code" in _refusal(root)

"""Keyset cursors (app/kit/keyset.py): every value a sort key holds comes back exactly
from its cursor, in one spelling; a cursor names the order it was issued for."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app import models as m
from app.errors import DomainError, ErrorCode
from app.kit.keyset import MAX_CURSOR_LENGTH, Order
from app.kit.ordering import sort_keys

# One term per kind of value a list sorts by: money, a date, a moment, text (twice: its
# lowercase form and itself), an enum stored as text, a nullable text, and the key.
ORDER = Order.of(
    [
        *sort_keys(m.Transaction.amount),
        *sort_keys(m.Transaction.transaction_date, descending=True),
        *sort_keys(m.ApiKey.revoked_at),
        *sort_keys(m.Transaction.type),
        *sort_keys(m.BudgetLine.category, descending=True),
        m.Transaction.id.asc(),
    ],
    "a test list|amount asc",
)
VALUES = (
    Decimal("-1234.500"),
    date(2024, 2, 29),
    datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC),
    "disbursement",
    'Éclair "quoted" \\ and 中文',
    2**63 - 1,
)


def test_every_kind_of_value_comes_back_exactly() -> None:
    # given: a cursor of a row with a value of every kind, and one of NULLs
    for values in (VALUES, (Decimal("0.000"), date(1, 1, 1), None, "incoming_pledge", None, 1)):
        cursor = ORDER.encode(values)
        # when
        back = ORDER.decode(cursor, "after")
        # then: equal, of the same types, and spelled the same again
        assert back == values
        assert [type(v) for v in back] == [type(v) for v in values]
        assert ORDER.encode(back) == cursor
        assert len(cursor) <= MAX_CURSOR_LENGTH


def _spelled(*items: object) -> str:
    text = json.dumps(list(items), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "other",
    [
        ("-1234.5", "2024-02-29"),  # money spelled other than stored
        ("-1234.50", "2024-02-29"),
        ("-1.2345E+3", "2024-02-29"),
        ("NaN", "2024-02-29"),
        (-1234.5, "2024-02-29"),  # a number where text is due
        ("-1234.500", "2024-02-29T00:00:00+00:00"),  # a moment for a date
        ("-1234.500", "2024-2-29"),
    ],
)
def test_other_spellings_of_a_value_are_refused(other: tuple[object, object]) -> None:
    # given: a cursor whose amount (or date) is spelled otherwise
    amount, day = other
    _, *items = json.loads(base64.urlsafe_b64decode(ORDER.encode(VALUES)))
    assert _spelled(ORDER.tag, *items) == ORDER.encode(VALUES)  # as issued, it is valid
    cursor = _spelled(ORDER.tag, amount, day, *items[2:])
    # when / then
    with pytest.raises(DomainError) as caught:
        ORDER.decode(cursor, "after")
    assert caught.value.code is ErrorCode.INVALID_CURSOR


def test_moments_only_in_utc_enums_only_their_values_no_nul_and_null_only_where_held() -> None:
    base = ORDER.encode(VALUES)
    _, *items = json.loads(base64.urlsafe_b64decode(base))
    for index, value in (
        (2, "2024-05-01T14:30:00.123456+02:00"),
        (3, "DISBURSEMENT"),
        (4, "a NUL \u0000 no column holds"),  # PostgreSQL would fail the statement
        (0, None),  # amounts are never NULL
        (5, None),
    ):
        changed = [*items]
        changed[index] = value
        with pytest.raises(DomainError):
            ORDER.decode(_spelled(ORDER.tag, *changed), "before")


def test_the_same_cursor_is_refused_by_another_order() -> None:
    # given: the same terms, named for another list
    other = Order.of(ORDER.terms, "another list|amount asc")
    cursor = ORDER.encode(VALUES)
    # when / then
    with pytest.raises(DomainError) as caught:
        other.decode(cursor, "after")
    assert "another list or another orderBy" in str(caught.value)

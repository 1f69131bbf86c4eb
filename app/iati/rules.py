"""The IATI rules a published pledge must keep, as the export applies them.

- A budget covers at most one year: a longer budget line (a 2021-2025 envelope) is
  published as one budget per calendar year it touches, its amount split by days.
- The split is exact: each part is the whole's share by days, rounded down to the
  currency's minor unit; the units left over go one each to the parts with the largest
  remainders (the earlier part first on a tie), so the parts add up to the whole.
- Percentages of a vocabulary (sectors, recipient countries) add up to exactly 100:
  shares of a weight, to two decimals, apportioned by the same largest-remainder rule.

`check_document` holds a finished document against these rules and the codelists, so a
file that breaks one is never handed out (NOT_PUBLISHABLE, nothing exported).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import MAXYEAR, date
from decimal import Decimal
from xml.etree.ElementTree import Element

from app.errors import DomainError, ErrorCode
from app.money.currencies import from_minor_units, minor_units

HUNDRED = Decimal(100)
# Percentages are published to two decimals.
PERCENT_PLACES = 2


def year_after(day: date) -> date:
    """The same day a year later (29 February: 1 March)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


# The most calendar years one budget line may span in an export.
MAX_BUDGET_YEARS = 100


def within_a_year(start: date, end: date) -> bool:
    """IATI's rule for a budget period: it ends before the same day a year on."""
    # In the last year a date can have, there is no year after to compare with.
    return start <= end and (start.year == MAXYEAR or end < year_after(start))


def yearly_periods(start: date, end: date) -> list[tuple[date, date]]:
    """The period itself when it is at most a year; else its calendar-year slices."""
    if within_a_year(start, end):
        return [(start, end)]
    if end.year - start.year >= MAX_BUDGET_YEARS:
        # One line would become thousands of budgets (0001 to 9999: 9,999 of them).
        raise DomainError(
            f"a budget period of {start} to {end} spans more than {MAX_BUDGET_YEARS} "
            "calendar years; IATI budgets are yearly",
            code=ErrorCode.NOT_PUBLISHABLE,
        )
    periods = []
    for year in range(start.year, end.year + 1):
        periods.append((max(start, date(year, 1, 1)), min(end, date(year, 12, 31))))
    return periods


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """`total` units shared in proportion to `weights` (non-negative, not all zero):
    each share rounded down, the units left one each to the largest remainders, the
    earlier first on a tie. The shares add up to `total`. Linear in the weights, plus
    the sort of the remainders."""
    whole = sum(weights)
    if whole <= 0:
        raise ValueError("weights must add up to more than zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    shares = [magnitude * w // whole for w in weights]
    remainders = [magnitude * w % whole for w in weights]
    left = magnitude - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return [sign * s for s in shares]


def split_by_days(
    amount: Decimal, currency: str, periods: Sequence[tuple[date, date]]
) -> list[Decimal]:
    """`amount` shared over `periods` by their days, exactly to the minor unit."""
    places = minor_units(currency)
    minor = int(amount.scaleb(places))
    if Decimal(minor) != amount.scaleb(places):
        # Finer than the currency (stored before the write rules refused it): the
        # split works in the amount's own smallest digit, so nothing is lost.
        places = -int(amount.normalize().as_tuple().exponent)
        minor = int(amount.scaleb(places))
    days = [(end - start).days + 1 for start, end in periods]
    parts = largest_remainder(minor, days)
    if places == minor_units(currency):
        return [from_minor_units(part, currency) for part in parts]
    return [Decimal(part).scaleb(-places) for part in parts]


def percentages(weights: Sequence[Decimal]) -> list[Decimal]:
    """Shares of 100 in proportion to `weights`, to two decimals, adding up to exactly
    100. All weights zero (nothing budgeted yet): equal shares."""
    scale = 10**PERCENT_PLACES
    if not any(weights):
        weights = [Decimal(1)] * len(weights)
    exponent = min(w.as_tuple().exponent for w in weights)
    whole_weights = [int(w.scaleb(-int(exponent))) for w in weights]
    parts = largest_remainder(100 * scale, whole_weights)
    return [Decimal(p).scaleb(-PERCENT_PLACES) for p in parts]


def not_publishable(message: str, *, details: dict[str, object] | None = None) -> DomainError:
    return DomainError(message, code=ErrorCode.NOT_PUBLISHABLE, details=details or {})


def check_document(root: Element, *, today: date, codes: dict[str, frozenset[str]]) -> None:
    """Hold a finished iati-activities document against the rules a pledge must keep.

    NOT_PUBLISHABLE naming the first activity and what is wrong. `codes`: for an
    element path, the codes its `code` attribute may take (see codelists.CODE_CHECKS)."""
    for activity in root.iter("iati-activity"):
        name = activity.findtext("iati-identifier") or "?"
        _check_values(activity, name)
        _check_budgets(activity, name)
        _check_transactions(activity, name, today)
        _check_percentages(activity, name)
        _check_codes(activity, name, codes)


def _check_values(activity: Element, name: str) -> None:
    for value in activity.iter("value"):
        if not value.get("value-date") or not value.get("currency"):
            raise not_publishable(f"{name}: a value without a currency or value date")


def _check_budgets(activity: Element, name: str) -> None:
    for budget in activity.iter("budget"):
        start = date.fromisoformat(budget.find("period-start").get("iso-date", ""))  # type: ignore[union-attr]
        end = date.fromisoformat(budget.find("period-end").get("iso-date", ""))  # type: ignore[union-attr]
        if not within_a_year(start, end):
            raise not_publishable(f"{name}: a budget from {start} to {end} is longer than a year")


def _check_transactions(activity: Element, name: str, today: date) -> None:
    for transaction in activity.iter("transaction"):
        when = date.fromisoformat(transaction.find("transaction-date").get("iso-date", ""))  # type: ignore[union-attr]
        if when > today:
            raise not_publishable(f"{name}: a transaction dated {when}, after {today}")


def _check_percentages(activity: Element, name: str) -> None:
    for element in ("sector", "recipient-country"):
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for item in activity.findall(element):
            # Countries have one vocabulary, sectors say theirs (1 when they do not).
            vocabulary = item.get("vocabulary", "1")
            sums[vocabulary] += Decimal(item.get("percentage", "100"))
        for vocabulary, total in sums.items():
            if total != HUNDRED:
                raise not_publishable(
                    f"{name}: {element} percentages of vocabulary {vocabulary} add up to "
                    f"{total}, not 100"
                )


def _check_codes(activity: Element, name: str, codes: dict[str, frozenset[str]]) -> None:
    for path, allowed in codes.items():
        element, _, attribute = path.partition("@")
        for item in activity.iter(element):
            code = item.get(attribute or "code")
            if code is not None and code not in allowed:
                raise not_publishable(f"{name}: {path} {code!r} is not an IATI 2.03 code")

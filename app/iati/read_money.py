"""An IATI activity's budgets and transactions as the ledger document's budget lines
and transactions (app/iati/reader.py maps the rest of the activity)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from app.iati import codelists as c
from app.iati import elements as e
from app.iati.writer import ours

# The ref of an organisation element, recorded once (the reader's `org`).
Org = Callable[[Element | None], str | None]


def budget_lines(activity: Element, notes: list[str]) -> list[dict[str, Any]]:
    """Budgets back into lines: the yearly parts of one line (same LEDGER_NS line
    mark) are that line again, its period their span, its amount their sum. Only
    like is summed with like: parts of one mark in another currency, type or status
    are lines of their own (and said in a note). A budget without a mark (a file
    from elsewhere) is a line keyed by its period and type, which another budget
    inserted before it does not change."""
    identifier = activity.findtext("iati-identifier")
    default = activity.get("default-currency")
    parts: dict[tuple[str, str | None, str, str], list[Element]] = defaultdict(list)
    marks: dict[str, list[tuple[str, str | None, str, str]]] = defaultdict(list)
    unmarked: dict[str, int] = defaultdict(int)
    for budget in activity.findall("budget"):
        value = budget.find("value")
        currency = (value.get("currency") if value is not None else None) or default
        kind, status = budget.get("type", "1"), budget.get("status", "1")
        mark = budget.get(ours("line"))
        if mark is None:
            mark = f"budget-{e.date(budget, 'period-start')}-{e.date(budget, 'period-end')}"
            mark += f"-{c.READ_BUDGET_TYPE.get(kind, kind)}"
            unmarked[mark] += 1
            mark += f"-{unmarked[mark]}" if unmarked[mark] > 1 else ""
        group = (mark, currency, kind, status)
        if group not in parts:
            marks[mark].append(group)
        parts[group].append(budget)
    lines = []
    for mark, groups in marks.items():
        if len(groups) > 1:
            notes.append(
                f"{identifier}: the budgets of line {mark!r} differ in currency, type or "
                f"status; each kind is a line of its own ({mark!r}, then {mark!r} with "
                "-2, -3 ...), not summed"
            )
        for k, group in enumerate(groups, start=1):
            budgets = parts[group]
            _, currency, kind, status = group
            first = budgets[0]
            value = first.find("value")
            amounts = [e.decimal(b.findtext("value")) for b in budgets]
            line: dict[str, Any] = {
                "ref": mark if k == 1 else f"{mark}-{k}",
                "period_start": min(e.date(b, "period-start") for b in budgets),
                "period_end": max(e.date(b, "period-end") for b in budgets),
                "type": c.READ_BUDGET_TYPE.get(kind, "original"),
                "status": c.READ_BUDGET_STATUS.get(status, "indicative"),
                "category": first.get(ours("category")),
                "description": first.get(ours("description")),
                "amount": None if None in amounts else format(sum(map(Decimal, amounts)), "f"),  # type: ignore[arg-type]
                "currency": currency,
                "value_date": value.get("value-date") if value is not None else None,
            }
            lines.append(e.carried(line, "category", "value_date", "description"))
    return lines


# What a transaction's elements and attributes the reader takes; the rest are named.
_TRANSACTION_READ = {
    "ref", "transaction-type", "transaction-date", "value", "description", "provider-org",
    "receiver-org", ours("line"),
}  # fmt: skip


def planned_disbursements(activity: Element, notes: list[str]) -> None:
    """Planned disbursements are named, each with its period and value, not read: the
    ledger holds no forecast of payments, and as budget lines they would count the
    money of the activity's budgets a second time."""
    identifier = activity.findtext("iati-identifier")
    default = activity.get("default-currency")
    for element in activity.findall("planned-disbursement"):
        value = element.find("value")
        currency = (value.get("currency") if value is not None else None) or default
        notes.append(
            f"{identifier}: the planned disbursement "
            f"{e.date(element, 'period-start') or '?'}..{e.date(element, 'period-end') or '?'} "
            f"of {element.findtext('value', '').strip()} {currency} is not read: the ledger "
            "holds no forecast of payments (as a budget line it would count the budget's "
            "money twice)"
        )


def transactions(activity: Element, notes: list[str], org: Org) -> list[dict[str, Any]]:
    """Transactions keyed by their @ref; one without (a file from elsewhere) by a hash
    of what identifies it, so that a transaction inserted before it changes no key."""
    found = []
    default = activity.get("default-currency")
    counted: dict[str, int] = defaultdict(int)
    unread: Counter[str] = Counter()
    for element in activity.findall("transaction"):
        unread.update({child.tag for child in element if child.tag not in _TRANSACTION_READ})
        unread.update({f"@{name}" for name in element.attrib if name not in _TRANSACTION_READ})
        value = element.find("value")
        kind = element.find("transaction-type")
        date = element.find("transaction-date")
        provider, receiver = element.find("provider-org"), element.find("receiver-org")
        transaction = {
            "ref": element.get("ref"),
            "type": c.READ_TRANSACTION.get(kind.get("code", "") if kind is not None else ""),
            "transaction_date": date.get("iso-date") if date is not None else None,
            "amount": e.decimal(element.findtext("value")),
            "currency": (value.get("currency") if value is not None else None) or default,
            "value_date": value.get("value-date") if value is not None else None,
            "budget_line": element.get(ours("line")),
            "provider": org(provider),
            "receiver": org(receiver),
            "description": e.text(element.find("description")),
        }
        if not transaction["ref"]:
            key = content_key(transaction, provider, receiver)
            counted[key] += 1
            transaction["ref"] = key if counted[key] == 1 else f"{key}-{counted[key]}"
        found.append(
            e.carried(
                transaction, "value_date", "budget_line", "provider", "receiver", "description"
            )
        )
    if unread:
        notes.append(
            f"{activity.findtext('iati-identifier')}: the transactions' "
            + ", ".join(f"{name} ({n})" for name, n in sorted(unread.items()))
            + " not read: a ledger transaction holds its type, date, value, provider, "
            "receiver and description"
        )
    if counted:
        notes.append(
            f"{activity.findtext('iati-identifier')}: {sum(counted.values())} transactions "
            "have no ref; each is keyed by its type, date, value, currency, provider, "
            "receiver and description (exact repeats by their order among themselves): "
            "a transaction changed in any of these is read as a new one"
        )
    return found


def content_key(
    transaction: dict[str, Any], provider: Element | None, receiver: Element | None
) -> str:
    """A transaction's key from what identifies it (not its place in the file)."""
    identity = [
        transaction[name]
        for name in ("type", "transaction_date", "amount", "currency", "description")
    ]
    for org in (provider, receiver):
        identity.append(None if org is None else [org.get("ref"), e.text(org)])
    digest = hashlib.sha256(json.dumps(identity).encode("utf-8")).hexdigest()
    return f"iati-{digest[:20]}"

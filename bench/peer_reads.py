"""The reads bench/peers.py asks of the project and of PostGraphile, and how each side's
answer becomes rows that can be compared."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Row = tuple[Any, ...]

# ---------------------------------------------------------------- the reads, on each side
#
# The same rows and fields on both sides. Field names differ: the project shows global
# ids (decoded to the row id to compare), `date`, enum values in capitals and money as
# `{ amount currency }` in cents; PostGraphile shows the row id as `rowId`, columns by
# their camel-cased names (`transactionDate`), enums stored as text as they are stored,
# and NUMERIC(18,3) as a BigFloat string with three decimals. Orders: PostGraphile's
# default is the primary key; the project's lists default to a natural key, then the id
# (budget lines by period start, transactions by date), so PostGraphile is asked for that.


@dataclass(frozen=True)
class Read:
    name: str
    project: str
    peer: str
    project_rows: Callable[[dict[str, Any]], list[Row]]
    peer_rows: Callable[[dict[str, Any]], list[Row]]


def _row_id(global_id: str) -> int:
    text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return int(text.rsplit(":", 1)[1])


def _dash_project(data: dict[str, Any]) -> list[Row]:
    return [
        (
            _row_id(n["id"]),
            n["code"],
            n["title"],
            n["status"].lower(),
            n["plannedStart"],
            n["plannedEnd"],
        )
        for n in data["initiatives"]["nodes"]
    ]


def _dash_peer(data: dict[str, Any]) -> list[Row]:
    return [
        (n["rowId"], n["code"], n["title"], n["status"], n["plannedStart"], n["plannedEnd"])
        for n in data["initiatives"]["nodes"]
    ]


def _audit_project(data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for i in data["initiatives"]["nodes"]:
        rows.append(("initiative", _row_id(i["id"]), i["code"]))
        for b in i["budgetLines"]["nodes"]:
            money = b["amount"]
            rows.append(("line", _row_id(b["id"]), Decimal(money["amount"]), money["currency"]))
            rows[-1] += (b["periodStart"],)
            for t in b["transactions"]["nodes"]:
                money = t["amount"]
                rows.append(("tx", _row_id(t["id"]), t["date"], t["type"].lower()))
                rows[-1] += (Decimal(money["amount"]), money["currency"])
    return rows


def _audit_peer(data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for i in data["initiatives"]["nodes"]:
        rows.append(("initiative", i["rowId"], i["code"]))
        for b in i["budgetLines"]["nodes"]:
            rows.append(("line", b["rowId"], Decimal(b["amount"]), b["currency"]))
            rows[-1] += (b["periodStart"],)
            for t in b["transactions"]["nodes"]:
                rows.append(("tx", t["rowId"], t["transactionDate"], t["type"]))
                rows[-1] += (Decimal(t["amount"]), t["currency"])
    return rows


def _flat_project(data: dict[str, Any]) -> list[Row]:
    return [
        (
            _row_id(t["id"]),
            t["date"],
            t["type"].lower(),
            Decimal(t["amount"]["amount"]),
            t["amount"]["currency"],
            t["valueDate"],
            t["version"],
            t["description"],
        )
        for t in data["transactions"]["nodes"]
    ]


def _flat_peer(data: dict[str, Any]) -> list[Row]:
    return [
        (
            t["rowId"],
            t["transactionDate"],
            t["type"],
            Decimal(t["amount"]),
            t["currency"],
            t["valueDate"],
            t["version"],
            t["description"],
        )
        for t in data["transactions"]["nodes"]
    ]


READS = {
    "dashboard": Read(
        "dashboard: 10 initiatives, 6 fields",
        "{ initiatives(first: 10) { nodes { id code title status plannedStart plannedEnd } } }",
        "{ initiatives(first: 10) { nodes { rowId code title status plannedStart plannedEnd } } }",
        _dash_project,
        _dash_peer,
    ),
    "audit": Read(
        "auditor report: 100 initiatives → 20 budget lines → 20 transactions",
        """{ initiatives(first: 100) { nodes { id code
             budgetLines(first: 20) { nodes { id amount { amount currency } periodStart
               transactions(first: 20) { nodes { id date type amount { amount currency } }
             } } } } } }""",
        """{ initiatives(first: 100) { nodes { rowId code
             budgetLines(first: 20, orderBy: [PERIOD_START_ASC, PRIMARY_KEY_ASC]) { nodes {
               rowId amount currency periodStart
               transactions(first: 20, orderBy: [TRANSACTION_DATE_ASC, PRIMARY_KEY_ASC]) {
                 nodes { rowId transactionDate type amount currency }
             } } } } } }""",
        _audit_project,
        _audit_peer,
    ),
    "flat": Read(
        "flat list: 10,000 transactions, 8 fields",
        """{ transactions(first: 10000) { nodes { id date type amount { amount currency }
             valueDate version description } } }""",
        """{ transactions(first: 10000, orderBy: [TRANSACTION_DATE_ASC, PRIMARY_KEY_ASC]) {
             nodes { rowId transactionDate type amount currency valueDate version description }
           } }""",
        _flat_project,
        _flat_peer,
    ),
}

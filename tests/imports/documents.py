"""Small documents of the import format, as a user would write them."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from app.audit.records import SYSTEM_ROLE, Actor
from app.graphql.schema import cited_fields

ACTOR = Actor("test-importer", SYSTEM_ROLE)
# The fields citations may name, as the API (and so the command line and the upload) hands
# them to an import.
FIELDS = cited_fields()

_SMALL: dict[str, Any] = {
    "format": "pledge-ledger/1",
    "sources": [{"ref": "annual-report-2024", "title": "Annual report 2024", "language": "en"}],
    "organizations": [
        {"ref": "acme", "name": "Acme Foundation", "kind": "foundation"},
        {"ref": "builders", "name": "Builders Ltd", "kind": "company"},
    ],
    "program": {
        "ref": "acme-pledge",
        "name": "Acme schools pledge",
        "sponsor": "acme",
        "pledged": {"amount": "1000000.00", "currency": "EUR"},
        "announced_on": "2024-01-15",
        "cite": [{"field": "pledged", "quote": "one million euros"}],
    },
    "exchange_rates": [
        {
            "base": "USD",
            "quote": "EUR",
            "rate": "0.9",
            "rate_date": "2024-01-01",
            "source": "ECB reference rate",
        }
    ],
    "beneficiary_groups": [{"code": "pupils", "name": "Pupils"}],
    "initiatives": [
        {
            "code": "AS-1",
            "position": 1,
            "title": "New classrooms",
            "status": "implementation",
            "participants": [
                {"org": "acme", "role": "funding"},
                {"org": "builders", "role": "implementing"},
            ],
            "budget_lines": [
                {
                    "ref": "B1",
                    "period_start": "2024-01-01",
                    "period_end": "2024-12-31",
                    "type": "original",
                    "status": "committed",
                    "amount": "400000.00",
                    "currency": "EUR",
                }
            ],
            "transactions": [
                {
                    "ref": "T1",
                    "type": "disbursement",
                    "transaction_date": "2024-03-01",
                    "amount": "100000.00",
                    "currency": "EUR",
                    "budget_line": "B1",
                    "provider": "acme",
                    "receiver": "builders",
                },
                {
                    "ref": "T2",
                    "type": "expenditure",
                    "transaction_date": "2024-04-01",
                    "amount": "5000.00",
                    "currency": "USD",
                    "cite": [{"field": "amount", "quote": "USD 5,000 spent on desks"}],
                },
            ],
            "milestones": [
                {"ref": "M1", "title": "Ground broken", "status": "planned"},
            ],
            "beneficiaries": [
                {
                    "group": "pupils",
                    "unit": "pupils taught",
                    "target_value": "1200",
                    "reached_value": "300",
                    "reached_as_of": "2024-06-30",
                }
            ],
            "shares": [{"group": "pupils", "percentage": "60"}],
        },
        {
            "code": "AS-2",
            "position": 2,
            "title": "Teacher training",
            "status": "pipeline",
            "transactions": [
                {
                    "ref": "T1",
                    "type": "outgoing_commitment",
                    "transaction_date": "2024-05-01",
                    "amount": "20000.00",
                    "currency": "EUR",
                },
                {
                    "ref": "T2",
                    "type": "disbursement",
                    "transaction_date": "2024-06-01",
                    "amount": "7500.00",
                    "currency": "EUR",
                },
            ],
        },
    ],
}


def small() -> dict[str, Any]:
    """A programme of two initiatives (a fresh copy: tests change it)."""
    return copy.deepcopy(_SMALL)


def as_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode("utf-8")


def as_yaml(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode("utf-8")

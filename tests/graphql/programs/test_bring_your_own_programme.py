"""A user with a pledge of their own loads it into an empty ledger through the API
alone, and reads it back, reports included (issue 16)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient

RESULT = "errors { field code message }"
MUTATIONS = {
    "createOrganization": ("CreateOrganizationInput", "organization { id }"),
    "createProgram": ("CreateProgramInput", "program { id }"),
    "createInitiative": ("CreateInitiativeInput", "initiative { id }"),
    "createBudgetLine": ("CreateBudgetLineInput", "budgetLine { id }"),
    "createTransaction": ("CreateTransactionInput", "transaction { id }"),
    "createBeneficiaryGroup": ("CreateBeneficiaryGroupInput", "beneficiaryGroup { id }"),
    "createBeneficiaryFigure": ("CreateBeneficiaryFigureInput", "beneficiaryFigure { id }"),
    "createBeneficiaryShare": ("CreateBeneficiaryShareInput", "beneficiaryShare { id }"),
    "createParticipation": ("CreateParticipationInput", "participation { id }"),
    "createSourceDocument": ("CreateSourceDocumentInput", "sourceDocument { id }"),
    "createCitation": ("CreateCitationInput", "citation { id }"),
}

PROGRAMME = """
query($id: ID!) {
  node(id: $id) {
    ... on Program {
      ref name summary announcedOn deadline
      governance { body lead }
      sponsor { ref name kind headquarters }
      pledged { amount currency }
      allocated { amount currency }
      unallocated { amount currency }
      spent { amount currency }
      sources { nodes { field quote translation isEstimate note document { ref title } } }
      initiatives {
        nodes {
          code title
          participants { nodes { role organization { ref } } }
          beneficiaryShares { percentage group { code } }
          beneficiaries { nodes { unit target group { code } } }
          budgetLines { nodes { amount { amount currency } } }
          transactions { nodes { amount { amount currency } receiver { ref } } }
        }
      }
    }
  }
}"""
REPORTS = """
{
  byProgramme: budgetSummary(groupBy: [PROGRAM]) {
    currency
    groups { key { program { ref } } measures { budgetCurrent { amount } spent { amount } } }
  }
  byGroup: budgetSummary(groupBy: [BENEFICIARY_GROUP]) {
    groups {
      key { beneficiaryGroup { code } }
      measures { budgetCurrent { amount } spent { amount } }
    }
  }
  reachReport { totals { unit target } }
}"""


async def create(client: GraphQLClient, name: str, values: dict[str, Any]) -> str:
    """The global ID of the record the mutation `name` creates."""
    input_type, record = MUTATIONS[name]
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {record} {RESULT} }} }}"
    payload = (await client.data(query, {"input": values}))[name]
    assert payload["errors"] == [], payload["errors"]
    created: dict[str, str] = next(v for k, v in payload.items() if k != "errors")
    return created["id"]


async def ledger_rows(db: Database) -> int:
    async with db.sessions() as session:
        total = 0
        for model in m.audited_tables().values():
            total += await session.scalar(select(func.count()).select_from(model)) or 0
        return total


async def test_a_pledge_of_ones_own_loads_into_an_empty_ledger(
    db: Database, client: GraphQLClient
) -> None:
    # given: a fresh database, nothing in it but an editor's key
    assert await ledger_rows(db) == 0
    async with db.sessions() as session, session.begin():
        editor = client.with_key(await f.api_key(session, "editor", name="loader"))
    # when: the user loads their programme, one record at a time
    org = await create(
        editor,
        "createOrganization",
        {
            "ref": "DE-HRB-1234",
            "name": "Stiftung Beispiel",
            "kind": "FOUNDATION",
            "headquarters": "Berlin",
        },
    )
    program = await create(
        editor,
        "createProgram",
        {
            "ref": "clean-water-2024",
            "name": "Clean water for 10,000 homes",
            "sponsorId": org,
            "pledgedAmount": "1000000.00",
            "pledgedCurrency": "EUR",
            "summary": "Wells and filters in three districts.",
            "announcedOn": "2024-01-15",
            "deadline": "2027-12-31",
            "governanceBody": "Water board",
            "governanceLead": "A. Beispiel",
        },
    )
    initiative = await create(
        editor,
        "createInitiative",
        {
            "programId": program,
            "code": "CW-01",
            "position": 1,
            "title": "Wells",
            "status": "IMPLEMENTATION",
        },
    )
    line = await create(
        editor,
        "createBudgetLine",
        {
            "initiativeId": initiative,
            "periodStart": "2024-01-01",
            "periodEnd": "2024-12-31",
            "type": "ORIGINAL",
            "status": "COMMITTED",
            "amount": "600000.00",
            "currency": "EUR",
        },
    )
    await create(
        editor,
        "createTransaction",
        {
            "initiativeId": initiative,
            "type": "EXPENDITURE",
            "date": "2024-03-01",
            "amount": "150000.00",
            "currency": "EUR",
            "budgetLineId": line,
            "receiverId": org,
        },
    )
    group = await create(
        editor, "createBeneficiaryGroup", {"code": "rural-homes", "name": "Rural homes"}
    )
    await create(
        editor,
        "createBeneficiaryFigure",
        {"initiativeId": initiative, "groupId": group, "unit": "homes", "targetValue": "10000"},
    )
    await create(
        editor,
        "createBeneficiaryShare",
        {"initiativeId": initiative, "groupId": group, "percentage": "60"},
    )
    await create(
        editor,
        "createParticipation",
        {"initiativeId": initiative, "organizationId": org, "role": "FUNDING"},
    )
    document = await create(
        editor,
        "createSourceDocument",
        {
            "ref": "press-2024-01-15",
            "title": "Eine Million für sauberes Wasser",
            "language": "de",
            "publishedOn": "2024-01-15",
        },
    )
    await create(
        editor,
        "createCitation",
        {
            "sourceDocumentId": document,
            "subjectId": program,
            "field": "pledged",
            "quote": "eine Million Euro",
            "translation": "one million euros",
        },
    )
    read = (await editor.data(PROGRAMME, {"id": program}))["node"]
    reports = await editor.data(REPORTS)
    # then: every record reads back as written
    assert (read["ref"], read["name"], read["announcedOn"], read["deadline"]) == (
        "clean-water-2024",
        "Clean water for 10,000 homes",
        "2024-01-15",
        "2027-12-31",
    )
    assert read["governance"] == {"body": "Water board", "lead": "A. Beispiel"}
    assert read["sponsor"] == {
        "ref": "DE-HRB-1234",
        "name": "Stiftung Beispiel",
        "kind": "FOUNDATION",
        "headquarters": "Berlin",
    }
    assert read["pledged"] == {"amount": "1000000.00", "currency": "EUR"}
    assert read["sources"]["nodes"] == [
        {
            "field": "pledged",
            "quote": "eine Million Euro",
            "translation": "one million euros",
            "isEstimate": False,
            "note": None,
            "document": {"ref": "press-2024-01-15", "title": "Eine Million für sauberes Wasser"},
        }
    ]
    (wells,) = read["initiatives"]["nodes"]
    assert (wells["code"], wells["title"]) == ("CW-01", "Wells")
    assert wells["participants"]["nodes"] == [
        {"role": "FUNDING", "organization": {"ref": "DE-HRB-1234"}}
    ]
    assert wells["beneficiaryShares"] == [
        {"percentage": "60.0000", "group": {"code": "rural-homes"}}
    ]
    assert wells["beneficiaries"]["nodes"] == [
        {"unit": "homes", "target": "10000.0000", "group": {"code": "rural-homes"}}
    ]
    assert wells["budgetLines"]["nodes"] == [{"amount": {"amount": "600000.00", "currency": "EUR"}}]
    assert wells["transactions"]["nodes"] == [
        {"amount": {"amount": "150000.00", "currency": "EUR"}, "receiver": {"ref": "DE-HRB-1234"}}
    ]
    # and the programme's figures and reports count them
    assert read["allocated"] == {"amount": "600000.00", "currency": "EUR"}
    assert read["unallocated"] == {"amount": "400000.00", "currency": "EUR"}
    assert read["spent"] == {"amount": "150000.00", "currency": "EUR"}
    by_programme = reports["byProgramme"]
    assert by_programme["currency"] == "EUR"
    assert by_programme["groups"] == [
        {
            "key": {"program": {"ref": "clean-water-2024"}},
            "measures": {
                "budgetCurrent": {"amount": "600000.00"},
                "spent": {"amount": "150000.00"},
            },
        }
    ]
    by_group = {
        (g["key"]["beneficiaryGroup"] or {}).get("code"): g["measures"]
        for g in reports["byGroup"]["groups"]
    }
    assert by_group == {
        "rural-homes": {"budgetCurrent": {"amount": "360000.00"}, "spent": {"amount": "90000.00"}},
        None: {"budgetCurrent": {"amount": "240000.00"}, "spent": {"amount": "60000.00"}},
    }
    assert reports["reachReport"]["totals"] == [{"unit": "homes", "target": "10000.0000"}]
    # and each record was written once, by the user's key, in the trail
    async with db.sessions() as session:
        entries = (await session.scalars(select(m.Change).order_by(m.Change.sequence))).all()
    assert [(e.entity_type, e.operation, e.actor_name) for e in entries] == [
        (table, "create", "loader")
        for table in (
            "organizations",
            "programs",
            "initiatives",
            "budget_lines",
            "transactions",
            "beneficiary_groups",
            "beneficiary_figures",
            "beneficiary_shares",
            "participations",
            "source_documents",
            "citations",
        )
    ]

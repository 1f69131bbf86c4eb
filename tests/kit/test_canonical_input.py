"""One spelling per ID, cursor and number (app/kit/ids.py, app/kit/numbers.py).

Python's int() and Decimal() read " 2", "+2", "02", "1_0", full-width and
Arabic-Indic digits, and lenient base64 ignores padding and stray bits: so one record
had several IDs, one page several cursors, and a full-width "10" was an amount. Every other
spelling is now refused with the usual code (INVALID_ID, INVALID_CURSOR, a Decimal
the scalar cannot read), and nothing is written.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.errors import DomainError, ErrorCode
from app.events.cursors import decode_event_cursor, encode_event_cursor
from app.events.scopes import Scope
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")  # noqa: RUF001
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

CREATE_MILESTONE = """
mutation($input: CreateMilestoneInput!, $key: String) {
  createMilestone(input: $input, idempotencyKey: $key) {
    milestone { id }
    errors { field code message }
  }
}"""
CREATE_TRANSACTION = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) {
    transaction { amount { amount currency } }
    errors { field code message }
  }
}"""


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(text: str, *, padded: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    return encoded if padded else encoded.rstrip("=")


def spellings(type_name: str, pk: int) -> list[str]:
    """Other spellings of the ID of (type_name, pk), each of which once named it."""
    digits = str(pk)
    canonical = encode_global_id(type_name, pk)
    # The last character of an unpadded ID carries spare bits: flipping one of them
    # spells the same bytes.
    assert len(digits) >= 2 and len(canonical) % 4 in (2, 3)
    spare = BASE64URL[BASE64URL.index(canonical[-1]) ^ 1]
    return [
        b64(f"{type_name}:0{digits}"),
        b64(f"{type_name}:+{digits}"),
        b64(f"{type_name}: {digits}"),
        b64(f"{type_name}:{digits} "),
        b64(f"{type_name}:{digits[0]}_{digits[1:]}"),
        b64(f"{type_name}:{digits.translate(FULL_WIDTH)}"),
        b64(f"{type_name}:{digits.translate(ARABIC_INDIC)}"),
        b64(f"{type_name}:{digits}", padded=True),
        canonical[:-1] + spare,
    ]


async def admin(db: Database, client: GraphQLClient) -> GraphQLClient:
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "admin", name="canonical-admin")
    return client.with_key(secret)


async def tenth_initiative(db: Database) -> int:
    async with db.sessions() as session:
        keys = (await session.scalars(select(m.Initiative.id).order_by(m.Initiative.id))).all()
    assert keys[9] >= 10
    return keys[9]


async def trail_length(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.Change)) or 0


# --- IDs ----------------------------------------------------------------------------------


async def test_an_id_has_one_spelling(demo: Database, client: GraphQLClient) -> None:
    # given
    editor = await admin(demo, client)
    pk = await tenth_initiative(demo)
    canonical = encode_global_id("Initiative", pk)
    query = """query($id: ID!) {
      node(id: $id) { id }
      initiatives(filter: {id: {eq: $id}}) { totalCount }
    }"""
    assert (await editor.data(query, {"id": canonical}))["node"] == {"id": canonical}
    for alias in spellings("Initiative", pk):
        # when
        answer = await editor.execute(query, {"id": alias})
        # then: no other spelling names the record
        assert answer["data"] is None, (alias, answer)
        assert {e["extensions"]["code"] for e in answer["errors"]} == {"INVALID_ID"}, alias


async def test_a_write_naming_a_record_another_way_is_refused(
    demo: Database, client: GraphQLClient
) -> None:
    # given
    editor = await admin(demo, client)
    pk = await tenth_initiative(demo)
    before = await trail_length(demo)
    for n, alias in enumerate(spellings("Initiative", pk)):
        given = {"initiativeId": alias, "title": "T", "status": "PLANNED"}
        # when
        data = await editor.data(CREATE_MILESTONE, {"input": given, "key": f"alias-{n}"})
        # then: before, each was written, and a retry of one write that spelled the ID
        # another way was taken for another request (IDEMPOTENCY_KEY_REUSED)
        errors = data["createMilestone"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [("initiativeId", "INVALID_ID")]
    assert await trail_length(demo) == before
    canonical = {
        "initiativeId": encode_global_id("Initiative", pk),
        "title": "T",
        "status": "PLANNED",
    }
    written = await editor.data(CREATE_MILESTONE, {"input": canonical, "key": "canonical"})
    assert written["createMilestone"]["errors"] == []


async def test_an_id_of_another_type_says_which_type_it_is(
    db: Database, client: GraphQLClient
) -> None:
    program = encode_global_id("Program", 1)
    error = await client.error("query($id: ID!) { initiative(id: $id) { id } }", {"id": program})
    assert error["extensions"]["code"] == "INVALID_ID"
    assert error["message"] == f"ID {program!r} is of type Program, not Initiative"


# --- cursors ------------------------------------------------------------------------------


async def test_a_cursor_has_one_spelling(demo: Database, client: GraphQLClient) -> None:
    # given: the cursor after the second initiative, and other spellings of it
    query = """query($first: Int, $after: String) {
      initiatives(first: $first, after: $after) { nodes { code } pageInfo { endCursor } } }"""
    cursor = (await client.data(query, {"first": 2}))["initiatives"]["pageInfo"]["endCursor"]
    page = await client.data(query, {"first": 1, "after": cursor})
    assert page["initiatives"]["nodes"] == [{"code": "CP-03"}]
    items = json.loads(base64.urlsafe_b64decode(cursor))
    tag, *values = items
    assert json.dumps(items, separators=(",", ":")) == base64.urlsafe_b64decode(cursor).decode()
    aliases = [
        b64(json.dumps(items), padded=True),  # spaces
        b64(json.dumps([tag, *values[:-1], float(values[-1])], separators=(",", ":")), padded=True),
        b64(json.dumps([tag, *values[:-1], str(values[-1])], separators=(",", ":")), padded=True),
        b64(
            json.dumps(items, separators=(",", ":")).replace(tag[0], f"\\u{ord(tag[0]):04x}", 1),
            padded=True,
        ),
        cursor.rstrip("=") if cursor.endswith("=") else cursor + "==",
        cursor[:8] + "!" + cursor[8:],  # a character the decoder skips
    ]
    for alias in aliases:
        # when
        error = await client.error(query, {"after": alias})
        # then
        assert error["extensions"] == {"code": "INVALID_CURSOR", "field": "after"}, alias


async def test_a_cursor_of_the_change_log_has_one_spelling(
    demo: Database, client: GraphQLClient
) -> None:
    # given
    async with demo.sessions() as session, session.begin():
        secret = await f.api_key(session, "auditor", name="canonical-auditor")
    auditor = client.with_key(secret)
    query = "query($after: String) { changes(first: 1, after: $after) { nodes { sequence } } }"
    page = await auditor.data(query, {"after": b64("change:2", padded=True)})
    assert page["changes"]["nodes"] == [{"sequence": 3}]
    for alias in ("change:02", "change:+2", "change:2 ", "change:" + "9" * 30):
        # when
        error = await auditor.error(query, {"after": b64(alias, padded=True)})
        # then
        assert error["extensions"]["code"] == "INVALID_CURSOR", alias


def test_a_partners_change_cursor_has_one_spelling() -> None:
    # given: a partner's scope, its cursor of position 14, and other spellings of it
    scope = Scope(frozenset({1, 2}))
    cursor = encode_event_cursor(scope, 14)
    assert decode_event_cursor(scope, cursor, "after") == 14
    text = f"change:{scope.mark}:"
    aliases = [
        base64.urlsafe_b64encode(f"{text}014".encode()).decode(),  # a leading zero
        cursor[:8] + "!" + cursor[8:],  # characters the decoder skips
        " " + cursor,
        cursor + "\n",
    ]
    for alias in aliases:
        # when
        with pytest.raises(DomainError) as refused:
            decode_event_cursor(scope, alias, "after")
        # then
        assert refused.value.code is ErrorCode.INVALID_CURSOR, alias


# --- decimals -----------------------------------------------------------------------------

NOT_DECIMALS = [
    "１０",  # noqa: RUF001 (full-width digits)
    "١٠",  # noqa: RUF001 (Arabic-Indic digits)
    "1_0",
    " 1",
    "1 ",
    "+1",
    "01",
    ".5",
    "1.",
    "1e",
    "0x10",
    "NaN",
    "Infinity",
    "1,5",
]


async def test_an_amount_has_one_spelling(demo: Database, client: GraphQLClient) -> None:
    # given
    editor = await admin(demo, client)
    initiative = encode_global_id("Initiative", await tenth_initiative(demo))

    def transaction(amount: Any) -> dict[str, Any]:
        return {
            "initiativeId": initiative,
            "type": "DISBURSEMENT",
            "date": "2024-05-02",
            "amount": amount,
            "currency": "CNY",
        }

    def written_out(amount: str) -> str:
        return (
            "mutation { createTransaction(input: {"
            f'initiativeId: "{initiative}", type: DISBURSEMENT, date: "2024-05-02", '
            f'amount: {json.dumps(amount)}, currency: "CNY"'
            "}) { errors { code } } }"
        )

    before = await trail_length(demo)
    for amount in NOT_DECIMALS:
        # when: as a variable, and written in the document
        variable = await editor.error(CREATE_TRANSACTION, {"input": transaction(amount)})
        literal = await editor.error(written_out(amount))
        # then: refused as any value the scalar cannot read; nothing written
        assert variable["extensions"]["code"] == "BAD_USER_INPUT", (amount, variable)
        assert literal["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", (amount, literal)
    assert await trail_length(demo) == before
    # and the spellings JSON and GraphQL use are read as ever
    for amount, written in (("10", "10.00"), ("-2.50", "-2.50"), ("1e3", "1000.00")):
        data = await editor.data(CREATE_TRANSACTION, {"input": transaction(amount)})
        payload = data["createTransaction"]
        assert payload["errors"] == [], (amount, payload)
        assert payload["transaction"]["amount"] == {"amount": written, "currency": "CNY"}


async def test_an_amount_in_variables_is_a_string_and_in_the_document_any_number(
    demo: Database, client: GraphQLClient
) -> None:
    # given: amounts as JSON numbers in variables (10 was accepted, 10.5 refused: a JSON
    # decoder had already made it a binary float), and as number literals in the text
    editor = await admin(demo, client)
    initiative = encode_global_id("Initiative", await tenth_initiative(demo))
    fields = f'initiativeId: "{initiative}", type: DISBURSEMENT, date: "2024-05-02"'
    before = await trail_length(demo)
    refused = []
    for number in ("10", "10.5", "1e3", "0"):
        # when: the variable written as a JSON number, not a string
        given = {"initiativeId": initiative, "type": "DISBURSEMENT", "date": "2024-05-02"}
        variables = {"input": {**given, "amount": "AMOUNT", "currency": "CNY"}}
        body = json.dumps({"query": CREATE_TRANSACTION, "variables": variables})
        body = body.replace('"AMOUNT"', number)
        response = await editor.http.post(
            "/graphql",
            content=body,
            headers={**editor.headers, "Content-Type": "application/json"},
        )
        refused.append(response.json()["errors"][0])
    # then: each refused alike (after the value quoted, one reason), nothing written
    assert {e["extensions"]["code"] for e in refused} == {"BAD_USER_INPUT"}
    assert len({e["message"].split("; ")[-1] for e in refused}) == 1
    assert "strings" in refused[0]["message"]
    assert await trail_length(demo) == before
    # and in the document's text, where its digits are exact, a number is read as written
    for literal, written in (("12", "12.00"), ("10.5", "10.50"), ("2.5e1", "25.00")):
        data = await editor.data(
            f"mutation {{ createTransaction(input: {{ {fields}, amount: {literal}, "
            'currency: "CNY" }) { transaction { amount { amount } } errors { code } } }'
        )
        assert data["createTransaction"]["transaction"]["amount"] == {"amount": written}


async def test_a_decimal_filter_reads_one_spelling_too(
    demo: Database, client: GraphQLClient
) -> None:
    query = "query($a: Decimal) { transactions(filter: {amount: {gt: $a}}) { totalCount } }"
    assert "transactions" in await client.data(query, {"a": "0"})
    for amount in NOT_DECIMALS:
        error = await client.error(query, {"a": amount})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", amount


# --- numbers outside GraphQL ---------------------------------------------------------------


async def test_a_csv_download_reads_whole_numbers_in_plain_digits_only(
    demo: Database, client: GraphQLClient
) -> None:
    # given
    async with demo.sessions() as session, session.begin():
        secret = await f.api_key(session, "auditor", name="canonical-csv")
    headers = {"Authorization": f"Bearer {secret}"}
    url = "/reports/budget-summary.csv"
    ok = await client.http.get(url, params={"groupBy": "INITIATIVE", "first": "2"}, headers=headers)
    assert ok.status_code == 200, ok.text
    for first in (" 2", "02", "+2", "2_0", "２", "٢"):  # noqa: RUF001
        # when
        response = await client.http.get(
            url, params={"groupBy": "INITIATIVE", "first": first}, headers=headers
        )
        # then
        assert response.status_code == 400, (first, response.text)
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert error["message"].startswith("first:")


@pytest.mark.parametrize("declared", ["²", "1²", "³¹"])
async def test_a_content_length_in_other_digits_is_not_a_crash(
    db: Database, client: GraphQLClient, declared: str
) -> None:
    # Superscript digits are Latin-1, as headers are; str.isdigit() is true of them and
    # int() cannot read them: a 500 (uvicorn refuses such a header itself; other
    # servers may pass it on).
    content = json.dumps({"query": "{ programs { totalCount } }"}).encode()
    headers = {"Content-Type": "application/json", "Content-Length": declared.encode("latin-1")}
    response = await client.http.post("/graphql", content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"programs": {"totalCount": 0}}}

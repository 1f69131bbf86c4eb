"""What the fuzzer found, kept as regressions: each was a 500, or an error without a code
or with the driver's message, before the fix named in its comment."""

from __future__ import annotations

import json
import re

import pytest

from app.kit.ids import encode_global_id
from tests.conftest import Database, GraphQLClient
from tests.http.fuzz.checks import Fuzzer, leaks
from tests.http.fuzz.values import JSON, SPEC

MOMENT = "2019-01-01T00:00:00+00:00"


@pytest.fixture
async def bare(db: Database, client: GraphQLClient) -> Fuzzer:
    """A fuzzer's checks without the demo, for what never reaches the data."""
    return Fuzzer(db, client.http, client.http)


async def test_a_field_error_in_an_as_of_query_leaves_the_view_to_its_other_fields(
    fuzzer: Fuzzer,
) -> None:
    # A field's error ended the operation while another field's data loader was still
    # reading the view; the view's connection was closed under it, and the driver's
    # message ("(sqlite3.ProgrammingError) Cannot operate on a closed database", with
    # SQLAlchemy's link) was the answer, without a code. Fixed: View.close waits for
    # the view's sessions (app/views/views.py).
    figure = encode_global_id("BeneficiaryFigure", 1)
    query = f"""{{
      node(id: "{figure}", asOf: "{MOMENT}") {{ id }}
      transactions(after: "not-a-cursor", asOf: "{MOMENT}") {{ totalCount }}
    }}"""
    for _ in range(3):
        assert await fuzzer.post("viewer", query) == ["INVALID_CURSOR"]
        # and for a partner, whose every query runs on a view
        live = query.replace(f', asOf: "{MOMENT}"', "")
        assert await fuzzer.post("partner", live) == ["INVALID_CURSOR"]


async def test_an_exception_past_execution_is_masked(
    bare: Fuzzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever an extension raises once execution is over (closing a view, here) is an
    # INTERNAL error with an id, like any unexpected error, never its own message.
    # Fixed: ErrorCodesExtension.on_operation presents it (app/graphql/extensions/errors.py).
    from app.views import views

    async def failing_close(self: views.View) -> None:
        await self.connection.close()
        raise RuntimeError('SELECT secret FROM ledger; File "/work/main/app/x.py", line 1')

    monkeypatch.setattr(views.View, "close", failing_close)
    query = f'{{ programs(asOf: "{MOMENT}") {{ totalCount }} }}'
    response = await bare.http.post("/graphql", json={"query": query})
    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL"
    assert re.fullmatch(r"[0-9a-f]{16}", error["extensions"]["errorId"])
    assert not leaks(body, "")


async def test_a_json_body_that_is_not_an_object_is_a_bad_request(bare: Fuzzer) -> None:
    # Strawberry took any JSON value for an object: AttributeError, a 500. Fixed:
    # PledgeRouter.parse_http_body (app/http/router.py).
    for body in (b"5", b'"{ programs { totalCount } }"', b"null", b"true", b"-1.5e3"):
        headers = {"Content-Type": JSON, "Accept": SPEC}
        codes = await bare.raw("POST", content=body, headers=headers)
        assert codes == ["BAD_REQUEST"], body


async def test_json_nested_deeper_than_the_decoder_goes_is_a_bad_request(bare: Fuzzer) -> None:
    # json.loads raised RecursionError: a 500, for a body of 200 KB. Fixed:
    # PledgeRouter.decode_json (app/http/router.py).
    deep = "[" * 100_000 + "]" * 100_000
    body = f'{{"query": "{{ programs {{ totalCount }} }}", "variables": {{"a": {deep}}}}}'
    codes = await bare.raw("POST", content=body.encode(), headers={"Content-Type": JSON})
    assert codes == ["BAD_REQUEST"]
    # and in a GET's variables
    params = {"query": "{ programs { totalCount } }", "variables": "[" * 5000 + "]" * 5000}
    assert await bare.raw("GET", params=params) == ["BAD_REQUEST"]


async def test_a_body_in_no_json_encoding_is_a_bad_request(bare: Fuzzer) -> None:
    # json.loads raised UnicodeDecodeError: a 500. Fixed: PledgeRouter.decode_json.
    for body in (b'{"query": "\xff\xfe"}', b"\xff" * 8, b'{"query": "\xc3"}'):
        codes = await bare.raw("POST", content=body, headers={"Content-Type": JSON})
        assert codes == ["BAD_REQUEST"], body
    # UTF-16 and UTF-32 are JSON encodings, and are read
    operation = json.dumps({"query": "{ programs { totalCount } }"})
    for codec in ("utf-16", "utf-32"):
        response = await bare.http.post(
            "/graphql", content=operation.encode(codec), headers={"Content-Type": JSON}
        )
        assert response.json() == {"data": {"programs": {"totalCount": 0}}}


async def test_a_spread_of_an_unknown_fragment_is_a_validation_error(bare: Fuzzer) -> None:
    # The depth limit looked the fragment up unchecked: KeyError, an INTERNAL error (a
    # 500 for a graphql-response+json client; before errors raised by extensions were
    # masked, an error without a code). Fixed: depth_rule (app/graphql/extensions/limits.py).
    for query in (
        "{ ...Unknown }",
        "{ programs { ...Unknown } }",
        "{ programs { totalCount ...F } } fragment G on Query { programs { totalCount } }",
    ):
        assert (await bare.post("anonymous", query))[0] == "GRAPHQL_VALIDATION_FAILED"
        codes = await bare.post("anonymous", query, accept=None)
        assert codes[0] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_decimal_written_with_a_huge_exponent_is_refused(fuzzer: Fuzzer) -> None:
    # "1e999999999" passed the 64-character limit; written out (format(d, "f"), to hash
    # a mutation's input for its idempotency key) it took gigabytes and the process was
    # killed. Fixed: the Decimal scalar bounds the digits, not only the characters
    # (app/graphql/scalars.py). Smaller exponents here, so that a regression is a
    # failure, not an exhausted machine.
    initiative = encode_global_id("Initiative", 1)
    create = (
        "createBudgetLine(input: {"
        f'initiativeId: "{initiative}", periodStart: "2022-01-01", periodEnd: "2022-12-31", '
        'type: ORIGINAL, status: COMMITTED, amount: AMOUNT, currency: "CNY"}) '
        "{ errors { code } }"
    )
    mutation = "mutation ($amount: Decimal!) { " + create.replace("AMOUNT", "$amount") + " }"
    for amount in ("1e100000", "-1e100000", "1e-100000", "0e-100000", "1e65"):
        assert await fuzzer.post("admin", mutation, {"amount": amount}) == ["BAD_USER_INPUT"]
        literal = "mutation { " + create.replace("AMOUNT", f'"{amount}"') + " }"
        assert await fuzzer.post("admin", literal) == ["GRAPHQL_VALIDATION_FAILED"]
    # and the largest that may be written is read as usual
    assert await fuzzer.post("admin", mutation, {"amount": "1e63"}) == []


async def test_an_integer_past_pythons_digit_limit_is_the_clients_mistake(bare: Fuzzer) -> None:
    # int() refuses more than 4300 digits with ValueError: in a JSON body, a 500; in a
    # literal, an INTERNAL error (before, graphql-core's message quoting Python's advice
    # to call sys.set_int_max_str_digits()). Fixed: PledgeRouter.decode_json and
    # present() (app/graphql/extensions/errors.py).
    digits = "7" * 5000
    body = f'{{"query": "{{ programs {{ totalCount }} }}", "variables": {{"n": {digits}}}}}'
    assert await bare.raw("POST", content=body.encode(), headers={"Content-Type": JSON}) == [
        "BAD_REQUEST"
    ]
    query = f"{{ programs(first: {digits}) {{ totalCount }} }}"
    assert await bare.post("anonymous", query) == ["GRAPHQL_VALIDATION_FAILED"]

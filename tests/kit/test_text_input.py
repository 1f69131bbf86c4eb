"""Text as hostile or careless clients send it (app/kit/text.py).

NUL and lone surrogates ("\\ud800", which JSON can escape but no database, hash or
UTF-8 answer can take) are refused wherever a string enters: arguments, variables,
filters, mutation input, reasons, idempotency keys, token claims, key names, WebSocket
credentials, persisted documents and CSV parameters; with a code, never INTERNAL, and
nothing is written. Invisible formatting (bidi overrides, zero-width characters) is
refused where it could disguise who or what — names, titles, codes, keys, token
subjects — while prose keeps what real scripts need.

Strings with lone surrogates are sent as JSON text of our own (`json.dumps` escapes
them): an HTTP client cannot encode them itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app import models as m
from app.auth.keys import create_key, revoke_key
from app.errors import DomainError
from app.kit.ids import encode_global_id
from app.kit.text import Kind, text_problem
from tests import factories as f
from tests.auth.test_callers import JWT_SETTINGS, token
from tests.conftest import Database, GraphQLClient
from tests.http.test_persisted_operations import INITIATIVES, manifest
from tests.live import LiveData, Server, live_data, start_server
from tests.wsclient import LiveClient

CREATE_DOCUMENT = """
mutation($input: CreateSourceDocumentInput!, $reason: String, $key: String) {
  createSourceDocument(input: $input, reason: $reason, idempotencyKey: $key) {
    sourceDocument { id ref title publisher }
    errors { field code message }
  }
}"""
CREATE_MILESTONE = """
mutation($input: CreateMilestoneInput!, $reason: String, $key: String) {
  createMilestone(input: $input, reason: $reason, idempotencyKey: $key) {
    milestone { id title description }
    errors { field code message }
  }
}"""
NUL, SURROGATE = "\x00", "\ud800"

# Real titles and prose, which every rule must keep as written: the demo's German and
# Chinese; Persian with a zero-width non-joiner; Hindi with a zero-width joiner after a
# virama; emoji sequences joined by zero-width joiners; Arabic and Hebrew (whose
# letters ruff's RUF001 takes for look-alikes of Latin ones).
TITLES = [
    "Gemeinsamer Wohlstand: Förderung ländlicher Räume",
    "共同富裕 · 乡村振兴",
    "برنامه\u200cهای توسعه\u200cی روستایی",  # noqa: RUF001 (real script)
    "क्\u200dषेत्रीय विकास",
    "Remote work 👩\u200d💻 and ❤️\u200d🔥",
    "الرخاء المشترك",
    "שגשוג משותף",
]
# Prose may also hold word breaks (Thai marks them with U+200B), direction marks, and
# bidi isolates or embeddings closed within their line.
PROSE = [
    *TITLES,
    "ภาษาไทย\u200bไม่มีช่องว่าง",
    "The article (\u2067الرخاء المشترك\u2069) says:\n\u202bשגשוג\u202c, twice.",  # noqa: RUF001 (real script)
    "Zahl \u200f123\u200e, Tabelle\tSpalte",
]


def body(query: str, variables: dict[str, Any] | None = None) -> str:
    # json.dumps escapes every non-ASCII character: lone surrogates survive as "\ud800"
    return json.dumps({"query": query, "variables": variables or {}})


async def send(
    client: GraphQLClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.http.post(
        "/graphql",
        content=body(query, variables),
        headers={**client.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def trail_length(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.Change)) or 0


def document(**changes: Any) -> dict[str, Any]:
    return {"ref": "hostile-text-1", "title": "A careful title", **changes}


async def first_initiative(db: Database) -> str:
    async with db.sessions() as session:
        pk = await session.scalar(select(func.min(m.Initiative.id)))
    assert pk is not None
    return encode_global_id("Initiative", pk)


@pytest.fixture
async def editor(demo: Database, client: GraphQLClient) -> GraphQLClient:
    async with demo.sessions() as session, session.begin():
        secret = await f.api_key(session, "editor", name="text-editor")
    return client.with_key(secret)


# --- NUL and lone surrogates: refused wherever a string enters -------------------------

READS = [
    # (operation, variables, the field the error names)
    ("query($c: String!) { initiative(code: $c) { id } }", {"c": "CP-01" + NUL}, "$c"),
    ("query($c: String!) { initiative(code: $c) { id } }", {"c": "CP" + SURROGATE}, "$c"),
    ('{ initiative(code: "CP-01\\u0000") { id } }', {}, "code"),
    (
        "query($t: String!) { initiatives(filter: {title: {contains: $t}}) { totalCount } }",
        {"t": SURROGATE},
        "$t",
    ),
    (
        "query($f: InitiativeFilter) { initiatives(filter: $f) { totalCount } }",
        {"f": {"or": [{"code": {"eq": "CP-01"}}, {"code": {"in": ["CP-02", "x" + SURROGATE]}}]}},
        "$f.or.1.code.in.1",
    ),
    (
        "query($f: InitiativeFilter) { initiatives(filter: $f) { totalCount } }",
        {"f": {"title": {"startsWith": "a" + NUL}}},
        "$f.title.startsWith",
    ),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": "SW5p" + SURROGATE}, "$id"),
    ("query($a: String) { initiatives(after: $a) { totalCount } }", {"a": SURROGATE}, "$a"),
]


@pytest.mark.parametrize(("query", "variables", "field"), READS)
async def test_nul_and_lone_surrogates_in_reads_are_invalid_arguments(
    demo: Database, client: GraphQLClient, query: str, variables: dict[str, Any], field: str
) -> None:
    # when
    answer = await send(client, query, variables)
    # then: a typed error naming where the string was, and nothing ran
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": field}, error
    assert answer["data"] is None


WRITES = [
    # (mutation, its variables apart from the input, the input's changes, field)
    (CREATE_DOCUMENT, {}, {"title": "A " + SURROGATE}, "$input.title"),
    (CREATE_DOCUMENT, {}, {"ref": "doc" + NUL}, "$input.ref"),
    (CREATE_DOCUMENT, {"reason": "because" + SURROGATE}, {}, "$reason"),
    (CREATE_DOCUMENT, {"reason": "because" + NUL}, {}, "$reason"),
    (CREATE_DOCUMENT, {"key": SURROGATE}, {}, "$key"),
    (CREATE_MILESTONE, {}, {"description": "line one" + NUL + "hidden"}, "$input.description"),
    (CREATE_MILESTONE, {"key": "k" + NUL}, {}, "$key"),
]


@pytest.mark.parametrize(("mutation", "arguments", "changes", "field"), WRITES)
async def test_nul_and_lone_surrogates_in_writes_are_refused_and_nothing_is_written(
    demo: Database,
    editor: GraphQLClient,
    mutation: str,
    arguments: dict[str, Any],
    changes: dict[str, Any],
    field: str,
) -> None:
    # given
    if mutation is CREATE_MILESTONE:
        given = {"initiativeId": await first_initiative(demo), "title": "T", "status": "PLANNED"}
    else:
        given = document()
    before = await trail_length(demo)
    # when
    answer = await send(editor, mutation, {"input": {**given, **changes}, **arguments})
    # then
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": field}, error
    assert await trail_length(demo) == before


async def test_an_object_key_no_string_may_hold_is_refused(
    demo: Database, editor: GraphQLClient
) -> None:
    answer = await send(editor, CREATE_DOCUMENT, {"input": {**document(), "x" + SURROGATE: 1}})
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": "$input"}, error


async def test_a_csv_download_refuses_nul_and_lone_surrogates_in_its_parameters(
    demo: Database, client: GraphQLClient
) -> None:
    # given
    async with demo.sessions() as session, session.begin():
        secret = await f.api_key(session, "auditor", name="text-auditor")
    headers = {"Authorization": f"Bearer {secret}"}
    cases = [
        ({"groupBy": "INITIATIVE", "currency": "CNY" + NUL}, "$currency"),
        (
            {
                "groupBy": "INITIATIVE",
                "filter": json.dumps({"initiative": {"code": {"eq": SURROGATE}}}),
            },
            "$filter.initiative.code.eq",
        ),
    ]
    for params, field in cases:
        # when
        response = await client.http.get(
            "/reports/budget-summary.csv", params=params, headers=headers
        )
        # then
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": field}, error


async def test_a_document_with_a_lone_surrogate_is_a_bad_request_in_allow_list_mode(
    demo: Database, client_with: Any, tmp_path: Path
) -> None:
    # given: only registered documents run; a document is recognised by its SHA-256
    registered = manifest(tmp_path / "operations.json", INITIATIVES)
    client = client_with(persisted_operations_file=registered, persisted_operations_only=True)
    # when: a text that cannot be hashed (nor parsed)
    response = await client.http.post(
        "/graphql",
        content=body('{ initiative(code: "' + SURROGATE + '") { id } }'),
        headers={"Content-Type": "application/json", "Accept": "application/graphql-response+json"},
    )
    # then
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "surrogate" in error["message"]
    # and a document id holding one names no document (the id is 64 hex digits)
    response = await client.http.post(
        "/graphql",
        content=json.dumps({"documentId": "sha256:" + SURROGATE}),
        headers={"Content-Type": "application/json", "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


# --- who: token subjects and claims, key names ----------------------------------------

PROGRAMS = "{ programs { totalCount } }"


@pytest.mark.parametrize(
    "subject",
    [
        "alice" + SURROGATE,
        "alice" + NUL,
        "\u202eecila",  # shown right to left: "alice"
        "ali\u200bce",
        "alice\ufeff",
        " alice",
    ],
)
async def test_a_token_whose_subject_cannot_name_an_actor_is_refused(
    demo: Database, client_with: Any, subject: str
) -> None:
    # given: an editor's token whose subject would be the trail's actor "jwt:<subject>"
    client = client_with(**JWT_SETTINGS)
    headers = {
        "Authorization": f"Bearer {token(sub=subject, role='editor')}",
        "Content-Type": "application/json",
    }
    before = await trail_length(demo)
    # when: it writes, and it reads
    write = await client.http.post(
        "/graphql", content=body(CREATE_DOCUMENT, {"input": document()}), headers=headers
    )
    read = await client.http.post("/graphql", content=body(PROGRAMS), headers=headers)
    # then: the token proves no one, at once (not INTERNAL on every write), and nothing
    # is written under a name that could pass for another
    for response in (write, read):
        assert response.status_code == 401, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "subject" in error["message"]
    assert await trail_length(demo) == before


async def test_a_token_with_a_plain_subject_writes_under_its_name(
    demo: Database, client_with: Any
) -> None:
    # given
    client = client_with(**JWT_SETTINGS)
    headers = {"Authorization": f"Bearer {token(sub='alice@example.org', role='editor')}"}
    # when
    written = await client.http.post(
        "/graphql",
        json={"query": CREATE_DOCUMENT, "variables": {"input": document()}},
        headers=headers,
    )
    # then
    assert written.json()["data"]["createSourceDocument"]["errors"] == []
    async with demo.sessions() as session:
        last = await session.scalar(select(m.Change).order_by(m.Change.sequence.desc()))
    assert last is not None and last.actor_name == "jwt:alice@example.org"


async def test_a_partner_token_listing_a_code_no_string_may_hold_is_forbidden(
    demo: Database, client_with: Any
) -> None:
    # given: a partner token whose initiatives claim holds a NUL (PostgreSQL cannot
    # even look such a code up) or an invisible character
    client = client_with(**JWT_SETTINGS)
    for code in ("CP-01" + NUL, "CP-01\u200b"):
        partner = token(role="partner", initiatives=["CP-02", code])
        # when
        response = await client.http.post(
            "/graphql", json={"query": PROGRAMS}, headers={"Authorization": f"Bearer {partner}"}
        )
        # then
        assert response.status_code == 403, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "initiatives" in error["message"]


async def test_key_names_codes_and_creators_no_trail_can_hold_are_refused(db: Database) -> None:
    # given: names as a command line gives them (bytes that are not UTF-8 arrive as lone
    # surrogates) or as someone disguising a key would choose them
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, code="CP-01")
    attempts = [
        {"name": "\u202enimda"},
        {"name": "ops\u200d"},
        {"name": "ops", "created_by": "cli:\u202etoor"},
        {"name": "ops", "role": "partner", "initiative_codes": ["CP-01", "\udcff"]},
    ]
    for attempt in attempts:
        arguments: dict[str, Any] = {"role": "viewer", "created_by": "cli:ops", **attempt}
        # when / then: refused with a message, nothing written
        with pytest.raises(DomainError):
            async with db.sessions() as session, session.begin():
                await create_key(session, **arguments)
    with pytest.raises(DomainError, match="name"):
        async with db.sessions() as session, session.begin():
            await revoke_key(session, "ops\udcff")
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.ApiKey)) == 0


# --- what: names, codes and titles refuse invisible formatting; prose keeps it ---------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "\u202eevil"}, "title"),
        ({"title": "Ali\u200bbaba Foundation"}, "title"),
        ({"title": "Ali\u200dbaba Foundation"}, "title"),
        ({"title": "\ufeffA careful title"}, "title"),
        ({"publisher": "Xinhua\u2066"}, "publisher"),
        ({"ref": "hostile\u200b-1"}, "ref"),
        ({"ref": "hostile\u00ad-1"}, "ref"),
    ],
)
async def test_invisible_formatting_in_names_and_codes_is_refused(
    demo: Database, editor: GraphQLClient, changes: dict[str, str], field: str
) -> None:
    # given
    before = await trail_length(demo)
    # when
    answer = await send(editor, CREATE_DOCUMENT, {"input": document(**changes)})
    # then
    payload = answer["data"]["createSourceDocument"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "VALIDATION")]
    assert "U+" in payload["errors"][0]["message"]  # the character, named
    assert await trail_length(demo) == before


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"input": {"description": "a \u202eclosed\u202c and an \u202eopen one"}}, "description"),
        ({"input": {"description": "\u2067starts here\nends there\u2069"}}, "description"),
        ({"reason": "approved by \u202enaiv"}, "reason"),
        ({"key": "retry-1\u200b"}, "idempotencyKey"),
    ],
)
async def test_prose_may_not_leave_text_direction_open_nor_keys_hold_invisible_characters(
    demo: Database, editor: GraphQLClient, arguments: dict[str, Any], field: str
) -> None:
    # given
    given = {"initiativeId": await first_initiative(demo), "title": "T", "status": "PLANNED"}
    before = await trail_length(demo)
    # when
    variables = {**arguments, "input": {**given, **arguments.get("input", {})}}
    answer = await send(editor, CREATE_MILESTONE, variables)
    # then
    payload = answer["data"]["createMilestone"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "VALIDATION")]
    assert await trail_length(demo) == before


async def test_real_titles_and_prose_are_written_as_given(
    demo: Database, editor: GraphQLClient
) -> None:
    initiative = await first_initiative(demo)
    for n, prose in enumerate(PROSE):
        title = TITLES[n % len(TITLES)]
        # when
        answer = await send(
            editor,
            CREATE_MILESTONE,
            {
                "input": {
                    "initiativeId": initiative,
                    "title": title,
                    "status": "PLANNED",
                    "description": prose,
                },
                "reason": prose,
                "key": f"real-text-{n}",
            },
        )
        # then
        payload = answer["data"]["createMilestone"]
        assert payload["errors"] == [], (title, prose, payload["errors"])
        assert (payload["milestone"]["title"], payload["milestone"]["description"]) == (
            title,
            prose,
        )


# --- the rules themselves ---------------------------------------------------------------


@pytest.mark.parametrize("value", TITLES)
def test_real_titles_pass_the_rules_for_names_and_prose(value: str) -> None:
    assert text_problem(value, Kind.NAME) is None
    assert text_problem(value, Kind.TEXT) is None


@pytest.mark.parametrize("value", PROSE)
def test_real_prose_passes_the_rule_for_prose(value: str) -> None:
    assert text_problem(value, Kind.TEXT) is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("a" + NUL, Kind.TEXT),
        ("a" + SURROGATE, Kind.TEXT),
        ("a\x1b[31m", Kind.TEXT),  # a terminal escape
        ("a\x85", Kind.TEXT),  # a C1 control
        ("\u202ea", Kind.TEXT),
        ("a\u202c", Kind.TEXT),  # a close without an open
        ("\u202a\u2066a\u202c\u2069", Kind.TEXT),  # crossed, not nested
        ("\u2067a\u2028b\u2069", Kind.TEXT),  # across a line
        ("a\u200db", Kind.NAME),  # a joiner between ASCII letters
        ("\u200d👩", Kind.NAME),  # a joiner at the start
        ("👩\u200d", Kind.NAME),  # ... and at the end
        ("برنامه\u200c ها", Kind.NAME),  # noqa: RUF001 (Persian) a non-joiner before a space
        ("a\u2060b", Kind.NAME),
        ("a\u200eb", Kind.NAME),
        ("flag\U000e0067", Kind.NAME),  # a tag character
        ("ali\u00a0ce", Kind.IDENTIFIER),
        ("alice\u200c", Kind.IDENTIFIER),
        ("alice ", Kind.IDENTIFIER),
        ("a\nb", Kind.IDENTIFIER),
    ],
)
def test_what_could_hide_or_disguise_is_refused(value: str, kind: Kind) -> None:
    assert text_problem(value, kind) is not None


# Characters that render as nothing but are no format character (not Cf): Unicode's
# default-ignorable letters and marks, and the blank braille pattern.
BLANK = [
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\u1160",  # HANGUL JUNGSEONG FILLER
    "\u3164",  # HANGUL FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u17b4",  # KHMER VOWEL INHERENT AQ
    "\u2800",  # BRAILLE PATTERN BLANK
    "\ufe0f",  # VARIATION SELECTOR-16, after a Latin letter
    "\U000e0100",  # VARIATION SELECTOR-17, likewise
]


@pytest.mark.parametrize("character", BLANK)
@pytest.mark.parametrize("kind", [Kind.NAME, Kind.IDENTIFIER])
def test_characters_that_render_as_nothing_are_refused_in_names_and_identifiers(
    character: str, kind: Kind
) -> None:
    # given: "alice" and a name that looks the same
    value = "ali" + character + "ce"
    # when
    problem = text_problem(value, kind)
    # then: refused, the character named
    assert problem is not None
    assert f"U+{ord(character):04X}" in problem


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_line_and_paragraph_separators_are_refused_in_names(separator: str) -> None:
    assert text_problem(f"Phase 1{separator}Phase 2", Kind.NAME) is not None
    assert text_problem(f"Phase 1{separator}Phase 2", Kind.IDENTIFIER) is not None


@pytest.mark.parametrize(
    "value",
    [
        "\u2764\ufe0f",  # a red heart, its emoji form
        "\u203c\ufe0f",  # a double exclamation mark, likewise
        "1\ufe0f\u20e3",  # a keycap
        "\u8fb6\U000e0100",  # an ideograph with its variation (IVS)
        "\u1820\u180b\u1821",  # Mongolian, a free variation selector in a word
    ],
)
def test_a_variation_selector_after_what_it_varies_stays_in_names(value: str) -> None:
    assert text_problem(value, Kind.NAME) is None


async def test_a_name_holding_a_hangul_filler_is_refused_and_nothing_is_written(
    demo: Database, editor: GraphQLClient
) -> None:
    # given
    before = await trail_length(demo)
    # when: a title that shows as "Budget review" and a reference that shows as "REF-1"
    titled = await send(editor, CREATE_DOCUMENT, {"input": document(title="Budget\u3164review")})
    referenced = await send(editor, CREATE_DOCUMENT, {"input": document(ref="REF\u2800-1")})
    # then
    for answer, field in ((titled, "title"), (referenced, "ref")):
        errors = answer["data"]["createSourceDocument"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "VALIDATION")]
    assert await trail_length(demo) == before


# --- WebSocket: the credential in connection_init, and a subscription's variables ------


@pytest.fixture(params=["sqlite", "postgresql"])
async def server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[LiveData, Server]]:
    async for data in live_data(request.param, tmp_path):
        started = await start_server(data.url, events_poll_seconds=0.2)
        try:
            yield data, started
        finally:
            started.stop()


async def test_websocket_credentials_and_variables_no_string_may_hold_are_refused(
    server: tuple[LiveData, Server],
) -> None:
    data, live = server
    # A credential that cannot be a key or a token (it cannot even be hashed): refused
    # at connection_init, as any credential that proves nothing is.
    for credential in ("Bearer pl_" + SURROGATE, "Bearer pl_" + NUL, "Bearer pl_\u202e"):
        client = await LiveClient.connect(live.ws, init=False)
        await client.send({"type": "connection_init", "payload": {"Authorization": credential}})
        closed = await client.ended(wait=30)
        assert closed.code == 4403, closed
    # A subscription whose variables hold one: an error for that operation; the
    # connection goes on.
    query = """subscription($c: String!) {
      budgetSummaryUpdates(groupBy: [INITIATIVE], filter: {initiative: {code: {eq: $c}}}) {
        groupCount
      }
    }"""
    async with await LiveClient.connect(
        live.ws, authorization=f"Bearer {data.keys['viewer']}"
    ) as client:
        for code in ("CP-01" + NUL, "CP" + SURROGATE):
            message = await (await client.subscribe(query, {"c": code})).next()
            assert message["type"] == "error", message
            [error] = message["payload"]
            assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": "$c"}
        fine = await client.subscribe("{ programs { totalCount } }")
        assert (await fine.data())["programs"]["totalCount"] == 1
    async with httpx.AsyncClient(base_url=live.http) as http:
        assert (await http.get("/healthz")).status_code == 200

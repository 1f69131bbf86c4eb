"""Malformed HTTP requests: bodies, content types, methods, query parameters and headers
of every kind get a clear answer."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.http.fuzz.checks import Fuzzer, fuzz
from tests.http.fuzz.operations import garbled
from tests.http.fuzz.values import JSON, JSON_VALUES, SPEC

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
CONTENT_TYPES = [
    JSON,
    f"{JSON}; charset=utf-8",
    f"{JSON}; charset=latin-1",
    "APPLICATION/JSON",
    f"{JSON};",
    "application/jsonx",
    "application/graphql",
    "application/graphql-response+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "multipart/mixed",
    "*/*",
    "",
    ";;;",
    'application/json; charset="',
]
ACCEPTS = [
    None,
    JSON,
    SPEC,
    f"{SPEC}, {JSON};q=0.9",
    f"{SPEC};q=0",
    f"{SPEC};q=abc",
    f"{SPEC};q=nan",
    "*/*",
    "text/html",
    "text/event-stream",
    "multipart/mixed",
    "application/xml",
    "",
    ",,,;;",
]
AUTHORIZATIONS = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "Bearer",
            "Bearer ",
            "bearer nope",
            "Basic dXNlcjpwYXNz",
            "Bearer a.b.c",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            "Bearer " + "x" * 5000,
            "Token abc",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
)
OPERATION = st.sampled_from(
    [
        "{ programs { totalCount } }",
        "query Q { initiatives(first: 1) { nodes { code } } }",
        'mutation { archiveInitiative(input: {id: "x", version: 1}) { errors { code } } }',
        "subscription { changes { __typename } }",
        "{ __schema { queryType { name } } }",
    ]
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            [
                "operation",
                "json",
                "number",
                "truncated",
                "binary",
                "deep",
                "fields",
                "encoding",
                "large",
            ]
        )
    )
    if kind == "operation":
        return json.dumps({"query": draw(OPERATION)}).encode()
    if kind == "json":  # any JSON: objects, arrays, numbers, strings, null
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "number":  # past Python's 4300 digits for int()
        digits = "7" * draw(st.sampled_from([10, 4300, 4301, 20_000]))
        text = f'{{"query": "{{ programs {{ totalCount }} }}", "variables": {{"n": {digits}}}}}'
        return text.encode()
    if kind == "truncated":
        text = json.dumps({"query": draw(OPERATION), "variables": {"a": 1}})
        return text[: draw(st.integers(0, len(text) - 1))].encode()
    if kind == "binary":
        return draw(st.binary(max_size=60))
    if kind == "deep":
        n = draw(st.sampled_from([10, 100, 1000, 5000, 50_000]))
        inner = draw(st.sampled_from(['"query"', "1", "null"]))
        where = draw(st.sampled_from(["variables", "extensions", "query", "top"]))
        deep = "[" * n + inner + "]" * n
        if where == "top":
            return deep.encode()
        return f'{{"query": "{{ programs {{ totalCount }} }}", "{where}": {deep}}}'.encode()
    if kind == "fields":  # the right keys, with values of any type
        body: dict[str, Any] = {}
        for name in draw(
            st.lists(
                st.sampled_from(
                    ["query", "variables", "operationName", "extensions", "documentId", "id"]
                ),
                unique=True,
                max_size=4,
            )
        ):
            body[name] = draw(st.one_of(JSON_VALUES, OPERATION))
        if draw(st.booleans()):
            persisted = draw(
                st.fixed_dictionaries(
                    {
                        "version": JSON_VALUES,
                        "sha256Hash": st.one_of(JSON_VALUES, st.just("0" * 64)),
                    }
                )
            )
            body["extensions"] = {"persistedQuery": persisted}
        return json.dumps(body).encode()
    if kind == "encoding":
        text = json.dumps({"query": draw(OPERATION) + " # é"})
        codec = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252"]))
        return text.encode(codec)
    size = draw(st.sampled_from([1_048_000, 1_048_577, 2_000_000]))
    return json.dumps(
        {"query": "{ programs { totalCount } }", "variables": {"pad": "x" * size}}
    ).encode()


@st.composite
def query_params(draw: st.DrawFn) -> dict[str, str]:
    params: dict[str, str] = {}
    if draw(st.booleans()):
        params["query"] = draw(st.one_of(OPERATION, garbled(OPERATION), st.text(max_size=20)))
    for name in ("variables", "extensions", "operationName", "documentId"):
        if draw(st.integers(0, 3)) == 0:
            params[name] = draw(
                st.one_of(
                    JSON_VALUES.map(json.dumps),
                    st.text(max_size=20),
                    st.sampled_from(
                        ["[" * 3000 + "]" * 3000, '{"persistedQuery": {"sha256Hash": 1}}']
                    ),
                )
            )
    return params


@fuzz(examples=400)
@given(
    method=st.sampled_from(["POST"] * 5 + ["GET"] * 3 + METHODS),
    body=bodies(),
    params=query_params(),
    content_type=st.one_of(st.sampled_from(CONTENT_TYPES), st.text(max_size=20)),
    accept=st.one_of(st.sampled_from(ACCEPTS), st.text(max_size=20)),
    authorization=st.one_of(st.sampled_from([None, "viewer", "admin", "partner"]), AUTHORIZATIONS),
    path=st.sampled_from(["/graphql"] * 8 + ["/graphql/", "/graphql?", "/graphql?query"]),
    production=st.booleans(),
)
async def test_malformed_http_requests(
    fuzzer: Fuzzer,
    method: str,
    body: bytes,
    params: dict[str, str],
    content_type: str,
    accept: str | None,
    authorization: str | None,
    path: str,
    production: bool,
) -> None:
    """Any method, body, content type, query string and headers: an answer with a code."""
    headers: dict[str, Any] = {}
    if content_type:
        headers["Content-Type"] = content_type.encode("utf-8")
    if accept is not None:
        headers["Accept"] = accept.encode("utf-8")
    if authorization in fuzzer.keys:
        headers["Authorization"] = f"Bearer {fuzzer.keys[authorization]}"
    elif authorization is not None:
        headers["Authorization"] = authorization.encode("latin-1")
    content = None if method in ("GET", "HEAD") else body
    await fuzzer.raw(
        method, url=path, content=content, params=params, headers=headers, production=production
    )

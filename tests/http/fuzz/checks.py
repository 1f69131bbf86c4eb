"""Sending, and what every response must be (`assert_safe`); the Fuzzer that sends as
every caller and counts what it sent; the hypothesis settings of every fuzz test."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import httpx
import hypothesis
from hypothesis import HealthCheck
from sqlalchemy import select

from app.models import ChainHead
from tests.conftest import Database
from tests.http.fuzz.values import JSON, SPEC

# Internals a response must never show (unless the request itself carried the text).
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "site-packages",
    "dist-packages",
    "/work/",
    "/usr/",
    "/home/",
    "/tmp/",
    ".py",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "psycopg",
    "strawberry",
    "pydantic",
    "starlette",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
    " WHERE ",
    "RETURNING ",
    "[SQL:",
    "DETAIL:",
    "Background on this error",
    "sqlalche.me",
    "Error(",
    "Exception(",
    "<class ",
    " object at 0x",
    "postgresql://",
    "postgresql+asyncpg",
    "sqlite+aiosqlite",
    "pledge_test_",
)
LEAK_PATTERNS = (
    re.compile(r"line \d+, in "),
    # ValueError, IntegrityError, KeyError...: an exception's class name.
    re.compile(r"\b[A-Za-z]*[a-z](?:Error|Exception)\b"),
)
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
TOP_LEVEL = {"data", "errors", "extensions"}


def strings(value: Any) -> Iterable[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)


def leaks(body: Any, sent: str) -> list[str]:
    found = []
    for text in strings(body):
        found += [m for m in LEAK_MARKERS if m in text and m not in sent]
        for pattern in LEAK_PATTERNS:
            found += [m for m in pattern.findall(text) if m not in sent]
    return found


def payload_codes(value: Any) -> Iterable[Any]:
    """The codes of mutation payloads' `errors { code }`, wherever they sit in `data`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "errors" and isinstance(item, list):
                yield from (e["code"] for e in item if isinstance(e, dict) and "code" in e)
            else:
                yield from payload_codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from payload_codes(item)


def assert_safe(response: httpx.Response, sent: str, method: str) -> list[str]:
    """The response's checks (see the module's docstring); its error codes."""
    status = response.status_code
    where = f"{method} {sent[:3000]}\n-> {status}: {response.text[:2000]}"
    assert status < 500 or status == 503, where
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if status in (307, 308):  # /graphql/ to /graphql
        assert response.headers.get("location"), where
        return []
    if method == "HEAD":  # no body
        assert status in (200, 405), where
        return []
    if media_type == "text/html":  # GraphiQL, for a browser's GET without a query
        assert method == "GET" and status == 200, where
        assert not leaks([response.text], sent), where
        return []
    assert media_type in (JSON, SPEC), where
    body = json.loads(response.text)
    assert isinstance(body, dict) and set(body) <= TOP_LEVEL, where
    assert "data" in body or "errors" in body, where
    errors = body.get("errors")
    assert errors is None or (isinstance(errors, list) and errors), where
    codes = []
    for error in errors or ():
        assert isinstance(error, dict) and isinstance(error.get("message"), str), where
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and CODE.fullmatch(code), where
        codes.append(code)
    assert "INTERNAL" not in codes, f"an unexpected exception: {where}"
    if status == 200:
        assert "data" in body, where
    else:
        assert "data" not in body and codes, where
    if status == 503:
        assert set(codes) == {"BUSY"}, where
        assert response.headers.get("retry-after", "").isdigit(), where
    if status == 401:
        assert response.headers.get("www-authenticate"), where
    if status == 405:
        assert response.headers.get("allow"), where
    for code in payload_codes(body.get("data")):
        assert isinstance(code, str) and CODE.fullmatch(code), where
    found = leaks(body, sent)
    assert not found, f"leaked {found}: {where}"
    return codes


# A test's requests, at the least (derandomized, so the same every run).
MINIMUM = {
    "test_valid_queries": 300,
    "test_valid_mutations": 450,
    "test_valid_subscriptions": 80,
    "test_invalid_operations": 600,
    "test_variables_of_every_type": 200,
    "test_documents_past_every_limit": 190,
    "test_malformed_http_requests": 380,
}
TOTALS: Counter[str] = Counter()


class Fuzzer:
    """Sends requests to the app as each caller and checks every response."""

    def __init__(
        self, db: Database, http: httpx.AsyncClient, production: httpx.AsyncClient
    ) -> None:
        self.db = db
        self.http = http
        # The same data behind production's defaults: no GraphiQL, introspection, "Did
        # you mean" hints or anonymous reads.
        self.production = production
        self.keys: dict[str, str | None] = {"anonymous": None}
        self.sent = 0
        self.distinct: set[int] = set()  # requests, by what they sent
        self.writes = 0
        self.outcomes: Counter[str] = Counter()

    async def trail_length(self) -> int:
        """How many changes the audit trail holds: every write adds to it."""
        async with self.db.sessions() as session:
            return int(await session.scalar(select(ChainHead.last_sequence)) or 0)

    def headers(self, role: str, accept: str | None) -> dict[str, str]:
        headers = {}
        key = self.keys[role]
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if accept is not None:
            headers["Accept"] = accept
        return headers

    async def post(
        self, role: str, query: Any, variables: Any = None, *, accept: str | None = SPEC
    ) -> list[str]:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        content = json.dumps(body)
        headers = {"Content-Type": JSON, **self.headers(role, accept)}
        response = await self.http.post("/graphql", content=content, headers=headers)
        return self.check(response, content, "POST")

    async def get(
        self, role: str, query: str, variables: Any = None, *, accept: str | None = SPEC
    ) -> list[str]:
        params = {"query": query}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        response = await self.http.get(
            "/graphql", params=params, headers=self.headers(role, accept)
        )
        return self.check(response, json.dumps(params), "GET")

    async def raw(
        self,
        method: str,
        *,
        url: str = "/graphql",
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, Any] | None = None,
        production: bool = False,
    ) -> list[str]:
        http = self.production if production else self.http
        response = await http.request(method, url, content=content, params=params, headers=headers)
        sent = (
            repr(content)
            + repr(params)
            + repr(headers)
            + (content or b"").decode("utf-8", "replace")
        )
        return self.check(response, sent, method)

    def check(self, response: httpx.Response, sent: str, method: str) -> list[str]:
        codes = assert_safe(response, sent, method)
        self.sent += 1
        self.distinct.add(hash((method, sent)))
        self.outcomes[f"{response.status_code} {codes[0] if codes else 'ok'}"] += 1
        return codes


RUNS = int(os.environ.get("FUZZ_RUNS", "1"))
FUZZ = hypothesis.settings(
    derandomize=RUNS == 1,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def fuzz(examples: int) -> hypothesis.settings:
    return hypothesis.settings(FUZZ, max_examples=examples * RUNS)

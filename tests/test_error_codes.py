"""Every code a client can see is a member of ErrorCode (app/errors.py), and written
only as one: no module spells a code as a plain string, and every `code` a response
body is built with comes from the enum. Metrics and docs read the same enum."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.described import DescribedStrEnum
from app.errors import ErrorCode
from app.observability.metrics import OTHER_CODE, Metrics
from tests.conftest import GraphQLClient

APP = Path(__file__).resolve().parents[1] / "app"
CODES = frozenset(code.value for code in ErrorCode)
# A code at the head of a message or a WebSocket close reason: "BUSY: retry shortly".
_LEADING_CODE = re.compile(r"([A-Z][A-Z_]+):")
# A code in a body written out as bytes: `"code":"REQUEST_TOO_LARGE"`.
_CODE_IN_JSON = re.compile(r'"code"\s*:\s*"([A-Z_]+)"')


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        if path == APP / "errors.py":
            continue  # the enum itself
        yield str(path.relative_to(APP.parent)), ast.parse(path.read_text(encoding="utf-8"))


def _docstrings(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return sorted(found)


def plain_codes(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, code) of each code written as a string rather than an ErrorCode member."""
    docstrings = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str):
            if node.value in CODES:
                found.append((node.lineno, node.value))
            leading = _LEADING_CODE.match(node.value)
            if leading and leading[1] in CODES:
                found.append((node.lineno, leading[1]))
        elif isinstance(node.value, bytes):
            text = node.value.decode("latin-1")
            found += [(node.lineno, c) for c in _CODE_IN_JSON.findall(text) if c in CODES]
    return sorted(found)


def test_no_module_writes_a_code_as_a_plain_string() -> None:
    # given every module but the enum's / when its string constants are read
    found = [
        f"{path}:{line} {code}" for path, tree in _modules() for line, code in plain_codes(tree)
    ]
    # then none is a code: each is written ErrorCode.<CODE> (prose in descriptions may
    # name codes; a value, a message's head or a JSON body may not)
    assert found == []


def test_the_check_finds_a_code_written_as_a_string() -> None:
    # The test above would pass on an empty walk: here it meets each form once.
    tree = ast.parse(
        'def f():\n    """Refused with BUSY."""\n'
        '    a = {"code": "BAD_REQUEST"}\n'
        '    b = f"RATE_LIMITED: {x}"\n'
        '    c = b\'{"extensions":{"code":"REQUEST_TOO_LARGE"}}\'\n'
        '    d = "Refused (CONFLICT) when stale"\n'
    )
    assert plain_codes(tree) == [(3, "BAD_REQUEST"), (4, "RATE_LIMITED"), (5, "REQUEST_TOO_LARGE")]


# Functions that take an error's extensions as a positional argument.
_TAKES_EXTENSIONS = frozenset({"_rebuild"})


def _extensions(tree: ast.Module) -> Iterator[ast.Dict]:
    """Each dict literal an error's extensions are built from: `extensions=`, the value
    of an `"extensions"` key or an `extensions` variable, an argument of `_rebuild`, a
    WebSocket error's `{"message", "code"}` (not a WebSocket close, whose code is a number)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            args = [k.value for k in node.keywords if k.arg == "extensions"]
            if isinstance(node.func, ast.Name) and node.func.id in _TAKES_EXTENSIONS:
                args += node.args
            yield from (a for a in args if isinstance(a, ast.Dict))
        elif isinstance(node, ast.Dict):
            keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
            if "message" in keys and "code" in keys:
                yield node
            yield from (
                v
                for k, v in zip(keys, node.values, strict=True)
                if k == "extensions" and isinstance(v, ast.Dict)
            )
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "extensions" for t in targets):
                yield node.value


def _code_values(tree: ast.Module) -> Iterator[tuple[int, ast.expr]]:
    for extensions in _extensions(tree):
        for key, value in zip(extensions.keys, extensions.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "code":
                yield extensions.lineno, value


def _from_the_enum(value: ast.expr) -> bool:
    """`ErrorCode.X.value`, or the `.value` of something typed ErrorCode (`code.value`,
    `error.code.value`: mypy holds every such `code` to ErrorCode)."""
    if not (isinstance(value, ast.Attribute) and value.attr == "value"):
        return False
    inner = value.value
    if isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name):
        return inner.value.id == "ErrorCode" or inner.attr == "code"
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
        return inner.func.id == "_client_error_code"  # returns an ErrorCode
    return (isinstance(inner, ast.Name) and inner.id == "code") or (
        isinstance(inner, ast.Attribute) and inner.attr == "code"
    )


def test_every_code_a_response_carries_comes_from_the_enum() -> None:
    # given every `"code": ...` a module builds a body or an error's extensions with
    found = [
        f"{path}:{line} {ast.unparse(value)}"
        for path, tree in _modules()
        for line, value in _code_values(tree)
        if not _from_the_enum(value)
    ]
    # then each is an ErrorCode member's value
    assert found == []
    # (and the walk finds them: the transport's and the extensions' refusals at least)
    assert sum(1 for _, tree in _modules() for _ in _code_values(tree)) >= 20


def test_the_check_finds_a_code_not_from_the_enum() -> None:
    tree = ast.parse(
        'GraphQLError("m", extensions={"code": "OOPS"})\n'
        '_rebuild(error, "m", {"code": ErrorCode.INTERNAL.value, "errorId": i}, None)\n'
        'extensions = {"code": problem}\n'
        '{"type": "websocket.close", "code": 1009}\n'
    )
    odd = [ast.unparse(value) for _, value in _code_values(tree) if not _from_the_enum(value)]
    assert sorted(odd) == ["'OOPS'", "problem"]


def test_metrics_count_every_code_under_its_own_name() -> None:
    metrics = Metrics()
    for code in ErrorCode:
        assert metrics.code_label(code.value) == code.value
    assert metrics.code_label("MADE_UP") == OTHER_CODE


def test_a_code_added_to_the_enum_is_a_label_without_editing_metrics() -> None:
    # given the enum with one more member, as a developer would add it
    members = [(code.name, (code.value, code.description)) for code in ErrorCode]
    members.append(("SOMETHING_NEW", ("SOMETHING_NEW", "A code added after the metrics.")))
    extended = DescribedStrEnum("ErrorCode", dict(members))
    # when metrics are built from it (as Metrics() is built from ErrorCode itself)
    metrics = Metrics(extended)
    # then the new code is a label of its own, and no code was lost
    assert metrics.code_label("SOMETHING_NEW") == "SOMETHING_NEW"
    assert all(metrics.code_label(code.value) == code.value for code in ErrorCode)


# One request per way a refusal is made, from the transport to the schema's limits:
# (what is sent, the code it gets). Each answer's codes must all be in the enum.
REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("POST", {"json": {"query": "{"}}, "GRAPHQL_PARSE_FAILED"),
    ("POST", {"json": {"query": "{ nothingHere }"}}, "GRAPHQL_VALIDATION_FAILED"),
    (
        "POST",
        {
            "json": {
                "query": "query($n: Int) { initiatives(first: $n) { totalCount } }",
                "variables": {"n": "x"},
            }
        },
        "BAD_USER_INPUT",
    ),
    ("POST", {"json": {"query": 1}}, "BAD_REQUEST"),
    ("POST", {"json": [{"query": "{ __typename }"}]}, "BATCHING_DISABLED"),
    (
        "POST",
        {"content": "{ __typename }", "headers": {"content-type": "text/plain"}},
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ("PUT", {"json": {"query": "{ __typename }"}}, "METHOD_NOT_ALLOWED"),
    ("POST", {"json": {"documentId": "sha256:" + "0" * 64}}, "PERSISTED_QUERY_NOT_FOUND"),
    (
        "POST",
        {"json": {"query": "{ a: __typename b: __typename c: __typename }"}},
        "TOO_MANY_ALIASES",
    ),
    ("POST", {"json": {"query": "{ __schema { types { name } } }"}}, "INTROSPECTION_DISABLED"),
    ("POST", {"json": {"query": "{ auditVerification { intact } }"}}, "UNAUTHENTICATED"),
]


async def test_every_refusal_carries_a_code_of_the_enum(
    client_with: Callable[..., GraphQLClient],
) -> None:
    # given a server with its production defaults, and two aliases at most
    client = client_with(anonymous_read=True, introspection=False, max_aliases=2)
    http = client.http
    seen: list[str] = []
    for method, request, expected in REFUSALS:
        # when each refusal is provoked
        response = await http.request(method, "/graphql", **request)
        codes = [e["extensions"]["code"] for e in response.json()["errors"]]
        # then it has the code expected, and every code it carries is the enum's
        assert codes[0] == expected, (request, response.text)
        assert set(codes) <= CODES, codes
        seen.append(expected)
    missing = await http.get("/no-such-path")
    assert missing.json()["errors"][0]["extensions"]["code"] == ErrorCode.NOT_FOUND
    # and the metrics counted the GraphQL errors each under its code, none as OTHER
    scraped = (await http.get("/metrics")).text
    assert 'code="OTHER"' not in scraped
    assert 'code="GRAPHQL_PARSE_FAILED"' in scraped
    assert len(seen) == len(REFUSALS)

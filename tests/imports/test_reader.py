"""Reading a file: limits and malformed input are problems with codes, never crashes."""

from __future__ import annotations

import pytest

from app.imports import document
from app.imports.reader import read_document
from tests.imports.documents import as_json, as_yaml, small


def _codes(data: bytes, **kw: int) -> list[tuple[str, str]]:
    read = read_document(data, **kw)
    assert read.document is None
    return [(p.place, p.code.value) for p in read.problems]


def test_yaml_and_json_read_to_the_same_document() -> None:
    assert read_document(as_yaml(small())).document == read_document(as_json(small())).document


def test_a_file_over_the_size_cap_is_refused_unread() -> None:
    data = as_json(small())
    assert _codes(data, max_bytes=len(data) - 1) == [("", "DOCUMENT_TOO_LARGE")]


def test_too_many_rows_of_a_kind_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: at most 3 transactions at once; the file has 4
    monkeypatch.setitem(document.MAX_ROWS, "transactions", 3)
    # then
    assert _codes(as_json(small())) == [("transactions", "DOCUMENT_TOO_LARGE")]


def test_yaml_aliases_are_refused() -> None:
    # given: a billion-laughs shape
    data = b"format: pledge-ledger/1\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    # then
    assert _codes(data) == [("", "DOCUMENT_INVALID")]


def test_deep_nesting_is_refused() -> None:
    assert _codes(b"a: " + b"[" * 50 + b"]" * 50) == [("", "DOCUMENT_INVALID")]


@pytest.mark.parametrize("data", [b"{not json", b"a: [", b"\xff\xfe", b"- a list\n"])
def test_what_is_not_a_document_is_refused(data: bytes) -> None:
    assert _codes(data) == [("", "DOCUMENT_INVALID")]


def test_a_misspelt_field_is_refused_where_it_is() -> None:
    # given
    doc = small()
    doc["initiatives"][1]["transactions"][0]["ammount"] = "1.00"
    # then
    assert _codes(as_json(doc)) == [("initiatives[1].transactions[0].ammount", "VALIDATION")]

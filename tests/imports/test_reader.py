"""Reading a file: limits and malformed input are problems with codes, never crashes."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from app.imports import document, reader
from app.imports.reader import read_document, read_mapping
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
    # then: refused where the first anchor is
    assert _codes(data) == [("a", "DOCUMENT_INVALID")]
    assert _codes(b"a: [x, &y x]\n") == [("a[1]", "DOCUMENT_INVALID")]


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


def _edited(old: str, new: str) -> bytes:
    """The small document as YAML, one line of it written by hand."""
    text = as_yaml(small()).decode()
    assert text.count(old) == 1
    return text.replace(old, new).encode()


def _problems(data: bytes) -> list[tuple[str, str, str]]:
    read = read_document(data)
    assert read.document is None
    return [(p.place, p.code.value, p.message) for p in read.problems]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        # a day the calendar does not have, unquoted (YAML's own timestamp)
        ("announced_on: '2024-01-15'", "announced_on: 2024-02-30", "program.announced_on"),
        # a date and time where a date is due
        (
            "transaction_date: '2024-03-01'",
            "transaction_date: 2024-03-01 10:30:00",
            "initiatives[0].transactions[0].transaction_date",
        ),
        (
            "rate_date: '2024-01-01'",
            "rate_date: 2024-01-01T00:00:00Z",
            "exchange_rates[0].rate_date",
        ),
        # a date where a moment (with its timezone) is due
        (
            "reached_as_of: '2024-06-30'",
            "reached_as_of: '2024-06-30'\n    approved_by: ann\n    approved_at: 2024-07-01",
            "initiatives[0].beneficiaries[0].approved_at",
        ),
        # a plain word YAML takes for a number but that is none is its text
        ("amount: '5000.00'", "amount: 0x_", "initiatives[0].transactions[1].amount"),
    ],
)
def test_a_malformed_plain_yaml_value_is_refused_at_its_field(
    old: str, new: str, where: str
) -> None:
    [(place, code, _)] = _problems(_edited(old, new))
    assert (place, code) == (where, "VALIDATION")


def test_an_impossible_date_in_json_is_refused_at_its_field() -> None:
    doc = small()
    doc["initiatives"][1]["transactions"][1]["transaction_date"] = "2024-02-30"
    assert _problems(as_json(doc)) == [
        (
            "initiatives[1].transactions[1].transaction_date",
            "VALIDATION",
            "2024-02-30 is no day of the calendar",
        )
    ]


@pytest.mark.parametrize(
    ("new", "tag"),
    [
        ("announced_on: !!timestamp 2024-02-30", "timestamp"),
        ("announced_on: !!binary aGVsbG8=", "binary"),
        ("announced_on: !!set {a, b}", "set"),
        ("announced_on: !!float abc", "float"),
        ("announced_on: !!python/object:datetime.date [2024, 1, 1]", "python/object"),
        ("announced_on: !mine 2024-01-15", "mine"),
    ],
)
def test_a_yaml_tag_is_refused_at_its_field(new: str, tag: str) -> None:
    [(place, code, message)] = _problems(_edited("announced_on: '2024-01-15'", new))
    assert (place, code) == ("program.announced_on", "DOCUMENT_INVALID")
    assert tag in message and "line 20" in message


def test_a_key_written_twice_in_yaml_is_refused_where_it_is() -> None:
    # given: a transaction with two amounts
    data = _edited("amount: '5000.00'", "amount: '5000.00'\n    amount: '99.00'")
    # then
    [(place, code, message)] = _problems(data)
    assert (place, code) == ("initiatives[0].transactions[1]", "DOCUMENT_INVALID")
    assert "'amount'" in message and "lines 63 and 64" in message


def test_a_second_list_under_the_same_key_in_yaml_is_refused() -> None:
    # given: a second `initiatives:` block at the end (the first list would be dropped)
    data = as_yaml(small()) + b"initiatives:\n- code: AS-3\n"
    # then
    [(place, code, message)] = _problems(data)
    assert (place, code) == ("", "DOCUMENT_INVALID") and "'initiatives'" in message


def test_a_key_written_twice_in_json_is_refused_where_it_is() -> None:
    # given: an organisation with two names
    text = as_json(small()).decode()
    data = text.replace('"name": "Builders Ltd"', '"name": "Builders Ltd", "name": "B"').encode()
    # then
    [(place, code, message)] = _problems(data)
    assert (place, code) == ("organizations[1]", "DOCUMENT_INVALID") and "'name'" in message


def test_a_key_written_twice_in_a_backup_names_the_document() -> None:
    # given: a backup of two programmes, the second with two formats
    data = as_yaml(small()) + b"---\n" + _edited("format: pledge-ledger/1", "format: a\nformat: b")
    twice = json.dumps([small(), small()]).replace('"position": 2', '"position": 2, "position": 3')
    # then
    [(place, _, _)] = _problems(data)
    assert place == "documents[1]"
    assert [p[:2] for p in _problems(twice.encode())] == [
        ("documents[0].initiatives[1]", "DOCUMENT_INVALID")
    ]


def test_a_merge_key_is_refused() -> None:
    data = _edited("title: New classrooms", "<<: {title: New classrooms}")
    [(place, code, _)] = _problems(data)
    assert (place, code) == ("initiatives[0]", "DOCUMENT_INVALID")


def test_a_date_and_time_from_another_reader_is_not_taken_for_a_date() -> None:
    # given: a mapping another format's reader put together, a datetime where a date is due
    raw = json.loads(as_json(small()))
    raw["program"]["announced_on"] = datetime(2024, 1, 15, 10, 30)
    # then
    [problem] = read_mapping(raw).problems
    assert (problem.place, problem.code.value) == ("program.announced_on", "VALIDATION")


def test_a_boolean_where_an_amount_is_due_is_called_a_boolean() -> None:
    [(place, _, message)] = _problems(_edited("amount: '5000.00'", "amount: true"))
    assert place == "initiatives[0].transactions[1].amount" and "boolean" in message


def test_a_yaml_stream_of_too_many_documents_is_refused_at_the_first_too_many() -> None:
    # given: one document more than a backup holds, then text that is no YAML at all
    stream = b"{}\n---\n" * reader.MAX_DOCUMENTS + b"{}\n---\n" + b"a: [\n"
    # then: refused for its documents, read no further (the broken tail is never met)
    read = read_document(stream)
    assert [(p.place, p.code.value) for p in read.problems] == [("", "DOCUMENT_INVALID")]
    assert f"1 to {reader.MAX_DOCUMENTS} documents" in read.problems[0].message


def test_a_yaml_stream_whose_first_document_begins_with_a_brace_is_read_as_yaml() -> None:
    # given: a backup of two documents, each written in JSON's spelling, as a YAML stream
    first, second = small(), small()
    second["program"]["ref"] = "second"
    stream = json.dumps(first).encode() + b"\n---\n" + json.dumps(second).encode() + b"\n"
    # then: two documents, as the same backup in JSON reads
    read = read_document(stream)
    assert [d.program.ref for d in read.documents] == [first["program"]["ref"], "second"]
    assert read.documents == read_document(json.dumps([first, second]).encode()).documents


def test_a_file_that_is_neither_json_nor_yaml_is_refused_for_both() -> None:
    read = read_document(b'{"format": "pledge-ledger/1", "program": [}')
    [problem] = read.problems
    assert "not JSON" in problem.message and "not YAML" in problem.message

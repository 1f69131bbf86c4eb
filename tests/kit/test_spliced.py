"""JSON text from the database placed into a response as it is (app/kit/spliced.py):
the same bytes orjson writes, one body of the exact size, the text let go once
written."""

from __future__ import annotations

import tracemalloc
from itertools import pairwise

import orjson
import pytest

from app.kit.spliced import Spliced, encode, fragment

LIST = '{"nodes":[{"id":"SW5pdGlhdGl2ZTox","title":"乡村振兴 \\u0000 \\"q\\""}]}'


def test_an_answer_with_spliced_text_is_the_bytes_orjson_writes() -> None:
    # given: an answer around two lists' texts, with what orjson escapes beside them
    def answer(wrap: type) -> dict[str, object]:
        return {
            "data": {"a": wrap(LIST.encode()), "t": "Query", "b": wrap(b"[]")},
            "extensions": {"note": "nul \x00 here, 乡村"},
        }

    expected = orjson.dumps(answer(orjson.Fragment))
    # when
    body = encode(answer(Spliced))
    # then
    assert body == expected
    assert orjson.loads(body)["data"]["a"] == orjson.loads(LIST)


def test_an_answer_without_spliced_text_is_orjsons() -> None:
    data = {"data": {"n": 1, "s": "é"}, "errors": None}
    assert encode(data) == orjson.dumps(data)


def test_the_body_is_one_allocation_of_its_size_and_the_text_is_let_go() -> None:
    # given: a large list's text
    text = b'{"nodes":[' + b",".join([b'{"id":"QnVkZ2V0TGluZTox"}'] * 100_000) + b"]}"
    spliced = Spliced(text)
    del text
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        # when
        body = encode({"data": {"list": spliced}})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # then: nothing beside the body but a few small pieces (orjson alone held 1.5
    # times the body: its buffer grows by doubling and is not trimmed)
    assert peak - start < len(body) + 64 * 1024
    with pytest.raises(RuntimeError):
        spliced.text  # noqa: B018 - let go once written
    with pytest.raises(RuntimeError):
        encode({"data": {"list": spliced}})  # never written twice


def test_a_refused_answer_lets_nothing_go() -> None:
    # given: an answer orjson refuses (an integer past 64 bits)
    spliced = Spliced(b"[]")
    # when / then
    with pytest.raises(orjson.JSONEncodeError):
        encode({"data": {"list": spliced, "n": 2**70}})
    assert spliced.text == b"[]"  # the fallback encoding still has it


def test_text_encodings_keep_the_spliced_text() -> None:
    spliced = Spliced(b'{"a":[1]}')
    text = orjson.dumps({"data": {"x": spliced}}, default=fragment).decode()
    assert text == '{"data":{"x":{"a":[1]}}}'
    assert spliced.text == b'{"a":[1]}'
    with pytest.raises(TypeError):
        orjson.dumps({"x": object()}, default=fragment)


def test_a_fragment_holding_a_nul_byte_is_still_written_as_orjson_writes_it() -> None:
    # given: beside the spliced text, a fragment made elsewhere with a raw NUL byte
    data = {"data": {"a": Spliced(b"[1]"), "b": orjson.Fragment(b'"x\x00y"')}}
    # when
    body = encode(data)
    # then
    assert body == b'{"data":{"a":[1],"b":"x\x00y"}}'


def test_a_text_in_pieces_is_written_as_the_whole_text() -> None:
    # given: a list's text cut anywhere, in the middle of a string and a character
    whole = LIST.encode()
    cuts = [0, 3, 10, len(whole) // 2, len(whole) - 7, len(whole)]
    pieces = [whole[a:b] for a, b in pairwise(cuts)]
    data = {"data": {"a": Spliced(pieces), "b": 1}}
    # when
    body = encode(data)
    # then: the same bytes as the text in one piece
    assert body == orjson.dumps({"data": {"a": orjson.Fragment(whole), "b": 1}})
    with pytest.raises(RuntimeError):  # and it is let go once written
        _ = data["data"]["a"].pieces  # type: ignore[attr-defined]

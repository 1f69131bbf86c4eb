"""JSON text made elsewhere (by the database), placed into an encoded answer as it is.

The compiled read path has PostgreSQL write a large answer's JSON; the server receives
its UTF-8 bytes and sends them on (app/graphql/compiled/run.py). Encoding the answer
around them with orjson copied them into a buffer orjson grows by doubling and never
trims (4.2 MB held for a 2.7 MB answer), beside the bytes themselves. `encode` writes
everything else with orjson, which leaves a one-byte mark where each `Spliced` goes,
and joins the pieces once: the body is one allocation of its exact size, the same
bytes orjson would write. Once written into a body, a `Spliced` lets its bytes go (the
answer's objects can outlive the request until the collector finds their cycles); it
is never written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

# What orjson writes where a Spliced goes: a NUL byte, which orjson never writes
# otherwise (a control character in a string is escaped, \u0000) and a Spliced never
# holds unescaped (it is JSON text).
_MARK = orjson.Fragment(b"\x00")


class Spliced:
    """The UTF-8 bytes of a JSON value, written into an answer as they are: one bytes
    object, or pieces that make it one after the other (SQLite's, a row each)."""

    __slots__ = ("_text",)

    def __init__(self, text: bytes | Sequence[bytes]) -> None:
        self._text: bytes | Sequence[bytes] | None = text

    @property
    def pieces(self) -> Sequence[bytes]:
        if self._text is None:
            raise RuntimeError("this JSON text was already written into a response")
        return (self._text,) if isinstance(self._text, bytes) else self._text

    @property
    def text(self) -> bytes:
        pieces = self.pieces
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def release(self) -> None:
        self._text = None


def fragment(value: Any) -> orjson.Fragment:
    """orjson's `default` for data that may hold `Spliced` values: their text as is
    (for an encoding that keeps them, a WebSocket message's text)."""
    if isinstance(value, Spliced):
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode(data: Any) -> bytes:
    """`orjson.dumps(data)` with every `Spliced` in its place, as one allocation of the
    body's size; the `Spliced` values written let their bytes go. Raises what orjson
    raises (nothing let go then)."""
    found: list[Spliced] = []

    def mark(value: Any) -> orjson.Fragment:
        if isinstance(value, Spliced):
            found.append(value)
            return _MARK
        raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")

    skeleton = orjson.dumps(data, default=mark)
    if not found:
        return skeleton
    around = skeleton.split(b"\x00")
    if len(around) != len(found) + 1:
        # A NUL byte orjson did not write as a mark: a fragment of text made
        # elsewhere holding one. Written as orjson writes it, all in one buffer.
        body = orjson.dumps(data, default=fragment)
    else:
        pieces = [around[0]]
        for spliced, after in zip(found, around[1:], strict=True):
            pieces += (*spliced.pieces, after)
        body = b"".join(pieces)
        del pieces
    for spliced in found:
        spliced.release()
    return body

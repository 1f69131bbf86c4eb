"""The SQL functions SQLite calls in Python (app/db/functions.py)."""

from __future__ import annotations

import base64

from app.db.functions import UNWRITTEN_MARK, python_base64url


def test_sqlites_base64url_is_pythons_urlsafe_encoding() -> None:
    # given: texts of every length modulo 3, whose bytes encode to "+" and "/" in base64
    texts = ["", "a", "ab", "abc", "Transaction:5595", "~~~??>", "???", "中文 😀"]
    # when
    encoded = [python_base64url(text) for text in texts]
    # then
    assert encoded == [base64.urlsafe_b64encode(text.encode()).decode() for text in texts]
    assert any("-" in e for e in encoded) and any("_" in e for e in encoded)


def test_sqlites_base64url_keeps_null_and_the_unwritten_mark() -> None:
    assert python_base64url(None) is None
    assert python_base64url(f"Transaction:{UNWRITTEN_MARK}") == UNWRITTEN_MARK

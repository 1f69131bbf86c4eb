"""The docs' tables of error codes are written from ErrorCode (app/errors.py), the one
place a code's meaning is said: a table between

    <!-- error codes: CODE, CODE, ... -->   (or `all`: every member, in the enum's order)
    <!-- end of error codes -->

must be exactly what `code_table` makes of the codes it names. A change to a meaning
is made in the enum; `WRITE_DOCS=1 pytest tests/test_error_code_docs.py` then rewrites
the tables (and the test fails, so the rewrite is committed knowingly)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from app.errors import ErrorCode

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(
    r"(<!-- error codes: (?P<codes>[A-Za-z_, ]+) -->\n)(?P<table>.*?)(<!-- end of error codes -->)",
    re.DOTALL,
)


def code_table(names: str) -> str:
    """The Markdown table of the codes `names` lists (`all`: every one), meanings from
    the enum."""
    codes = (
        list(ErrorCode)
        if names.strip() == "all"
        else [ErrorCode[name.strip()] for name in names.split(",")]
    )
    rows = [f"| `{code.value}` | {_cell(code.description)} |" for code in codes]
    return "\n".join(["| code | meaning |", "|---|---|", *rows]) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a bar would end the cell


def _rewritten(text: str) -> str:
    return _BLOCK.sub(lambda m: m[1] + code_table(m["codes"]) + m[4], text)


DOCUMENTED = ["changes.md", "imports.md", "production.md"]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_tables_of_codes_say_what_the_enum_says(name: str) -> None:
    path = DOCS / name
    text = path.read_text(encoding="utf-8")
    assert _BLOCK.search(text), f"{name} has no table of codes"
    expected = _rewritten(text)
    if expected != text and os.environ.get("WRITE_DOCS") == "1":
        path.write_text(expected, encoding="utf-8")
    assert text == expected, (
        f"docs/{name}: a table of codes differs from ErrorCode (app/errors.py); "
        "run WRITE_DOCS=1 pytest tests/test_error_code_docs.py"
    )


def test_every_code_is_in_the_full_table() -> None:
    # production.md holds the table of every code a client can see.
    text = (DOCS / "production.md").read_text(encoding="utf-8")
    block = _BLOCK.search(text)
    assert block is not None and block["codes"].strip() == "all"
    for code in ErrorCode:
        assert f"| `{code.value}` | {code.description} |" in block["table"]


def test_a_table_names_only_codes_of_the_enum() -> None:
    with pytest.raises(KeyError):
        code_table("VALIDATION, NO_SUCH_CODE")
    assert code_table("FORBIDDEN") == (
        f"| code | meaning |\n|---|---|\n| `FORBIDDEN` | {ErrorCode.FORBIDDEN.description} |\n"
    )

"""A CSV download read as a spreadsheet reads it (UTF-8 with its byte-order mark)."""

from __future__ import annotations

import csv
import io

import httpx


def rows(text: str) -> list[dict[str, str]]:
    """The rows as a spreadsheet reads them: the byte-order mark is not part of the text."""
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def cells(response: httpx.Response) -> list[list[str]]:
    """Every cell, decoded as a spreadsheet does (UTF-8 with its byte-order mark)."""
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))

"""Values read out of IATI elements, as the ledger document takes them (quoted
decimals, ISO dates), and the fields a file leaves out because IATI does not carry them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element


def text(element: Element | None, path: str = "narrative") -> str | None:
    """The element's narrative (or the text at `path`), stripped; None if it has none."""
    if element is None:
        return None
    found = element.findtext(path)
    return found.strip() if found else None


# xsd:decimal's spelling (no exponent), of a bounded length: "1E+300000000" would
# make a number of 300 million digits.
_DECIMAL = re.compile(r"[+-]?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})")


def decimal(spelled: str | None) -> str | None:
    """A decimal's text as the document takes it (quoted), or None if it is none (the
    document's checks then refuse the missing value at its place)."""
    if spelled is None or not _DECIMAL.fullmatch(spelled.strip()):
        return None
    try:
        value = Decimal(spelled.strip())
    except InvalidOperation:
        return None
    return format(value, "f")


def date(element: Element, path: str) -> str:
    """The iso-date of the element at `path`; "" if none (the document refuses it)."""
    found = element.find(path)
    return (found.get("iso-date") if found is not None else None) or ""


def carried(record: dict[str, Any], *optional: str) -> dict[str, Any]:
    """`record` without those `optional` fields the file does not carry (None): the
    import then leaves the stored values of those fields alone, where a null would clear
    them. IATI carries fewer fields than the ledger holds."""
    for name in optional:
        if record.get(name, ...) is None:
            del record[name]
    return record

"""A document of the import format written out as a finance team would hold it: a
workbook with one sheet per record kind, or a folder of CSV files, laid out as
docs/imports.md describes (written here by hand, not by the reader's own layout)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook

_NESTED = ("participants", "budget_lines", "transactions", "milestones", "beneficiaries", "shares")
_NUMBERS = {"amount", "rate", "percentage", "target_value", "reached_value"}
_KEYED = {"initiatives": "code", "beneficiary_groups": "code"}


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "cite" and k not in _NESTED and v is not None}


def _citations(kind: str, record: dict[str, Any], initiative: str = "") -> list[dict[str, Any]]:
    if not record.get("cite"):
        return []
    if kind == "program":
        key, unit = "", None
    elif kind == "exchange_rates":
        key, unit = f"{record['base']}/{record['quote']}/{record['rate_date']}", None
    elif kind == "beneficiaries":
        key, unit = record["group"], record["unit"]
    else:
        key, unit = record[_KEYED.get(kind, "ref")], None
    return [
        {"record": kind, "initiative": initiative or None, "key": key or None, "unit": unit}
        | {k: v for k, v in cite.items() if v is not None}
        for cite in record.get("cite", [])
    ]


def tables(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The document's rows, by sheet."""
    found: dict[str, list[dict[str, Any]]] = {"citations": []}
    program = _plain(document["program"])
    pledged = program.pop("pledged")
    program |= {"pledged_amount": pledged["amount"], "pledged_currency": pledged["currency"]}
    found["program"] = [program]
    found["citations"] += _citations("program", document["program"])
    for kind in ("sources", "organizations", "exchange_rates", "beneficiary_groups", "initiatives"):
        found[kind] = []
        for record in document.get(kind, []):
            found[kind].append(_plain(record))
            found["citations"] += _citations(kind, record)
    for initiative in document.get("initiatives", []):
        code = initiative["code"]
        for kind in _NESTED:
            for record in initiative.get(kind, []):
                found.setdefault(kind, []).append({"initiative": code} | _plain(record))
                found["citations"] += _citations(kind, record, code)
    return found


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names |= dict.fromkeys(row)
    return list(names)


def as_workbook(document: dict[str, Any], *, numbers: bool = True) -> bytes:
    """An xlsx workbook; with `numbers`, amounts are number cells (else text), and
    dates are date cells."""
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for kind, rows in tables(document).items():
        sheet = workbook.create_sheet(kind)
        columns = _columns(rows)
        sheet.append(columns)
        for row in rows:
            sheet.append([_cell(name, row.get(name), numbers) for name in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _cell(name: str, value: Any, numbers: bool) -> Any:
    if numbers and name in _NUMBERS | {"pledged_amount"} and isinstance(value, str):
        return float(Decimal(value))
    if (
        isinstance(value, str)
        and len(value) == 10
        and value[4:5] == "-"
        and name.endswith(("_on", "_date", "_start", "_end", "as_of", "deadline"))
    ):
        return date.fromisoformat(value)
    return value


def _csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_columns(rows))
    writer.writeheader()
    writer.writerows({k: _text(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, date) else str(value)


def as_csv_folder(document: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, rows in tables(document).items():
        (folder / f"{kind}.csv").write_text(_csv_text(rows), encoding="utf-8")
    return folder


def as_csv_zip(document: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for kind, rows in tables(document).items():
            archive.writestr(f"export/{kind}.csv", _csv_text(rows))
    return out.getvalue()


_INLINE = re.compile(
    rb'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr"><is><t[^>]*>(.*?)</t></is></c>'
)
_SHARED = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SHARED_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(data: bytes) -> bytes:
    """The workbook with its text in a shared strings table, as Excel and LibreOffice
    write it (openpyxl writes each cell's text in the cell)."""
    strings: dict[bytes, int] = {}

    def shared(match: re.Match[bytes]) -> bytes:
        at = strings.setdefault(match.group(3), len(strings))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2) or b"", at)

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename.startswith("xl/worksheets/"):
                content = _INLINE.sub(shared, content)
            elif member.filename == "[Content_Types].xml":
                part = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SHARED}"/>'
                content = content.replace(b"</Types>", part.encode() + b"</Types>")
            elif member.filename == "xl/_rels/workbook.xml.rels":
                rel = (
                    f'<Relationship Id="rIdShared" Type="{_SHARED_REL}" '
                    'Target="sharedStrings.xml"/>'
                )
                content = content.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            target.writestr(member, content, zipfile.ZIP_DEFLATED)
        table = b"".join(b'<si><t xml:space="preserve">%s</t></si>' % s for s in strings)
        target.writestr(
            "xl/sharedStrings.xml",
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'count="%d" uniqueCount="%d">%s</sst>' % (len(strings), len(strings), table),
            zipfile.ZIP_DEFLATED,
        )
    return out.getvalue()

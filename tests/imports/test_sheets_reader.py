"""Workbooks and CSV files read as documents: cells read exactly, problems told by
sheet, row and column, and the limits an untrusted archive is held to."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from app.iati.reader import read_any
from app.imports import tables as t
from app.imports.cells import float_text
from app.imports.csvfiles import read_csv_folder
from app.imports.reader import Read
from tests.imports.documents import small
from tests.imports.workbooks import as_csv_folder, as_csv_zip, as_workbook

README = Path(__file__).resolve().parents[2] / "docs" / "imports.md"


def _edit(data: bytes, sheet: str, cells: dict[tuple[int, str], Any]) -> bytes:
    """The workbook with these cells of one sheet set ((row, column name): value); a
    column not there yet is added."""
    workbook = load_workbook(io.BytesIO(data))
    table = workbook[sheet]
    header = [cell.value for cell in table[1]]
    for (row, name), value in cells.items():
        if name not in header:
            header.append(name)
            table.cell(row=1, column=len(header), value=name)
        table.cell(row=row, column=header.index(name) + 1).value = value
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _places(read: Read) -> list[tuple[str, str]]:
    return [(p.place, p.code.value) for p in read.problems]


def test_number_cells_are_read_as_the_decimals_typed() -> None:
    # given: amounts as number cells (floats in the file) and as text
    document = small()
    data = _edit(
        as_workbook(document), "transactions", {(2, "amount"): 1250.5, (3, "amount"): "0.10"}
    )
    data = _edit(data, "budget_lines", {(2, "amount"): 400000})
    # when
    read = read_any(data)
    # then
    assert read.document is not None, read.problems
    first = read.document.initiatives[0]
    assert first.transactions[0].amount == Decimal("1250.5")
    assert str(first.transactions[1].amount) == "0.10"
    assert first.budget_lines[0].amount == Decimal("400000")
    assert read.document.program.pledged.amount == Decimal("1000000")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1250.5, "1250.5"),
        (0.1, "0.1"),
        (1.0, "1"),
        (-3.25, "-3.25"),
        (100000000000.0, "100000000000"),
        (1e16, "10000000000000000"),
        (123456789.012345, "123456789.012345"),
        (0.1 + 0.2, None),
        (12345678901234567.0, None),
        (1234567.8901234567, None),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_a_float_is_read_as_the_decimal_typed_up_to_15_digits(
    value: float, text: str | None
) -> None:
    if text is None:
        with pytest.raises(ValueError):
            float_text(value)
    else:
        assert float_text(value) == text


def test_a_number_cell_that_may_not_be_the_number_shown_is_refused() -> None:
    # given: the float 0.1 + 0.2, as Excel stores it (it would show 0.3)
    data = _edit(as_workbook(small()), "transactions", {(2, "amount"): 0.3})
    data = _rewrite(data, lambda xml: xml.replace(b"<v>0.3</v>", b"<v>0.30000000000000004</v>"))
    # when
    read = read_any(data)
    # then
    assert read.document is None
    assert _places(read) == [("sheet transactions, row 2, column amount", "VALIDATION")]
    assert "0.30000000000000004" in read.problems[0].message
    assert "write it as text" in read.problems[0].message


def test_date_cells_and_iso_text_are_dates_and_a_time_of_day_is_refused() -> None:
    # given
    data = _edit(
        as_workbook(small(), numbers=False),
        "transactions",
        {
            (2, "transaction_date"): datetime(2024, 3, 1),
            (3, "transaction_date"): "2024-04-01",
            (4, "transaction_date"): datetime(2024, 5, 1, 9, 30),
        },
    )
    # when
    read = read_any(data)
    # then
    assert _places(read) == [("sheet transactions, row 4, column transaction_date", "VALIDATION")]
    fixed = read_any(_edit(data, "transactions", {(4, "transaction_date"): date(2024, 5, 1)}))
    assert fixed.document is not None
    assert fixed.document.initiatives[0].transactions[0].transaction_date == date(2024, 3, 1)
    assert fixed.document.initiatives[0].transactions[1].transaction_date == date(2024, 4, 1)


def test_the_documents_checks_are_told_by_sheet_row_and_column() -> None:
    # given: a misspelt column, a bad enum, an amount with a comma, a missing title
    data = as_workbook(small(), numbers=False)
    data = _edit(
        data,
        "transactions",
        {(3, "amount"): "5,000.00", (5, "type"): "donation", (2, "amount_eur"): "1"},
    )
    data = _edit(data, "milestones", {(2, "title"): None})
    # when
    read = read_any(data)
    # then
    assert read.document is None
    assert sorted(_places(read)) == [
        ("sheet milestones, row 2, column title", "VALIDATION"),
        ("sheet transactions, row 2, column amount_eur", "VALIDATION"),
        ("sheet transactions, row 3, column amount", "VALIDATION"),
        ("sheet transactions, row 5, column type", "VALIDATION"),
    ]


def test_column_names_are_read_in_any_case_with_spaces_for_underscores() -> None:
    # given
    data = _edit(as_workbook(small()), "program", {(1, "pledged_amount"): " Pledged Amount"})
    # when
    read = read_any(data)
    # then
    assert read.document is not None, read.problems
    assert read.document.program.pledged.amount == Decimal("1000000")


def test_rows_and_citations_naming_nothing_are_refused_where_they_name_it() -> None:
    # given
    data = _edit(as_workbook(small()), "shares", {(2, "initiative"): "AS-9"})
    data = _edit(data, "citations", {(3, "key"): "T9"})
    # when
    read = read_any(data)
    # then
    assert sorted(_places(read)) == [
        ("sheet citations, row 3, column key", "NOT_FOUND"),
        ("sheet shares, row 2, column initiative", "NOT_FOUND"),
    ]


def test_citations_find_their_records_by_kind_and_key() -> None:
    # given: the demo-like document's citations of the programme and a transaction
    read = read_any(as_workbook(small()))
    # then
    assert read.document is not None
    assert [c.quote for c in read.document.program.cite] == ["one million euros"]
    assert [c.quote for c in read.document.initiatives[0].transactions[1].cite] == [
        "USD 5,000 spent on desks"
    ]


def test_a_workbook_without_a_programme_or_with_a_strange_sheet_is_refused() -> None:
    # given
    workbook = load_workbook(io.BytesIO(as_workbook(small())))
    del workbook["program"]
    workbook.create_sheet("Notes")
    out = io.BytesIO()
    workbook.save(out)
    # when
    read = read_any(out.getvalue())
    # then
    assert _places(read) == [("sheet Notes", "DOCUMENT_INVALID")]
    del workbook["Notes"]
    out = io.BytesIO()
    workbook.save(out)
    assert _places(read_any(out.getvalue())) == [("program", "DOCUMENT_INVALID")]


def test_a_csv_folder_and_a_csv_zip_read_as_the_workbook_does(tmp_path: Path) -> None:
    # given
    document = small()
    # when
    from_folder = read_csv_folder(as_csv_folder(document, tmp_path / "export"))
    from_zip = read_any(as_csv_zip(document))
    from_workbook = read_any(as_workbook(document))
    # then
    assert from_folder.document is not None, from_folder.problems
    assert from_folder.document == from_zip.document == from_workbook.document


def test_excel_csv_with_a_byte_order_mark_and_semicolons_reads(tmp_path: Path) -> None:
    # given: transactions.csv as a spreadsheet set to German saves it
    folder = as_csv_folder(small(), tmp_path / "export")
    text = (folder / "transactions.csv").read_text("utf-8")
    (folder / "transactions.csv").write_bytes(
        b"\xef\xbb\xbf" + text.replace(",", ";").encode("utf-8")
    )
    # when
    read = read_csv_folder(folder)
    # then
    assert read.document is not None, read.problems
    assert read.document.initiatives[1].transactions[1].amount == Decimal("7500.00")


def test_csv_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    folder = as_csv_folder(small(), tmp_path / "export")
    (folder / "organizations.csv").write_bytes(
        "ref,name,kind\nx,Zürich AG,company\n".encode("cp1252")
    )
    read = read_csv_folder(folder)
    assert _places(read) == [("organizations.csv", "DOCUMENT_INVALID")]
    assert "CSV UTF-8" in read.problems[0].message


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    # given: 50 MB of zeros in a zip of about 50 kB
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("transactions.csv", b"0" * 50_000_000)
    data = out.getvalue()
    assert len(data) < 100_000
    # when
    started = time.perf_counter()
    read = read_any(data)
    # then
    assert time.perf_counter() - started < 0.5
    assert _places(read) == [("", "DOCUMENT_TOO_LARGE")]
    assert "unpacks to 50000000 bytes" in read.problems[0].message


def test_an_archive_over_the_size_cap_is_refused() -> None:
    data = as_workbook(small())
    read = read_any(data, 1000)
    assert _places(read) == [("", "DOCUMENT_TOO_LARGE")]


def test_too_many_rows_stop_the_reading_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: at most one transaction a file
    monkeypatch.setitem(t.ROW_LIMITS, "transactions", 1)
    # when
    read = read_any(as_workbook(small()))
    # then
    assert _places(read) == [("sheet transactions", "DOCUMENT_TOO_LARGE")]


def test_a_sheet_naming_a_row_beyond_excels_last_is_refused_quickly() -> None:
    # given: a sheet whose second row claims to be row 999,999,999 (rows skipped are
    # read as empty ones)
    workbook = load_workbook(io.BytesIO(as_workbook(small())))
    workbook["milestones"]["A1048576"] = "AS-1"
    out = io.BytesIO()
    workbook.save(out)
    data = _rewrite(out.getvalue(), lambda xml: xml.replace(b"1048576", b"999999999"))
    # when
    started = time.perf_counter()
    read = read_any(data)
    # then
    assert time.perf_counter() - started < 10  # about 1 s; the bound leaves room for load
    assert _places(read) == [("sheet milestones", "DOCUMENT_INVALID")]


def _rewrite(data: bytes, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            target.writestr(member, change(source.read(member)))
    return out.getvalue()


def test_too_many_columns_and_too_long_cells_are_refused(tmp_path: Path) -> None:
    # given
    workbook = load_workbook(io.BytesIO(as_workbook(small())))
    workbook["sources"]["BZ2"] = "x"
    out = io.BytesIO()
    workbook.save(out)
    wide = out.getvalue()
    folder = as_csv_folder(small(), tmp_path / "export")
    (folder / "sources.csv").write_text(f"ref,title\nr,{'x' * (t.MAX_CELL + 1)}\n", "utf-8")
    # when
    read_wide, read_long = read_any(wide), read_csv_folder(folder)
    # then
    assert _places(read_wide) == [("sheet sources", "DOCUMENT_TOO_LARGE")]
    assert _places(read_long) == [("sources.csv, row 2, column title", "DOCUMENT_TOO_LARGE")]


def test_a_template_has_every_column_and_the_docs_list_them(tmp_path: Path) -> None:
    from app.imports.template import write_template

    # when
    write_template(tmp_path / "template.xlsx")
    write_template(tmp_path / "template")
    # then
    workbook = load_workbook(tmp_path / "template.xlsx", read_only=True)
    headers = {s.title: next(s.iter_rows(values_only=True)) for s in workbook.worksheets}
    assert headers == {kind: columns for kind, columns in t.LAYOUT.items()}
    assert (
        (tmp_path / "template" / "citations.csv")
        .read_text("utf-8")
        .startswith("record,initiative,key,unit,source,field,quote")
    )
    docs = README.read_text("utf-8")
    for kind, columns in t.LAYOUT.items():
        listed = re.search(rf"^\| `{kind}` \| (.*) \|$", docs, re.M)
        assert listed is not None, kind
        assert re.findall(r"`(\w+)`", listed.group(1)) == list(columns), kind


def test_two_csv_files_of_one_kind_in_a_zip_are_refused() -> None:
    # given: transactions.csv twice, in two folders of the zip
    data = as_csv_zip(small())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            target.writestr(member, source.read(member))
        target.writestr("old/transactions.csv", source.read("export/transactions.csv"))
    # when
    read = read_any(out.getvalue())
    # then
    assert _places(read) == [("old/transactions.csv", "DOCUMENT_INVALID")]


def test_rows_past_a_sheets_stated_dimension_are_read() -> None:
    # given: every sheet claims to use only its cell A1 (some writers say so)
    data = _rewrite(
        as_workbook(small()),
        lambda xml: re.sub(rb'<dimension ref="[A-Z0-9:]+"', b'<dimension ref="A1"', xml),
    )
    # when
    read = read_any(data)
    # then
    assert read.document is not None, read.problems
    assert len(read.document.initiatives[0].transactions) == 2


def test_a_value_under_no_column_name_is_refused(tmp_path: Path) -> None:
    # given: a value two columns right of the last named one, in a sheet and a CSV file
    workbook = load_workbook(io.BytesIO(as_workbook(small())))
    sheet = workbook["sources"]
    sheet.cell(row=2, column=sheet.max_column + 2).value = "stray"
    out = io.BytesIO()
    workbook.save(out)
    folder = as_csv_folder(small(), tmp_path / "export")
    (folder / "sources.csv").write_text("ref,title\nr,Title,stray\n", "utf-8")
    # when
    read_sheet, read_csv = read_any(out.getvalue()), read_csv_folder(folder)
    # then
    assert _places(read_sheet) == [("sheet sources, row 2", "VALIDATION")]
    assert "column 5, which has no name" in read_sheet.problems[0].message
    assert _places(read_csv) == [("sources.csv, row 2", "VALIDATION")]


def _as_csv_zip(workbook: bytes) -> bytes:
    """The workbook's sheets as the CSV files of a zip, each cell as its text."""

    def text(value: Any) -> str:
        if isinstance(value, datetime):
            return value.date().isoformat()
        return "" if value is None else str(value)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for sheet in load_workbook(io.BytesIO(workbook), read_only=True).worksheets:
            lines = io.StringIO()
            writer = csv.writer(lines)
            for cells in sheet.iter_rows(values_only=True):
                writer.writerow([text(cell) for cell in cells])
            archive.writestr(f"{sheet.title}.csv", lines.getvalue())
    return out.getvalue()


def _emptied(data: bytes, sheet: str, *cells: tuple[int, str]) -> bytes:
    return _edit(data, sheet, dict.fromkeys(cells))


@pytest.mark.parametrize("form", ["xlsx", "csv"])
def test_an_empty_cell_clears_an_optional_field_and_a_missing_column_says_nothing(
    form: str,
) -> None:
    # given: both initiatives with a summary; AS-1's summary cell and the figure's
    # qualifier cell emptied; the milestones sheet has no forecast_date column
    document = small()
    for initiative, summary in zip(document["initiatives"], ("Rooms", "Teachers"), strict=True):
        initiative["summary"] = summary
    document["initiatives"][0]["beneficiaries"][0]["reached_qualifier"] = "about"
    data = _emptied(as_workbook(document, numbers=False), "initiatives", (2, "summary"))
    data = _emptied(data, "beneficiaries", (2, "reached_qualifier"))
    if form == "csv":
        data = _as_csv_zip(data)
    # when
    read = read_any(data)
    # then
    assert read.document is not None, read.problems
    first, second = read.document.initiatives
    assert first.summary is None and "summary" in first.model_fields_set  # cleared
    assert second.summary == "Teachers"
    figure = first.beneficiaries[0]
    assert figure.reached_qualifier == "exact" and "reached_qualifier" in figure.model_fields_set
    milestone = first.milestones[0]
    assert "forecast_date" not in milestone.model_fields_set  # left as it is


@pytest.mark.parametrize("form", ["xlsx", "csv"])
def test_an_empty_cell_of_a_required_column_is_refused_at_that_cell(form: str) -> None:
    # given: AS-2's second transaction without its amount, and a cell of a column the
    # layout lacks left empty (it says nothing)
    data = _emptied(as_workbook(small(), numbers=False), "transactions", (5, "amount"))
    data = _edit(data, "transactions", {(2, "remark"): None})
    if form == "csv":
        data = _as_csv_zip(data)
    # when
    read = read_any(data)
    # then
    label = "sheet transactions" if form == "xlsx" else "transactions.csv"
    assert _places(read) == [(f"{label}, row 5, column amount", "VALIDATION")]
    assert read.problems[0].message == "Field required"


@pytest.mark.parametrize("form", ["xlsx", "csv"])
def test_a_row_of_only_spaces_is_no_record(form: str) -> None:
    # given: a milestones row whose every cell holds only spaces
    data = as_workbook(small(), numbers=False)
    header = [cell.value for cell in load_workbook(io.BytesIO(data))["milestones"][1]]
    data = _edit(data, "milestones", {(9, name): "  " for name in header})
    if form == "csv":
        data = _as_csv_zip(data)
    # when
    read = read_any(data)
    # then: read as the workbook without it
    assert read.document is not None, read.problems
    assert read.document == read_any(as_workbook(small(), numbers=False)).document

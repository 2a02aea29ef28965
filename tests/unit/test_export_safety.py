"""Exports and terminal output of names that came from kiosks: formulas stay text, numbers stay numbers,
escape sequences and invisible characters never reach a terminal."""
import csv
import io

import pytest
from openpyxl import load_workbook

from collector.reports.export import Table, csv_cell, formula_like, terminal_text, to_csv, to_text, to_xlsx

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "＝1+1"]
PLAIN = ["Nguyễn Văn An", "Hộ tịch", "2026-10", "a=b", "", "'quoted", "1-2"]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_like_texts_get_an_apostrophe_in_csv(text):
    assert formula_like(text) and csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", PLAIN + [5, -3, -0.25, 0.5, None])
def test_plain_texts_and_numbers_are_left_alone(value):
    assert not formula_like(value)
    assert csv_cell(value) == ("" if value is None else value)


def test_csv_neutralises_every_text_field_title_and_header_included():
    tables = [Table("=title", ["=h", "Count"], [["=HYPERLINK(1)", -5], ["An", 3.5]]), Table("B", ["@x"], [["+y"]])]
    rows = list(csv.reader(io.StringIO(to_csv(tables).decode("utf-8-sig"))))
    assert rows == [["'=title"], ["'=h", "Count"], ["'=HYPERLINK(1)", "-5"], ["An", "3.5"], [], ["B"], ["'@x"], ["'+y"]]


def test_xlsx_texts_are_text_cells_and_numbers_numbers():
    table = Table("T", ["Name", "Count", "Tỷ lệ hài lòng"],
                  [[f, -i, 0.5] for i, f in enumerate(FORMULAS)] + [["Đỏ\x1b[31m\x00", 7, None]])
    sheet = load_workbook(io.BytesIO(to_xlsx([table]))).active
    assert [c.data_type for row in sheet.iter_rows() for c in row if c.value is not None and c.data_type == "f"] == []
    names = [sheet.cell(r, 1) for r in range(2, 2 + len(FORMULAS))]
    assert [c.value for c in names] == [f.replace("\r", "\n") for f in FORMULAS]  # XML keeps \n for \r
    assert all(c.data_type == "s" and c.quotePrefix for c in names)
    assert [sheet.cell(r, 2).value for r in range(2, 2 + len(FORMULAS))] == [-i for i in range(len(FORMULAS))]
    assert sheet.cell(2, 3).data_type == "n" and sheet.cell(2, 3).number_format == "0.0%"
    last = sheet.cell(2 + len(FORMULAS), 1)
    assert last.value == "Đỏ[31m" and not last.quotePrefix  # characters an XLSX cannot hold are dropped


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J\x1b[31mĐỏ\x1b[0m", "Đỏ"),  # clear screen, colours
    ("\x1b]0;new title\x07An", "An"),  # window title (OSC ... BEL)
    ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # hyperlink (OSC ... ST)
    ("\x9b31mC1", "C1"),  # one-byte CSI
    ("abc\u202edcba", "abcdcba"),  # right-to-left override
    ("A\u200bB\u200dC\ufeffD\u2066E", "ABCDE"),  # zero-width and isolate characters
    ("x\x07\x08\x7fy", "xy"),  # bell, backspace, delete
    ("dòng\nhai\tcột", "dòng\nhai\tcột"),  # line break and tab are kept by the filter itself
    ("Nguyễn Văn An", "Nguyễn Văn An"),
    ("Nguye\u0302\u0303n", "Nguye\u0302\u0303n"),  # combining marks (decomposed Vietnamese) are letters
])
def test_terminal_text_strips_controls_and_invisible_characters(raw, shown):
    assert terminal_text(raw) == shown


def test_table_output_stays_one_line_per_row_without_controls():
    table = Table("\x1b[2JReport", ["Cán bộ", "Tên", "Số"], [["a\nb", "\x1b[31mĐỏ\u202e", 3], ["x\ty", "\r=1", 4]])
    out = to_text(table)
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out and "\t" not in out
    lines = out.splitlines()
    assert lines[0] == "Report" and len(lines) == 5
    assert lines[3].startswith("a b") and "Đỏ" in lines[3] and lines[4].startswith("x y")

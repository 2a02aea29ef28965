"""The PDF report, read back with pdftotext: Vietnamese letters survive, long tables keep their header."""
from __future__ import annotations

import subprocess

from collector.alerting.pdf import render
from collector.alerting.report_doc import ReportDoc
from collector.reports.export import Table
from collector.reports.report import ReportRow

HEADERS = ["Quầy", "Tên", "Số đánh giá", "Tỷ lệ hài lòng", "Điểm TB (0-100)", "Bấm lặp (bị lọc)"]


def text_of(doc, tmp_path) -> str:
    path = tmp_path / "r.pdf"
    path.write_bytes(render(doc))
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def doc(rows) -> ReportDoc:
    return ReportDoc("Báo cáo mức độ hài lòng", "2026-Q3", "Quý III/2026", "2026-07-01 – 2026-09-30", "xa-tan-lap",
                     "Xã Tân Lập", "vi", "2026-10-01 07:30", ReportRow("total", "total", 120, 66, flagged=3),
                     [Table("Tổng hợp", HEADERS, []), Table("Quầy", HEADERS, rows)])


def test_vietnamese_text_and_figures_survive(tmp_path):
    text = text_of(doc([["a", "Quầy 1 - Hộ tịch, đất đai (ưu tiên)", 120, 0.55, 41.7, 3]]), tmp_path)
    for words in ("Báo cáo mức độ hài lòng – Quý III/2026", "Phạm vi: Xã Tân Lập", "Quầy 1 - Hộ tịch, đất đai (ưu tiên)",
                  "55.0 %", "41.7", "Bấm lặp (bị lọc)"):
        assert words in text, words


def test_long_table_repeats_its_header_on_each_page(tmp_path):
    text = text_of(doc([[f"k{i}", f"Quầy số {i}", 10, 0.5, 40.0, 0] for i in range(120)]), tmp_path)
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= 3
    assert all("Số đánh giá" in p for p in pages if "Quầy số" in p)
    assert "Quầy số 119" in text

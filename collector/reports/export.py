"""Report rows as tables for people: terminal text, CSV (opens in Excel with Vietnamese intact), JSON, XLSX."""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

from .report import ReportRow

HEADERS = {
    "vi": {"group": "Nhóm", "name": "Tên", "count": "Số đánh giá", "satisfied_rate": "Tỷ lệ hài lòng",
           "mean_score": "Điểm TB (0-100)", "flagged": "Bấm lặp (bị lọc)", "level": "Mức", "total": "Tổng cộng"},
    "en": {"group": "Group", "name": "Name", "count": "Ratings", "satisfied_rate": "Satisfied",
           "mean_score": "Mean score (0-100)", "flagged": "Repeat presses (flagged)", "level": "Level",
           "total": "Total"},
}
DIM_NAMES = {
    "vi": {"site": "Điểm phục vụ", "device": "Thiết bị", "officer": "Cán bộ", "service": "Thủ tục",
           "reason": "Lý do", "day": "Ngày", "week": "Tuần", "month": "Tháng", "hour": "Giờ", "weekday": "Thứ",
           "province": "Tỉnh", "commune": "Xã/Phường", "centre": "Bộ phận một cửa", "counter": "Quầy"},
    "en": {"site": "Site", "device": "Device", "officer": "Officer", "service": "Service", "reason": "Reason",
           "day": "Day", "week": "Week", "month": "Month", "hour": "Hour", "weekday": "Weekday",
           "province": "Province", "commune": "Commune", "centre": "Centre", "counter": "Counter"},
}


# Names come from kiosk payloads. A spreadsheet runs a cell that starts with one of these as a formula
# (=HYPERLINK(...) sends data away, +/-/@ are read as formulas too, tab and line breaks hide the start).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Terminal control sequences (CSI with ESC [ or the one-byte C1 form, OSC ... BEL/ST, two-byte ESC x).
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]?")
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters an XLSX file cannot hold


def formula_like(value) -> bool:
    """A text a spreadsheet would run as a formula; numbers are never that."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value):
    """A CSV cell that opens as text: an apostrophe goes before formula-like texts, as spreadsheets expect."""
    if value is None:
        return ""
    return "'" + value if formula_like(value) else value


def terminal_text(text: str) -> str:
    """``text`` without escape sequences, control characters (except line break and tab) or invisible
    format characters (right-to-left overrides, zero-width), none of which belongs in a name."""
    text = _ESCAPE.sub("", text)
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))


@dataclass
class Table:
    """A titled grid of plain values; every view and report becomes one before it is written out."""

    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    sheet: str = ""  # its XLSX sheet's name (at most 31 characters) when the title is longer


def level_keys(rows: Sequence[ReportRow]) -> list[tuple[int, int]]:
    keys = {k for r in rows for k in r.levels}
    return sorted(keys, key=lambda k: (-k[0], k[1]))


def report_table(rows: Sequence[ReportRow], by: str, lang: str = "vi", title: str = "",
                 total: ReportRow | None = None) -> Table:
    h = HEADERS[lang]
    levels = level_keys(rows)
    one_scale = len({s for s, _ in levels}) <= 1
    level_headers = [f"{h['level']} {r}" if one_scale else f"{h['level']} {r}/{s}" for s, r in levels]
    headers = [DIM_NAMES[lang].get(by, h["group"]), h["name"], h["count"], h["satisfied_rate"], h["mean_score"],
               h["flagged"], *level_headers]

    def line(r: ReportRow, group: str, name: str) -> list:
        faces = [None] * len(levels) if r.hidden else [r.levels.get(k, 0) for k in levels]  # privacy.py
        return [group, name, r.count, r.satisfied_rate, r.mean_score, r.flagged, *faces]

    table = Table(title, headers, [line(r, r.group, r.name) for r in rows])
    if total is not None:
        table.rows.append(line(total, h["total"], ""))
    return table


def _cell(value, pct: bool) -> str:
    if value is None:
        return "–"
    if pct and isinstance(value, float):
        return f"{value * 100:.1f} %"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def to_text(table: Table, max_width: int = 40) -> str:
    """Aligned columns for a terminal; rates as percentages, numbers right-aligned."""
    pct_col = 3 if len(table.headers) > 3 else -1
    one_line = lambda text: " ".join(terminal_text(str(text)).split("\n")).replace("\t", " ")  # noqa: E731
    cells = [[one_line(_cell(v, i == pct_col))[:max_width] for i, v in enumerate(row)] for row in table.rows]
    table = Table(one_line(table.title), [one_line(h) for h in table.headers], table.rows)
    widths = [max([len(hd)] + [len(r[i]) for r in cells]) for i, hd in enumerate(table.headers)]
    numeric = [i >= 2 for i in range(len(table.headers))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip()

    out = [table.title] if table.title else []
    out += [fmt(table.headers), "  ".join("-" * w for w in widths)]
    out += [fmt(r) for r in cells]
    return "\n".join(out) + "\n"


def to_csv(tables: Sequence[Table]) -> bytes:
    """UTF-8 with a byte order mark so Excel shows Vietnamese letters; tables separated by a blank line.
    Texts that would run as formulas get a leading apostrophe."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        if len(tables) > 1 and table.title:
            writer.writerow([csv_cell(table.title)])
        writer.writerow([csv_cell(h) for h in table.headers])
        writer.writerows([[csv_cell(v) for v in row] for row in table.rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def report_json(rows: Sequence[ReportRow], total: ReportRow, by: str, period, completeness, lang: str) -> str:
    """A report for scripts: the period, the groups, their total and the completeness they rest on."""
    return json.dumps({"period": {"label": period.label, "start": period.start.isoformat(),
                                  "end": period.end.isoformat()},
                       "by": by, "rows": [r.to_dict() for r in rows], "total": total.to_dict(),
                       "completeness": {**completeness.to_dict(), "summary": completeness.line(lang)}},
                      ensure_ascii=False, indent=1)


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """One sheet per table, header row bold and frozen, rates formatted as percentages. Every text is a
    text cell (never a formula); formula-like ones are also marked as typed with a leading apostrophe."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for i, table in enumerate(tables):
        name = _sheet_name(table.sheet or table.title or f"Sheet{i + 1}", used)
        ws = wb.create_sheet(name)
        for r, row in enumerate([table.headers, *table.rows], start=1):
            for c, value in enumerate(row, start=1):
                _xlsx_cell(ws.cell(r, c), value)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for col, header in enumerate(table.headers, start=1):
            ws.column_dimensions[ws.cell(1, col).column_letter].width = max(10, min(40, len(str(header)) + 2))
            if header in (HEADERS["vi"]["satisfied_rate"], HEADERS["en"]["satisfied_rate"]):
                for cell in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                    cell[0].number_format = "0.0%"
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_cell(cell, value) -> None:
    if isinstance(value, str):
        cell.value = _XLSX_ILLEGAL.sub("", value)
        cell.data_type = "s"  # assigning a text starting with '=' made it a formula
        cell.quotePrefix = formula_like(value)
    else:
        cell.value = value


SHEET_MAX = 31  # what Excel allows


def _sheet_name(title: str, used: set[str]) -> str:
    """A sheet name Excel accepts: no []:*?/\\, at most 31 characters, unique in the file. A longer title keeps
    its head (before ':', '(' or '·'), cut after its last whole word that fits (tables give short names in
    ``sheet``: this is the fallback)."""
    if len(title) > SHEET_MAX:  # "Độ đầy đủ: đã nhận ...", "Theo ngày (30 ngày qua)": the head names the table
        head = re.split(r"[:(·]", title, maxsplit=1)[0].strip()
        title = head if len(head) >= 3 else title
    title = title.replace("/", "-").replace("\\", "-")  # "Xã/Phường" -> "Xã-Phường"
    base = " ".join("".join(c for c in title if c not in "[]:*?").split()) or "Sheet"
    if len(base) > SHEET_MAX:
        cut = base[:SHEET_MAX + 1].rsplit(" ", 1)[0] if " " in base[:SHEET_MAX + 1] else base[:SHEET_MAX]
        base = cut[:SHEET_MAX].rstrip(" ,.;·-(") or base[:SHEET_MAX]
    name, n = base, 2
    while name.lower() in {u.lower() for u in used}:  # Excel compares sheet names without case
        tail = f" ({n})"
        name, n = base[:SHEET_MAX - len(tail)].rstrip() + tail, n + 1
    used.add(name)
    return name

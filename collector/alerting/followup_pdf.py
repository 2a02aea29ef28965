"""The follow-up answers on paper: the SIPAS elements' table and the comments, one block each with the
rating's face, counter, officer and procedure. Contact details are never printed.

``draw`` adds the section to a PDF being made (the e-mailed reports, collector/alerting/pdf.py); ``render``
makes a document of its own (the dashboard's /followup.pdf). Text is drawn as text, never interpreted.
"""
from __future__ import annotations

from ..reports.export import Table
from ..followup import answers

WORDS = {
    "vi": {"comments": "Ý kiến người dân qua mã QR", "face": "mặt", "officer": "cán bộ", "service": "thủ tục",
           "ticket": "phiếu", "none": "Không có ý kiến nào trong kỳ.", "scope": "Phạm vi", "period": "Kỳ",
           "truncated": "Chỉ in {n} ý kiến mới nhất.", "no_contact": "Không in thông tin liên hệ."},
    "en": {"comments": "Citizens' comments by QR", "face": "face", "officer": "officer", "service": "procedure",
           "ticket": "ticket", "none": "No comments in this period.", "scope": "Scope", "period": "Period",
           "truncated": "Only the {n} newest comments are printed.", "no_contact": "Contact details are not printed."},
}
MAX_COMMENTS = 500


def _cells(pdf, table: Table, width: float) -> None:
    """A small table of any columns: the first wide, the others equal."""
    n = len(table.headers)
    first = width * 0.3
    rest = (width - first) / max(1, n - 1)
    widths = [first] + [rest] * (n - 1)
    pdf.set_font("DejaVu", "B", 7.5)
    pdf.set_fill_color(225, 230, 238)
    y = pdf.get_y()
    for i, (h, cw) in enumerate(zip(table.headers, widths)):
        pdf.set_xy(pdf.l_margin + sum(widths[:i]), y)
        pdf.multi_cell(cw, 4, str(h), border="B", fill=True, align="L")
    pdf.set_y(max(pdf.get_y(), y + 8))
    pdf.set_font("DejaVu", "", 8.5)
    for row in table.rows:
        if pdf.get_y() + 10 > pdf.page_break_trigger:
            pdf.add_page()
        y = pdf.get_y()
        bottom = y
        for i, (v, cw) in enumerate(zip(row, widths)):
            pdf.set_xy(pdf.l_margin + sum(widths[:i]), y)
            pdf.multi_cell(cw, 5, "–" if v is None or v == "" else str(v), align="L")
            bottom = max(bottom, pdf.get_y())
        pdf.set_y(bottom)
        pdf.line(pdf.l_margin, bottom, pdf.l_margin + width, bottom)


def draw(pdf, width: float, by_element: Table, data: dict, lang: str) -> None:
    """The elements' table, then each comment (newest first)."""
    w = WORDS[lang]
    if pdf.get_y() > pdf.h - 45:
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, by_element.title, new_x="LMARGIN", new_y="NEXT")
    _cells(pdf, by_element, width)
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, w["comments"], new_x="LMARGIN", new_y="NEXT")
    with_comment = [r for r in data["answers"] if r.get("comment")][:MAX_COMMENTS]
    pdf.set_font("DejaVu", "", 9)
    if not with_comment:
        pdf.cell(width, 6, w["none"], new_x="LMARGIN", new_y="NEXT")
        return
    if len(with_comment) == MAX_COMMENTS or data.get("truncated"):
        pdf.multi_cell(width, 5, w["truncated"].format(n=len(with_comment)), new_x="LMARGIN", new_y="NEXT")
    for r in with_comment:
        if pdf.get_y() + 14 > pdf.page_break_trigger:
            pdf.add_page()
        face = f"{w['face']} {r['rating']}/{r['scale']}" if r.get("rating") is not None else ""
        scores = " ".join(f"{i}:{r[e]}" for i, e in enumerate(answers.ELEMENTS, 1) if r.get(e) is not None)
        head = " · ".join(x for x in (r["time"], r.get("centre_name") or r["site"], r["device"], face,
                                      f"{w['officer']} {r['officer_name']}" if r.get("officer_name") else "",
                                      f"{w['service']} {r['service_name']}" if r.get("service_name") else "",
                                      f"{w['ticket']} {r['ticket']}" if r.get("ticket") else "", scores) if x)
        pdf.set_font("DejaVu", "B", 8)
        pdf.multi_cell(width, 4.5, head, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 9.5)
        pdf.multi_cell(width, 5, f"“{r['comment']}”", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)


def render(title: str, scope_name: str, period_label: str, by_element: Table, data: dict, lang: str) -> bytes:
    from .fonts import a4_document

    pdf, width = a4_document(f"{title} {period_label} - {scope_name}")
    w = WORDS[lang]
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(width, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for line in (f"{w['scope']}: {scope_name}", f"{w['period']}: {period_label}", w["no_contact"]):
        pdf.multi_cell(width, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    draw(pdf, width, by_element, data, lang)
    return bytes(pdf.output())

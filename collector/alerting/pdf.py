"""A report as a PDF, without a browser: fpdf2 with the DejaVu Sans font, which has every Vietnamese letter
(the fonts and where they come from: fonts.py)."""
from __future__ import annotations

from .fonts import a4_document

COLS = (0.40, 0.12, 0.15, 0.18, 0.15)  # name, ratings, satisfied, mean score, flagged (shares of the width)
BAD = (180, 30, 30)


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f} %"


def _num(v) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if isinstance(v, float) else f"{v:,}".replace(",", " ")


def render(doc) -> bytes:
    pdf, width = a4_document(f"{doc.title} {doc.label} - {doc.scope_name}")
    from .report_words import WORDS

    w = WORDS[doc.lang]
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(width, 8, f"{doc.title} – {doc.period_text}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for label, value in ((w["scope"], doc.scope_name), (w["period"], f"{doc.label} ({doc.dates})"),
                         (w["generated"], doc.generated)):
        pdf.multi_cell(width, 5.5, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    if doc.completeness is not None:  # whether every rating the kiosks made is in these figures
        pdf.multi_cell(width, 5.5, doc.completeness.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    # Headline figures, as the summary cards of the printable page
    t = doc.total
    cards = ((w["ratings"], _num(t.count)), (w["rate"], _pct(t.satisfied_rate)), (w["score"], _num(t.mean_score)),
             (w["flagged"], _num(t.flagged)))
    cw = width / len(cards)
    y = pdf.get_y()
    for i, (label, value) in enumerate(cards):
        pdf.set_xy(pdf.l_margin + i * cw, y)
        pdf.set_fill_color(242, 244, 247)
        pdf.set_font("DejaVu", "", 8)
        pdf.cell(cw - 2, 6, label, fill=True, new_x="LEFT", new_y="NEXT")
        pdf.set_font("DejaVu", "B", 14)
        pdf.cell(cw - 2, 9, value, fill=True)
    pdf.set_xy(pdf.l_margin, y + 18)
    if not t.count and not t.flagged:
        pdf.set_font("DejaVu", "", 10)
        pdf.cell(width, 6, w["none"], new_x="LMARGIN", new_y="NEXT")
    for table in doc.tables[1:]:
        # every rating in the reasons table is unsatisfied by definition: no red there
        _table(pdf, table, width, doc.low if table.title != w["reasons"] else -1)
    if getattr(doc, "followup", None):  # the thank-you QR's answers: by SIPAS element, then the comments
        from .followup_pdf import draw

        draw(pdf, width, doc.followup[0], doc.followup[2], doc.lang)
    return bytes(pdf.output())


def _fit(pdf, text: str, w: float) -> str:
    if pdf.get_string_width(text) <= w:
        return text
    while text and pdf.get_string_width(text + "…") > w:
        text = text[:-1]
    return text + "…"


def _table(pdf, table, width: float, low_below: float) -> None:
    if not table.rows:
        return
    if pdf.get_y() > pdf.h - 45:
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, table.title, new_x="LMARGIN", new_y="NEXT")
    widths = [width * c for c in COLS]
    headers = [table.headers[1], *table.headers[2:6]]

    def header() -> None:
        pdf.set_font("DejaVu", "B", 7.5)
        pdf.set_fill_color(225, 230, 238)
        for i, (h, cw) in enumerate(zip(headers, widths)):
            pdf.cell(cw, 6, _fit(pdf, h, cw - 1), border="B", fill=True, align="L" if i == 0 else "R")
        pdf.ln()
        pdf.set_font("DejaVu", "", 8.5)

    header()
    for row in table.rows:
        if pdf.get_y() + 5.5 > pdf.page_break_trigger:  # a long table goes on with its header repeated
            pdf.add_page()
            header()
        group, name, count, rate, score, flagged = row[:6]
        cells = [name or group, _num(count), _pct(rate), _num(score), _num(flagged)]
        low = rate is not None and rate < low_below
        for i, (text, cw) in enumerate(zip(cells, widths)):
            if i == 2 and low:
                pdf.set_text_color(*BAD)
            pdf.cell(cw, 5.5, _fit(pdf, str(text), cw - 1), border="B", align="L" if i == 0 else "R")
            pdf.set_text_color(0, 0, 0)
        pdf.ln()

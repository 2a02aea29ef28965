"""A report as a PDF, without a browser: fpdf2 with the DejaVu Sans font, which has every Vietnamese letter.

The font comes from Debian's fonts-dejavu-core (/usr/share/fonts/truetype/dejavu); set
HAILONG_PDF_FONT_DIR to a folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf elsewhere.
The full fonts (6,000 glyphs) take fpdf2 0.7 s per document to parse and subset; they are cut once per
process to the Latin letters Vietnamese needs (and common punctuation), and then a PDF takes ~20 ms.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts/dejavu")
COLS = (0.40, 0.12, 0.15, 0.18, 0.15)  # name, ratings, satisfied, mean score, flagged (shares of the width)
BAD = (180, 30, 30)


def font_dir() -> Path:
    dirs = [os.environ["HAILONG_PDF_FONT_DIR"]] if os.environ.get("HAILONG_PDF_FONT_DIR") else list(FONT_DIRS)
    for d in dirs:
        if (Path(d) / "DejaVuSans.ttf").is_file() and (Path(d) / "DejaVuSans-Bold.ttf").is_file():
            return Path(d)
    raise RuntimeError(f"DejaVu Sans fonts not found in {', '.join(dirs)}: install fonts-dejavu-core "
                       "(apt-get install fonts-dejavu-core) or set HAILONG_PDF_FONT_DIR")


# Basic Latin, Latin-1, Latin Extended A/B, combining accents, Latin Extended Additional (Vietnamese),
# general punctuation, ₫ and €, arrows used in site names.
UNICODES = [*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x300, 0x370), *range(0x1E00, 0x1F00),
            *range(0x2000, 0x2070), 0x20AB, 0x20AC, *range(0x2190, 0x2195)]


@lru_cache(maxsize=1)
def fonts() -> tuple[str, str]:
    """Paths of the regular and bold fonts, cut down to UNICODES (once per process)."""
    import logging

    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    src = font_dir()
    out = Path(tempfile.mkdtemp(prefix="hailong-fonts-"))
    atexit.register(shutil.rmtree, out, True)
    paths = []
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        font = TTFont(src / name)
        options = subset.Options()
        options.notdef_outline = True
        options.name_IDs = ["*"]
        sub = subset.Subsetter(options)
        sub.populate(unicodes=UNICODES)
        sub.subset(font)
        font.save(out / name)
        paths.append(str(out / name))
    return paths[0], paths[1]


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f} %"


def _num(v) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if isinstance(v, float) else f"{v:,}".replace(",", " ")


def render(doc) -> bytes:
    from fpdf import FPDF

    regular, bold = fonts()
    pdf = FPDF(format="A4")
    pdf.set_title(f"{doc.title} {doc.label} - {doc.scope_name}")
    pdf.set_creator("hailong-collector")
    pdf.add_font("DejaVu", "", regular)
    pdf.add_font("DejaVu", "B", bold)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
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

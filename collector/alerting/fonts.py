"""The DejaVu Sans fonts every PDF of the collector draws with (reports, the follow-up answers), cut once per
process to the letters Vietnamese needs: fpdf2 takes 0.7 s to parse the full fonts, ~20 ms the cut ones.
HAILONG_PDF_FONT_DIR names a folder with DejaVuSans.ttf and DejaVuSans-Bold.ttf where Debian's are not."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts/dejavu")

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


def a4_document(title: str):
    """An A4 PDF with both fonts as "DejaVu", 15 mm margins and its first page: (the FPDF, the text width)."""
    from fpdf import FPDF

    regular, bold = fonts()
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("hailong-collector")
    pdf.add_font("DejaVu", "", regular)
    pdf.add_font("DejaVu", "B", bold)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    return pdf, pdf.w - pdf.l_margin - pdf.r_margin


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

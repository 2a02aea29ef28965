"""What every page is made of: a Page (template, its values, the tables its downloads hold), table cells
formatted for display, links that keep the page's query. The HTML itself is in templates/ (Jinja2,
autoescaped), so every value from the database or the URL is escaped by default."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..reports.export import Table
from .i18n import t

NAV = ("overview", "ranking", "officers", "followup", "patterns", "devices", "alerts", "report")
PATHS = {"overview": "/", "ranking": "/ranking", "patterns": "/patterns", "devices": "/devices",
         "alerts": "/alerts", "report": "/report", "officers": "/officers", "admin": "/admin",
         "followup": "/followup"}

ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                  autoescape=select_autoescape(["html"], default_for_string=True, default=True),
                  trim_blocks=True, lstrip_blocks=True,
                  auto_reload=False)  # templates ship with the code: no file check on every page


@dataclass
class Page:
    view: str
    title: str
    template: str
    values: dict = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)  # what the CSV/XLSX download holds
    export_name: str = ""


@dataclass
class TableView:
    caption: str
    head: list[tuple[str, str]]  # (text, CSS class)
    rows: list[tuple[str, list[tuple[str, str]]]]
    reflow: bool = False  # on a phone each row becomes a card, each cell labelled with its column's name

    def __bool__(self) -> bool:
        return bool(self.rows)


def query(params: dict, **changes) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return ("?" + urlencode(merged)) if merged else ""


def cell_text(v, pct: bool) -> str:
    if v is None:
        return "–"
    if pct and isinstance(v, (int, float)):
        return f"{v * 100:.1f} %"
    if isinstance(v, float):
        return f"{v:.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}".replace(",", "\u202f")  # thin space: reads right in Vietnamese and English
    return str(v)


def table_view(table: Table, classes: list[str] | None = None, pct_cols: tuple[int, ...] = (),
               num_from: int = 2, skip: tuple[int, ...] = (), caption: bool = True,
               minor: tuple[int, ...] = (), reflow: bool = False) -> TableView:
    """Display cells of a table; ``classes`` gives a CSS class per row (e.g. 'few', 'bad'); ``skip`` hides
    columns that only the downloads need (slugs next to their display names); ``minor`` columns are left
    out on a phone, so the names and the figures that matter fit its width."""
    numeric = {j for row in table.rows for j, v in enumerate(row)
               if j >= num_from and isinstance(v, (int, float)) and not isinstance(v, bool)}

    width = max([len(table.headers), *map(len, table.rows)])
    # each column's class for a figure and for anything else, worked out once (a table has thousands of cells)
    css = [(" ".join(c for c, on in (("num", True), ("minor", j in minor)) if on),
            "minor" if j in minor else "") for j in range(width)]
    head = [(str(h), css[j][j not in numeric]) for j, h in enumerate(table.headers) if j not in skip]
    rows = []
    for i, row in enumerate(table.rows):
        cls = classes[i] if classes and i < len(classes) else ""
        rows.append((cls, [(cell_text(v, j in pct_cols), css[j][not (j >= num_from and isinstance(v, (int, float)))])
                           for j, v in enumerate(row) if j not in skip]))
    return TableView(table.title if caption else "", head, rows, reflow)


def render(template: str, lang: str, **values) -> str:
    other = "en" if lang == "vi" else "vi"
    return ENV.get_template(template).render(lang=lang, other=other, t=lambda key, **kw: t(lang, key, **kw),
                                             **values)


def login_page(lang: str, error: str = "", next_path: str = "/") -> str:
    return render("login.html", lang, title=t(lang, "login"), page_class="view-login", error=error,
                  next_path=next_path)

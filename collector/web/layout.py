"""The HTML around every page: navigation, language switch, export links, tables. Everything escaped."""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote, urlencode

from ..export import Table
from .i18n import t

NAV = ("overview", "ranking", "patterns", "devices", "alerts", "report")
PATHS = {"overview": "/", "ranking": "/ranking", "patterns": "/patterns", "devices": "/devices",
         "alerts": "/alerts", "report": "/report"}


@dataclass
class Page:
    view: str
    title: str
    body: str
    tables: list[Table] = field(default_factory=list)  # what the CSV/XLSX download holds
    export_name: str = ""


def query(params: dict, **changes) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return ("?" + urlencode(merged)) if merged else ""


def html_table(table: Table, classes: list[str] | None = None, pct_cols: tuple[int, ...] = (),
               num_from: int = 2, skip: tuple[int, ...] = (), caption: bool = True) -> str:
    """A table; ``classes`` gives a CSS class per row (e.g. 'few', 'bad'); ``skip`` hides columns that
    only the downloads need (slugs next to their display names)."""
    numeric = {j for row in table.rows for j, v in enumerate(row)
               if j >= num_from and isinstance(v, (int, float)) and not isinstance(v, bool)}
    head = "".join(f"<th{' class=num' if j in numeric else ''}>{escape(str(h))}</th>"
                   for j, h in enumerate(table.headers) if j not in skip)
    rows = []
    for i, row in enumerate(table.rows):
        cls = (classes or [])[i] if classes and i < len(classes) else ""
        cells = []
        for j, v in enumerate(row):
            if j in skip:
                continue
            if v is None:
                text = "–"
            elif j in pct_cols and isinstance(v, (int, float)):
                text = f"{v * 100:.1f} %"
            elif isinstance(v, float):
                text = f"{v:.1f}"
            elif isinstance(v, int) and not isinstance(v, bool):
                text = f"{v:,}".replace(",", "\u202f")  # thin space: reads right in Vietnamese and English
            else:
                text = str(v)
            num = ' class="num"' if j >= num_from and isinstance(v, (int, float)) else ""
            cells.append(f"<td{num}>{escape(text)}</td>")
        rows.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>" if cls else "<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{escape(table.title)}</caption>" if table.title and caption else ""
    return f'<table>{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def document(title: str, body: str, lang: str, page_class: str = "") -> str:
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title>"
            f'<link rel="stylesheet" href="/static/style.css"><link rel="icon" href="/static/favicon.svg">'
            f'<script src="/static/app.js" defer></script></head>'
            f'<body class="{page_class}">{body}</body></html>')


def shell(page: Page, lang: str, params: dict, path: str, form_token: str = "") -> str:
    """Header with navigation, language switch, downloads and logout around the page body; ``form_token``
    proves to the server that a logout comes from this page and not from another site."""
    current = ' aria-current="page"'
    links = "".join(f'<a href="{PATHS[v]}"{current if v == page.view else ""}>{escape(t(lang, v))}</a>' for v in NAV)
    other = "en" if lang == "vi" else "vi"
    switch = f'<a class="lang" href="{escape(path + query(params, lang=other))}" hreflang="{other}">{other.upper()}</a>'
    logout = (f'<form method="post" action="/logout" class="logout">'
              f'<input type="hidden" name="csrf" value="{escape(form_token)}"><button type="submit">'
              f"{escape(t(lang, 'logout'))}</button></form>")
    exports = ""
    if page.tables:
        base = "/overview" if path == "/" else path
        q = escape(query({k: v for k, v in params.items() if k != "lang"}))
        exports = (f'<p class="exports">{escape(t(lang, "export"))}: '
                   f'<a href="{base}.csv{q}" download>CSV</a> · <a href="{base}.xlsx{q}" download>XLSX</a></p>')
    body = (f'<header><div class="brand">{escape(t(lang, "app"))}</div><nav>{links}</nav>'
            f'<div class="tools">{switch}{logout}</div></header>'
            f"<main><h1>{escape(page.title)}</h1>{exports}{page.body}</main>")
    return document(f"{page.title} · {t(lang, 'app')}", body, lang, f"view-{page.view}")


def login_page(lang: str, error: str = "", next_path: str = "/") -> str:
    other = "en" if lang == "vi" else "vi"
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (f'<main class="login"><h1>{escape(t(lang, "app"))}</h1>{err}'
            f'<form method="post" action="/login"><input type="hidden" name="next" value="{escape(next_path)}">'
            f'<label>{escape(t(lang, "username"))}<input name="username" autocomplete="username" required autofocus></label>'
            f'<label>{escape(t(lang, "password"))}<input name="password" type="password" autocomplete="current-password" required></label>'
            f'<button type="submit">{escape(t(lang, "login"))}</button></form>'
            f'<p><a class="lang" href="/login?lang={other}&amp;next={escape(quote(next_path, safe="/"))}">{other.upper()}</a></p></main>')
    return document(t(lang, "login"), body, lang, "view-login")

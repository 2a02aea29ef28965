"""Charts as inline SVG rendered on the server: no script, no CDN, they print and work offline."""
from __future__ import annotations

import unicodedata
from html import escape

from markupsafe import Markup
from typing import Sequence


def rate_colour(rate: float | None) -> str:
    """Red (0 %) through amber (50 %) to green (100 %); grey when there is no data."""
    if rate is None:
        return "#e5e7eb"
    rate = max(0.0, min(1.0, rate))
    stops = [(0.0, (185, 28, 28)), (0.5, (234, 179, 8)), (0.8, (132, 204, 22)), (1.0, (21, 128, 61))]
    for (x0, c0), (x1, c1) in zip(stops, stops[1:]):
        if rate <= x1:
            f = (rate - x0) / (x1 - x0)
            r, g, b = (round(a + (b - a) * f) for a, b in zip(c0, c1))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#15803d"


def pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f} %"


# On a narrow screen a chart keeps at least its drawn width (its card scrolls), so text stays at its CSS size.


def line_chart(points: Sequence[tuple[str, float | None, int]], title: str, width: int = 720, height: int = 220,
               threshold: float | None = None) -> str:
    """Satisfaction per day (0..1) as a line with dots; days without ratings leave a gap."""
    left, right, top, bottom = 44, 44, 12, 34  # the percentages on both sides: a phone opens at the right end
    w, h = width - left - right, height - top - bottom
    n = max(1, len(points) - 1)
    x = lambda i: left + w * i / n  # noqa: E731
    y = lambda v: top + h * (1 - v)  # noqa: E731
    out = [f'<svg class="chart trend w{width}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for v in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="axis">{v * 100:.0f}%</text>'
                   f'<text x="{left + w + 6}" y="{y(v) + 4:.1f}" class="axis">{v * 100:.0f}%</text>')
    if threshold is not None:
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                   f'stroke="#b91c1c" stroke-dasharray="4 4"/>')
    segment: list[str] = []
    segments = [segment]
    for i, (_, v, _) in enumerate(points):
        if v is None:
            segment = []
            segments.append(segment)
        else:
            segment.append(f"{x(i):.1f},{y(v):.1f}")
    for seg in segments:
        if len(seg) > 1:
            out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1d4ed8" stroke-width="2"/>')
    step = max(1, len(points) // 6)
    for i, (label, v, count) in enumerate(points):
        if v is not None:
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="#1d4ed8">'
                       f"<title>{escape(label)}: {pct(v)} ({count})</title></circle>")
        last = i == len(points) - 1  # today: the page opens scrolled to it (.chart-scroll.newest)
        if (i % step == 0 and len(points) - 1 - i >= step / 2) or last:
            anchor = "end" if last else "middle"
            mark = ' data-today="1"' if last else ""
            out.append(f'<text x="{x(i):.1f}" y="{height - 10}" text-anchor="{anchor}" class="axis"{mark}>'
                       f"{escape(label[5:])}</text>")
    out.append("</svg>")
    return Markup("".join(out))  # built here, every text in it escaped


def text_width(text: str, size: float) -> float:
    """A generous guess of ``text``'s width in px at ``size`` px in a sans-serif font (DejaVu Sans is wide)."""
    em = 0.0
    for c in unicodedata.normalize("NFC", text):
        if c in "WM@":
            em += 1.0
        elif c in "mw":
            em += 0.98
        elif c.isupper():
            em += 0.78
        elif c == " ":
            em += 0.34
        elif c in ".,:;'|!il":
            em += 0.36
        else:
            em += 0.66
    return em * size


def fit(text: str, room: float, size: float) -> str:
    """``text``, cut with an ellipsis where it would run past ``room`` px."""
    if text_width(text, size) <= room:
        return text
    while text and text_width(text + "…", size) > room:
        text = text[:-1]
    return text.rstrip(" ,;:-·") + "…"


def bar_chart(items: Sequence[tuple[str, float | None, int]], title: str, width: int = 720,
              threshold: float | None = None, css: str = "") -> str:
    """Horizontal bars of satisfaction (0..1), one per group: the name on a line of its own above the bar (the
    whole width, so a long centre name is never cut), the rate and the count at the line's right end."""
    line_h, bar_h, gap = 18, 16, 10
    step = line_h + bar_h + gap
    height = max(1, len(items)) * step + 4
    room = width - 130  # the name's room before the rate and count
    out = [f'<svg class="chart bars w{width}{" " + css if css else ""}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i, (label, rate, count) in enumerate(items):
        y0 = 4 + i * step
        short = fit(label, room, 13)
        out.append(f'<text x="0" y="{y0 + 13}" class="label">{escape(short)}<title>{escape(label)}</title></text>')
        out.append(f'<text x="{width}" y="{y0 + 13}" text-anchor="end" class="label">{pct(rate)} · {count}</text>')
        out.append(f'<rect x="0" y="{y0 + line_h}" width="{width}" height="{bar_h}" fill="#f3f4f6"/>')
        if rate is not None:
            out.append(f'<rect x="0" y="{y0 + line_h}" width="{width * rate:.1f}" height="{bar_h}" '
                       f'fill="{rate_colour(rate)}"/>')
    if threshold is not None:
        tx = width * threshold
        out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="0" y2="{height}" stroke="#b91c1c" stroke-dasharray="4 4"/>')
    out.append("</svg>")
    return Markup("".join(out))  # built here, every text in it escaped


SHORT_WEEKDAYS = {"vi": ["T2", "T3", "T4", "T5", "T6", "T7", "CN"], "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def heatmap(cells: dict[tuple[int, int], tuple[float | None, int]], lang: str, title: str,
            today: int | None = None, width: int = 350) -> str:
    """Hours as rows (the first to the last hour with ratings), weekdays (1..7) as columns, so the week fits a
    phone's width: each cell holds the satisfaction rate (large, and its colour) and the ratings (small),
    readable without hovering; ``today``'s weekday column is outlined."""
    names = SHORT_WEEKDAYS.get(lang, SHORT_WEEKDAYS["vi"])
    hours = [h for _, h in cells] or [0]
    first, last = min(hours), max(hours)
    label_w, top, ch = 40, 26, 36
    cw = (width - label_w) / 7
    height = top + (last - first + 1) * ch + 4
    out = [f'<svg class="chart heatmap w{width}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    for wd in range(1, 8):
        x = label_w + (wd - 1) * cw + cw / 2
        mark = ' data-today="1" font-weight="700" text-decoration="underline"' if wd == today else ""
        out.append(f'<text x="{x:.1f}" y="16" text-anchor="middle" class="label"{mark}>{escape(names[wd - 1])}</text>')
    for row, hour in enumerate(range(first, last + 1)):
        y0 = top + row * ch
        out.append(f'<text x="{label_w - 6}" y="{y0 + 22}" text-anchor="end" class="axis">{hour:02d}h</text>')
        for wd in range(1, 8):
            rate, count = cells.get((wd, hour), (None, 0))
            x0 = label_w + (wd - 1) * cw
            out.append(f'<rect x="{x0 + 1:.1f}" y="{y0 + 1}" width="{cw - 2:.1f}" height="{ch - 2}" rx="3" '
                       f'fill="{rate_colour(rate) if count else "#f3f4f6"}">'
                       f"<title>{escape(names[wd - 1])} {hour}h: {pct(rate)} ({count})</title></rect>")
            if count:
                fg = "#fff" if rate is not None and (rate < 0.35 or rate > 0.85) else "#111"
                mid = x0 + cw / 2
                out.append(f'<text x="{mid:.1f}" y="{y0 + 16}" text-anchor="middle" class="cell-rate" fill="{fg}">'
                           f'{"–" if rate is None else f"{rate * 100:.0f}%"}</text>'
                           f'<text x="{mid:.1f}" y="{y0 + 30}" text-anchor="middle" class="cell" fill="{fg}">'
                           f'{count if count < 1000 else f"{count // 1000}k"}</text>')
    if today:
        x0 = label_w + (today - 1) * cw
        out.append(f'<rect x="{x0 + 0.5:.1f}" y="1" width="{cw - 1:.1f}" height="{height - 2}" rx="4" fill="none" '
                   f'stroke="#111827" stroke-width="2" data-today="1"/>')
    out.append("</svg>")
    return Markup("".join(out))  # built here, every text in it escaped

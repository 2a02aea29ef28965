"""Charts as inline SVG rendered on the server: no script, no CDN, they print and work offline."""
from __future__ import annotations

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
    left, right, top, bottom = 44, 12, 12, 34
    w, h = width - left - right, height - top - bottom
    n = max(1, len(points) - 1)
    x = lambda i: left + w * i / n  # noqa: E731
    y = lambda v: top + h * (1 - v)  # noqa: E731
    out = [f'<svg class="chart w{width}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for v in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="axis">{v * 100:.0f}%</text>')
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
        if i % step == 0 or i == len(points) - 1:
            anchor = "end" if i == len(points) - 1 else "middle"
            out.append(f'<text x="{x(i):.1f}" y="{height - 10}" text-anchor="{anchor}" class="axis">{escape(label[5:])}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # built here, every text in it escaped


def bar_chart(items: Sequence[tuple[str, float | None, int]], title: str, width: int = 720,
              threshold: float | None = None) -> str:
    """Horizontal bars of satisfaction (0..1), one per group, labelled with the rate and the count."""
    label_w, bar_h, gap = 230, 22, 8
    height = max(1, len(items)) * (bar_h + gap) + gap
    w = width - label_w - 110
    out = [f'<svg class="chart w{width}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i, (label, rate, count) in enumerate(items):
        y0 = gap + i * (bar_h + gap)
        short = label if len(label) <= 32 else label[:31] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y0 + 15}" text-anchor="end" class="label">{escape(short)}'
                   f"<title>{escape(label)}</title></text>")
        out.append(f'<rect x="{label_w}" y="{y0}" width="{w}" height="{bar_h}" fill="#f3f4f6"/>')
        if rate is not None:
            out.append(f'<rect x="{label_w}" y="{y0}" width="{w * rate:.1f}" height="{bar_h}" fill="{rate_colour(rate)}"/>')
        out.append(f'<text x="{label_w + w + 8}" y="{y0 + 15}" class="label">{pct(rate)} · {count}</text>')
    if threshold is not None:
        tx = label_w + w * threshold
        out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="0" y2="{height}" stroke="#b91c1c" stroke-dasharray="4 4"/>')
    out.append("</svg>")
    return Markup("".join(out))  # built here, every text in it escaped


def heatmap(cells: dict[tuple[int, int], tuple[float | None, int]], row_names: Sequence[str], title: str,
            width: int = 760) -> str:
    """Weekday rows (1..7) x hour columns (0..23); colour = satisfaction, number = ratings."""
    label_w, top = 80, 22
    cw = (width - label_w) / 24
    ch = 30
    height = top + 7 * ch + 4
    out = [f'<svg class="chart w{width}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for hour in range(24):
        out.append(f'<text x="{label_w + hour * cw + cw / 2:.1f}" y="15" text-anchor="middle" class="axis">{hour}</text>')
    for wd in range(1, 8):
        y0 = top + (wd - 1) * ch
        out.append(f'<text x="{label_w - 6}" y="{y0 + 19}" text-anchor="end" class="label">{escape(row_names[wd - 1])}</text>')
        for hour in range(24):
            rate, count = cells.get((wd, hour), (None, 0))
            x0 = label_w + hour * cw
            out.append(f'<rect x="{x0 + 1:.1f}" y="{y0 + 1}" width="{cw - 2:.1f}" height="{ch - 2}" rx="3" '
                       f'fill="{rate_colour(rate) if count else "#f3f4f6"}">'
                       f"<title>{escape(row_names[wd - 1])} {hour}h: {pct(rate)} ({count})</title></rect>")
            if count:
                fg = "#fff" if rate is not None and (rate < 0.35 or rate > 0.85) else "#111"
                out.append(f'<text x="{x0 + cw / 2:.1f}" y="{y0 + 19}" text-anchor="middle" class="cell" '
                           f'fill="{fg}">{count if count < 1000 else f"{count // 1000}k"}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # built here, every text in it escaped

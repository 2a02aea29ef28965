"""The officer evaluation sheet and the per-dossier export: thin SQL over ``ratings`` and ``events``,
the figures from collector/reports/officers.py, the tables written by collector/reports/export.py (which neutralises
formula-like and control characters in every cell)."""
from __future__ import annotations

import time
from datetime import date, datetime, time as dtime
from typing import Iterable, Sequence

from .export import HEADERS, Table, terminal_text
from .hierarchy import Hierarchy
from .officers import Grade, OEvent, OfficerRow, ORating, SiteQuality, evaluate
from .report import Period, _zone

DAY_MS = 86_400_000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORDS = {
    "vi": {"title": "Đánh giá cán bộ", "quality": "Chất lượng dữ liệu", "dossiers": "Đánh giá theo hồ sơ",
           "centre": "Trung tâm", "officer": "Mã cán bộ", "name": "Họ tên", "ratings": "Số đánh giá",
           "rate": "Tỷ lệ hài lòng", "grade": "Xếp loại", "rank": "Thứ hạng", "hours": "Giờ trực",
           "per_hour": "Đánh giá/giờ", "answered": "Yêu cầu được đánh giá", "expired": "Yêu cầu hết hạn",
           "reasons": "Lý do chưa hài lòng", "hidden": "ẩn (< {n} đánh giá)", "no_officer": "Không rõ cán bộ",
           "share": "Tỷ lệ không rõ cán bộ", "dossier": "Mã hồ sơ", "ticket": "Số thứ tự", "rating": "Mức đánh giá",
           "scale": "Thang", "reason": "Lý do", "service": "Lĩnh vực", "time": "Thời điểm", "counter": "Quầy"},
    "en": {"title": "Officer evaluation", "quality": "Data quality", "dossiers": "Ratings by dossier",
           "centre": "Centre", "officer": "Officer key", "name": "Name", "ratings": "Ratings",
           "rate": "Satisfied", "grade": "Grade", "rank": "Rank", "hours": "Hours on duty",
           "per_hour": "Ratings per hour", "answered": "Requests answered", "expired": "Requests expired",
           "reasons": "Reasons for poor ratings", "hidden": "hidden (< {n} ratings)", "no_officer": "No officer",
           "share": "Share without officer", "dossier": "Dossier", "ticket": "Ticket", "rating": "Rating",
           "scale": "Scale", "reason": "Reason", "service": "Service", "time": "Local time", "counter": "Counter"},
}


def _span(text: str) -> tuple[dtime, dtime]:
    a, b = text.split("-")
    end = dtime(23, 59, 59, 999999) if b == "24:00" else dtime.fromisoformat(b)
    return dtime.fromisoformat(a), end


def hours_for(cfg):
    """(site, local date) -> that day's opening spans from collector.yaml (none on holidays)."""
    holidays = set(cfg.holidays)

    def spans(site: str, day: date):
        oh = cfg.opening.centres.get(site, cfg.opening.default)
        if day in holidays or WEEKDAYS[day.weekday()] not in oh.weekdays:
            return []
        return sorted(_span(s) for s in oh.hours)

    return spans


def _sites_sql(sites: Sequence[str] | None) -> tuple[str, list]:
    if sites is None:
        return "", []
    return f" AND site IN ({', '.join('?' * len(sites))})", list(sites)


def fetch_ratings(db, start_ms: int, end_ms: int, sites: Sequence[str] | None = None,
                  include_unverified: bool = False) -> list[ORating]:
    where, params = _sites_sql(sites)
    if not include_unverified:
        where += " AND time_unverified = 0"
    rows = db.query("SELECT at_ms, site, device, officer, service, rating, scale, reason, request, dossier, ticket, "
                    f"flags FROM ratings WHERE at_ms >= ? AND at_ms < ?{where} ORDER BY at_ms, id",
                    [start_ms, end_ms, *params])
    return [ORating(int(r[0]), r[1], r[2], r[3] or None, r[4] or None, int(r[5]), int(r[6]), r[7] or None,
                    r[8] or None, r[9] or None, r[10] or None, bool(r[11])) for r in rows]


def fetch_events(db, start_ms: int, end_ms: int, sites: Sequence[str] | None = None) -> list[OEvent]:
    """Shift and request events, from a day before the period (a shift begun the evening before) to its end."""
    where, params = _sites_sql(sites)
    rows = db.query("SELECT at_ms, site, device, type, officer, service, seq, boot FROM events WHERE at_ms >= ? "
                    "AND at_ms < ? AND type IN ('sign_in', 'sign_out', 'auto_sign_out', 'request_expired')"
                    f"{where} ORDER BY at_ms, seq", [start_ms - DAY_MS, end_ms, *params])
    return [OEvent(int(r[0]), r[1], r[2], r[3], r[4] or None, r[5] or None, int(r[6]), r[7]) for r in rows]


def last_signs_of_life(db, boots: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """The last time (ms) each kiosk boot was heard from: its last live status, rating or event."""
    keys = sorted(set(boots))
    out: dict[tuple[str, str, str], int] = {}
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        match = " OR ".join(["(site = ? AND device = ? AND boot = ?)"] * len(chunk))
        args = [v for k in chunk for v in k]
        for site, device, boot, seen in db.query(f"SELECT site, device, boot, seen_at FROM boots WHERE {match}", args):
            out[(site, device, boot)] = _iso_ms(seen)
        for table in ("events", "ratings"):  # by the boot's own messages, placed on real time
            for site, device, boot, last in db.query(f"SELECT site, device, boot, MAX(at_ms) FROM {table} WHERE {match} "
                                                     f"GROUP BY site, device, boot", args):
                if last is not None:
                    key = (site, device, boot)
                    out[key] = max(out.get(key, 0), int(last))
    return out


def _iso_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _label(hierarchy: Hierarchy, kind: str, key: str, lang: str) -> str:
    value = hierarchy.labels.get(kind, {}).get(key) if hierarchy else None
    if isinstance(value, dict):
        return value.get(lang) or next(iter(value.values()))
    return value or key


def evaluation_figures(db, cfg, period: Period, hierarchy: Hierarchy | None,
                       sites: Sequence[str] | None = None) -> tuple[list[OfficerRow], list[SiteQuality]]:
    """Figures per (centre, officer) and the data-quality line per centre for the period. ``sites``:
    province, commune, centre or stored site slugs (None: everything; empty: nothing). Ratings and
    shifts of a merged commune's old site count under its new centre, so an officer is ranked once."""
    ev = cfg.evaluation
    site_list = sorted(hierarchy.expand(sites) if hierarchy else sites) if sites is not None else None
    if site_list is not None and not site_list:
        return [], []
    ratings = fetch_ratings(db, period.start_ms, period.end_ms, site_list)
    events = raw_events = fetch_events(db, period.start_ms, period.end_ms, site_list)
    if hierarchy:
        centre = {s: hierarchy.centre_of(s) for s in {r.site for r in ratings} | {e.site for e in events}}
        old = {s for s, c in centre.items() if s != c}
        if old:
            ratings = [r._replace(site=centre[r.site]) if r.site in old else r for r in ratings]
            events = [e._replace(site=centre[e.site]) if e.site in old else e for e in events]
    # the boots officers signed in on, by their stored sites: where did each go dark?
    life = last_signs_of_life(db, [(e.site, e.device, e.boot) for e in raw_events
                                   if e.type == "sign_in" and e.boot])
    if hierarchy and life:
        life = {(hierarchy.centre_of(s), d, b): ms for (s, d, b), ms in life.items()}
    return evaluate(ratings, events, start_ms=period.start_ms, end_ms=period.end_ms, tz=cfg.timezone,
                    satisfied=cfg.satisfied, hours_for=hours_for(cfg), min_ratings=ev.min_ratings,
                    grade_min_ratings=ev.grade_min_ratings,
                    grades=[Grade(g.name, g.min_satisfied) for g in ev.grades], life=life,
                    now_ms=int(time.time() * 1000))


def evaluation_tables(db, cfg, period: Period, hierarchy: Hierarchy, lang: str = "vi",
                      sites: Sequence[str] | None = None, figures=None) -> list[Table]:
    """The evaluation sheet; ``figures`` (from evaluation_figures) when the caller already has them."""
    w, ev = WORDS[lang], cfg.evaluation
    rows, quality = figures if figures is not None else evaluation_figures(db, cfg, period, hierarchy,
                                                                           sites or None)
    hidden = w["hidden"].format(n=ev.min_ratings)
    main = Table(f"{w['title']} {period.label}",
                 [w["centre"], w["officer"], w["name"], w["ratings"], HEADERS[lang]["satisfied_rate"], w["grade"], w["rank"], w["hours"],
                  w["per_hour"], w["answered"], w["expired"], w["reasons"]])
    for o in rows:
        reasons = "; ".join(f"{_label(hierarchy, 'reason', k, lang)}: {n}" for k, n in o.reasons.most_common())
        main.rows.append([
            hierarchy.centre_of(o.site) if hierarchy else o.site, o.officer, _label(hierarchy, "officer", o.officer, lang),
            o.ratings, hidden if o.suppressed else round(o.rate, 4), o.grade or ("" if not o.suppressed else hidden),
            o.rank, round(o.hours, 2), o.per_hour, o.answered, o.expired, hidden if o.suppressed else reasons])
    q = Table(f"{w['quality']} {period.label}", [w["centre"], w["ratings"], w["no_officer"], w["share"]])
    for s in quality:
        share = s.no_officer_share
        q.rows.append([s.site, s.ratings, s.no_officer, None if share is None else round(share, 4)])
    return [main, q]


def dossier_table(db, cfg, period: Period, hierarchy: Hierarchy, lang: str = "vi",
                  sites: Sequence[str] | None = None) -> Table:
    """One row per rating that names a dossier or a ticket, for linking with the one-stop system."""
    w, zone = WORDS[lang], _zone(cfg.timezone)
    site_list = sorted(hierarchy.expand(sites)) if sites else None
    table = Table(f"{w['dossiers']} {period.label}",
                  [w["dossier"], w["ticket"], w["rating"], w["scale"], w["reason"], w["officer"], w["service"],
                   w["time"], w["centre"], w["counter"]])
    for r in fetch_ratings(db, period.start_ms, period.end_ms, site_list, include_unverified=True):
        if r.dossier or r.ticket:
            local = datetime.fromtimestamp(r.at_ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")
            table.rows.append([r.dossier, r.ticket, r.rating, r.scale, r.reason, r.officer, r.service, local,
                               r.site, r.device])
    return table


def to_html(tables: Sequence[Table], lang: str = "vi") -> str:
    """A printable page (the browser's Print makes the PDF): every cell escaped, rates as percentages."""
    import html

    rate_header = HEADERS[lang]["satisfied_rate"]

    def cell(value, header: str) -> str:
        if value is None:
            return "–"
        if header in (rate_header, WORDS[lang]["share"]) and isinstance(value, float):
            return f"{value * 100:.1f} %"
        return html.escape(terminal_text(str(value)))

    # On a phone's screen the page keeps the screen's width and each table scrolls sideways in its own box;
    # printed, every table is whole on A4 landscape.
    parts = ["<!doctype html><html lang='%s'><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'><title>%s</title><style>"
             "body{font-family:sans-serif;font-size:11pt;margin:1.5cm}table{border-collapse:collapse;width:100%%;"
             "margin-bottom:1cm}th,td{border:1px solid #888;padding:3px 6px;text-align:left}"
             "thead{display:table-header-group}@page{size:A4 landscape}"
             "@media screen and (max-width:640px){body{margin:.6rem;font-size:10.5pt}h2{font-size:1.1rem}"
             ".scroll{overflow-x:auto;max-width:100%%}.scroll table{width:auto;min-width:100%%}}"
             "@media print{.scroll{overflow:visible}}</style><body>"
             % (lang, html.escape(tables[0].title if tables else ""))]
    for t in tables:
        parts.append(f"<h2>{html.escape(terminal_text(t.title))}</h2><div class='scroll'><table><thead><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in t.headers) + "</tr></thead><tbody>")
        for row in t.rows:
            parts.append("<tr>" + "".join(f"<td>{cell(v, h)}</td>" for v, h in zip(row, t.headers)) + "</tr>")
        parts.append("</tbody></table></div>")
    parts.append("</body></html>\n")
    return "".join(parts)


def for_text(tables: Sequence[Table], lang: str = "vi") -> list[Table]:
    """Rates as percentages for a terminal (export.to_text would print 0.8)."""
    pct = {HEADERS[lang]["satisfied_rate"], WORDS[lang]["share"]}
    out = []
    for t in tables:
        cols = [i for i, h in enumerate(t.headers) if h in pct]
        rows = [[f"{v * 100:.1f} %" if i in cols and isinstance(v, float) else v for i, v in enumerate(r)]
                for r in t.rows]
        out.append(Table(t.title, t.headers, rows))
    return out

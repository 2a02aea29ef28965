"""The officers' evaluation figures of a scope as data: what the officers page shows and what the API and its
CSV give. Imports no view."""
from __future__ import annotations

from ..reports.hierarchy import Hierarchy
from ..reports.officer_report import evaluation_figures
from ..reports.officers import OfficerRow, SiteQuality
from ..reports.report import Period


def figures(db, cfg, period: Period, hierarchy: Hierarchy, sites) -> tuple[list[OfficerRow], list[SiteQuality]]:
    """The scope's officers; ``sites`` are stored site slugs (None: everything, empty: nothing)."""
    return evaluation_figures(db, cfg, period, hierarchy, sorted(sites) if sites is not None else None)


def label_of(hierarchy: Hierarchy, dim: str, key: str, lang: str) -> str:
    return hierarchy.label(dim, key, lang) or key


def pct_text(v) -> str:
    return "–" if v is None else f"{v * 100:.1f} %"


def _officer_item(o: OfficerRow, hierarchy: Hierarchy, lang: str) -> dict:
    """One row of the API's answer; hidden figures are null."""
    return {"centre": o.site, "centre_name": hierarchy.group("centre", o.site)[1], "officer": o.officer,
            "name": label_of(hierarchy, "officer", o.officer, lang), "ratings": o.ratings, "hidden": o.suppressed,
            "satisfied_rate": None if o.rate is None else round(o.rate, 4), "grade": o.grade, "rank": o.rank,
            "hours": round(o.hours, 2), "ratings_per_hour": o.per_hour, "requests_answered": o.answered,
            "requests_expired": o.expired,
            "reasons": [{"reason": k, "name": label_of(hierarchy, "reason", k, lang), "count": n}
                        for k, n in o.reasons.most_common()]}


def _quality_item(q: SiteQuality, hierarchy: Hierarchy) -> dict:
    share = q.no_officer_share
    return {"centre": q.site, "centre_name": hierarchy.group("centre", q.site)[1], "ratings": q.ratings,
            "no_officer": q.no_officer, "no_officer_share": None if share is None else round(share, 4)}


def api_answer(rows, quality, period: Period, cfg, hierarchy: Hierarchy, scope, lang: str) -> dict:
    ev = cfg.evaluation
    return {"period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
            "scope": str(scope), "min_ratings": ev.min_ratings, "grade_min_ratings": ev.grade_min_ratings,
            "grades": [{"name": g.name, "min_satisfied": g.min_satisfied} for g in ev.grades],
            "officers": [_officer_item(o, hierarchy, lang) for o in rows],
            "quality": [_quality_item(q, hierarchy) for q in quality]}


def csv_rows(data: dict) -> list[list]:
    """Officers, then one line per centre with its ratings that name no officer (kind 'centre')."""
    head = ["kind", "centre", "centre_name", "officer", "name", "ratings", "hidden", "satisfied_rate", "grade",
            "rank", "hours", "ratings_per_hour", "requests_answered", "requests_expired", "reasons",
            "no_officer", "no_officer_share"]
    out = [head]
    for o in data["officers"]:
        reasons = "; ".join(f"{r['name']}: {r['count']}" for r in o["reasons"])
        out.append(["officer", o["centre"], o["centre_name"], o["officer"], o["name"], o["ratings"], o["hidden"],
                    o["satisfied_rate"], o["grade"], o["rank"], o["hours"], o["ratings_per_hour"],
                    o["requests_answered"], o["requests_expired"], reasons, None, None])
    for q in data["quality"]:
        out.append(["centre", q["centre"], q["centre_name"], None, None, q["ratings"], None, None, None, None, None,
                    None, None, None, None, q["no_officer"], q["no_officer_share"]])
    return out

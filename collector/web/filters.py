"""What an API call or a dashboard page asks for, checked against what its account or token may see: the
period, the grouping, the site filter within the scope. A refusal is an ApiError (status, English, and the
Vietnamese a page shows first). Shared by the API, the officers' pages and the follow-up answers' view.
"""
from __future__ import annotations

from datetime import date

from ..accounts.accounts import LEVELS, Scope, scope_sites, site_allowed
from ..reports.report import DIMENSIONS, current_month, date_range, parse_period

MAX_DIMS = 3


class ApiError(Exception):
    """``message`` in English (the API's JSON error); ``vi``, when given, what a dashboard page says first."""

    def __init__(self, status: int, message: str, vi: str | None = None):
        super().__init__(message)
        self.status = status
        self.vi = vi


def outside(level: str, slug: str) -> str:
    """Vietnamese for a refused filter; the slug is not repeated (nothing beyond the scope is echoed)."""
    from .errors import LEVEL_WORDS, words

    return words("scope", what=LEVEL_WORDS.get(level, level))[0]


# ---------------------------------------------------------------------------------------- parameters
def period_of(params: dict, tz: str, now):
    """?period=2026-10 | 2026-Q4 | 2026, or ?since=YYYY-MM-DD&until=YYYY-MM-DD; default this month."""
    try:
        if params.get("period"):
            return parse_period(params["period"], tz)
        if params.get("since") or params.get("until"):
            since = date.fromisoformat(params["since"]) if params.get("since") else None
            until = date.fromisoformat(params["until"]) if params.get("until") else None
            return date_range(since, until, tz)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return current_month(now, tz)


def dims_of(params: dict) -> tuple[str, ...]:
    text = params.get("by", "")
    dims = tuple(d.strip() for d in text.split(",") if d.strip())
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or len(dims) > MAX_DIMS:
        raise ApiError(400, f"by={text!r}: up to {MAX_DIMS} of {', '.join(DIMENSIONS)}, comma-separated")
    return dims


def filter_sites(app, scope: Scope, params: dict) -> frozenset[str] | None:
    """The stored sites an answer may hold: the scope, narrowed by ?province= ?commune= ?centre= ?site=.
    A filter outside the scope is refused (403), so nobody learns what exists beyond their scope."""
    sites = scope_sites(scope, app.hierarchy)
    for level in LEVELS:
        slug = params.get(level)
        if slug:
            wanted = scope_sites(Scope(level, slug), app.hierarchy)
            if not wanted or (sites is not None and not wanted <= sites):
                raise ApiError(403, f"the {level} filter is not within this token's or account's scope",
                               outside(level, slug))
            sites = wanted
    site = params.get("site")
    if site:
        if not site_allowed(site, sites, app.hierarchy):
            raise ApiError(403, "the site filter is not within this token's or account's scope",
                           outside("site", site))
        sites = frozenset({site})
    return sites

"""The printable report's PDF download (/report.pdf): the report e-mailed to managers
(alerting/report_doc.py drawn by alerting/pdf.py, no browser needed), for the account's scope or the place
the page was narrowed to, and the page's period."""
from __future__ import annotations

from ..alerting.report_doc import build, file_stem_of, period_kind
from .context import Ctx, default_report_period

PLACE_PARAMS = ("site", "centre", "commune", "province")  # narrowest first


def scope_slug(ctx: Ctx) -> str:
    """The one place the report covers: the page's ?site= ?centre= ?commune= ?province= (already checked to
    lie within the account's scope), else the account's own scope."""
    for key in PLACE_PARAMS:
        if ctx.params.get(key):
            return ctx.params[key]
    return "all" if ctx.scope.is_all else ctx.scope.slug


def report_pdf(ctx: Ctx) -> tuple[str, bytes]:
    """(file name, PDF) of the period the printable page shows; ValueError for a period it cannot read."""
    if ctx.params.get("period"):
        period, error = ctx.period()
        if error:
            raise ValueError(error)
    else:
        period, _ = default_report_period(ctx)
    doc = build(ctx.db, ctx.cfg, ctx.hierarchy, period_kind(period), period, scope_slug(ctx), ctx.lang, ctx.now)
    return file_stem_of(doc) + ".pdf", doc.pdf()

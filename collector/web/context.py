"""What every page works from: the request's context (the account's scope and sites, its language, the URL's
parameters, the data source) and the default period of the printable report. Imported by the views and by
the API; imports no view."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..accounts.accounts import Scope
from ..reports.hierarchy import Hierarchy
from ..reports.report import Period, ReportRow, current_month, parse_period
from .data import DataSource


@dataclass
class Ctx:
    data: DataSource
    cfg: object  # CollectorConfig
    hierarchy: Hierarchy
    lang: str
    params: dict
    now: datetime  # aware, UTC
    sites: frozenset[str] | None = None  # stored site slugs of the account's scope; None: everything
    scope: Scope = Scope("all")  # the account's scope (alerts are filed by place)

    @property
    def tz(self) -> str:
        return self.cfg.timezone

    def local_now(self) -> datetime:
        from ..reports.report import _zone
        return self.now.astimezone(_zone(self.tz))

    @property
    def db(self):
        return self.data.db

    def many(self, jobs: list[tuple]) -> list[list[list[ReportRow]]]:
        """Jobs (period, [grouping, ...], row filter or None) run side by side; one query per job."""
        return self.data.reports([(period, bys, only, self.lang, self.sites) for period, bys, only in jobs])

    def report(self, period: Period, by: tuple = (), only=None) -> list[ReportRow]:
        return self.many([(period, [by], only)])[0][0]

    def period(self, default: str = "this") -> tuple[Period, str]:
        """The ?period= of the URL, or this month ('this') / last month ('last'); error text if invalid."""
        text = self.params.get("period", "")
        if text:
            try:
                return parse_period(text, self.tz), ""
            except ValueError as exc:
                from .errors import period_error

                error = period_error(text, str(exc))
        else:
            error = ""
        this = current_month(self.now, self.tz)
        if default == "last":
            return current_month(this.start - timedelta(days=1), self.tz), error
        return this, error


DEFAULT_WORDS = {
    "vi": {"last": "Kỳ mặc định: tháng trước ({p}), tháng gần nhất đã kết thúc có dữ liệu. Chọn kỳ khác ở ô Kỳ.",
           "this": "Kỳ mặc định: tháng này đến nay ({p}, chưa kết thúc), vì các tháng trước chưa có dữ liệu. "
                   "Chọn kỳ khác ở ô Kỳ.",
           "latest": "Kỳ mặc định: {p}, tháng gần nhất có dữ liệu. Chọn kỳ khác ở ô Kỳ.",
           "none": "Chưa có đánh giá nào: đang hiện tháng này đến nay ({p})."},
    "en": {"last": "Default period: last month ({p}), the latest closed month with ratings. Pick another above.",
           "this": "Default period: this month so far ({p}, not over yet): earlier months have no ratings. "
                   "Pick another above.",
           "latest": "Default period: {p}, the latest month with ratings. Pick another above.",
           "none": "No ratings yet: showing this month so far ({p})."},
}


def _last_hour(ctx: Ctx, before_hour: int) -> int | None:
    """The latest UTC hour (rollup_hour.hour: ms // HOUR_MS) before ``before_hour`` holding ratings of the
    account's scope."""
    where, args = "hour < ?", [before_hour]
    if ctx.sites is not None:
        if not ctx.sites:
            return None
        where += f" AND site IN ({', '.join('?' * len(ctx.sites))})"
        args += sorted(ctx.sites)
    found = ctx.db.scalar(f"SELECT MAX(hour) FROM rollup_hour WHERE {where}", tuple(args))
    return int(found) if found is not None else None


def default_report_period(ctx: Ctx) -> tuple[Period, str]:
    """The printable report's period when the URL names none, and a sentence saying which: last month when
    it has ratings (the monthly evaluation), else this month so far when it has some, else the latest month
    with ratings; this month when there are none at all."""
    from ..reports.report_queries import HOUR_MS

    lang, tz = ctx.lang, ctx.tz
    words = DEFAULT_WORDS.get(lang, DEFAULT_WORDS["vi"])
    this = current_month(ctx.now, tz)
    last = current_month(this.start - timedelta(days=1), tz)
    before = _last_hour(ctx, this.start_ms // HOUR_MS)
    if before is not None and before >= last.start_ms // HOUR_MS:
        return last, words["last"].format(p=last.label)
    if _last_hour(ctx, int(ctx.now.timestamp() * 1000) // HOUR_MS + 1) not in (None, before):
        return this, words["this"].format(p=this.label)
    if before is not None:
        latest = current_month(datetime.fromtimestamp(before * HOUR_MS / 1000, timezone.utc), tz)
        return latest, words["latest"].format(p=latest.label)
    return this, words["none"].format(p=this.label)

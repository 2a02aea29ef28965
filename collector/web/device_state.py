"""The kiosks of a scope as the devices page, the alerts page and the API see them (silent or not, never
heard from), and the centres and counters below the satisfaction threshold. Imports no view."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..accounts.accounts import site_allowed
from ..fleet import fleet_state
from ..reports.report import Period
from ..reports.report_queries import devices as device_rows
from .context import Ctx

HOUR_MS = 3_600_000


def parse_ts(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def device_status(ctx: Ctx, desired: dict | None = None) -> list[dict]:
    """Every known kiosk plus configured counters never heard from, with a 'silent' verdict. ``desired``:
    the pushed configs (fleet_state.desired), when the caller has read them already."""
    silent_after = timedelta(hours=ctx.cfg.alerts.device_silent_hours)
    out, seen = [], set()
    for d in device_rows(ctx.db):
        if not site_allowed(d["site"], ctx.sites, ctx.hierarchy):
            continue
        last = parse_ts(d["last_seen"])
        d["silent"] = last is None or ctx.now - last > silent_after
        d["last"] = last
        d["name"] = ctx.hierarchy.group("counter", d["site"], d["device"])[1]
        seen.add((ctx.hierarchy.centre_of(d["site"]), d["device"]))
        out.append(d)
    never = [(key, ctx.hierarchy.counters[key]) for key in ctx.hierarchy.counters if key not in seen]
    # A kiosk the fleet pushed a config to but never heard from is as silent as a configured counter.
    for site, device in sorted(fleet_state.desired(ctx.db) if desired is None else desired):
        key = (ctx.hierarchy.centre_of(site), device)
        if key not in seen and key not in ctx.hierarchy.counters:
            seen.add(key)
            never.append(((site, device), ctx.hierarchy.group("counter", site, device)[1]))
    for (centre, device), name in never:
        if site_allowed(centre, ctx.sites, ctx.hierarchy):
            out.append({"site": centre, "device": device, "state": None, "last": None, "silent": True,
                        "name": name, "outbox_depth": None, "clock_skew_s": None, "app_version": None})
    return out


def alert_window(ctx: Ctx) -> Period:
    """The last alerts.window_days, ending at the next whole hour so the rollup answers it exactly."""
    end_ms = (int(ctx.now.timestamp() * 1000) // HOUR_MS + 1) * HOUR_MS
    start_ms = end_ms - ctx.cfg.alerts.window_days * 24 * HOUR_MS
    as_dt = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc)  # noqa: E731
    return Period(f"{ctx.cfg.alerts.window_days}d", as_dt(start_ms), as_dt(end_ms))


def low_satisfaction(ctx: Ctx) -> list[tuple[str, object]]:
    window = alert_window(ctx)
    below = ctx.cfg.alerts.satisfaction_below
    centres, counters = ctx.many([(window, [("centre",), ("counter",)], None)])[0]
    return [(dim, r) for dim, rows in (("centre", centres), ("counter", counters))
            for r in rows if r.satisfied_rate is not None and r.satisfied_rate < below]

"""Device health and alerts: which kiosks are silent, which centres and counters fall below the threshold."""
from __future__ import annotations

from datetime import datetime, timezone

from ..completeness import completeness_view
from ..fleet import fleet_state
from ..accounts.accounts import site_allowed
from ..reports.export import Table
from ..reports.report import _zone
from .charts import pct
from .i18n import t
from .layout import Page, table_view
from .context import Ctx
from .device_state import device_status, low_satisfaction, parse_ts


def _state(ctx: Ctx, d: dict) -> str:
    if d["state"] is None:
        return t(ctx.lang, "never")
    online = d["state"] == "online" and not d["silent"]
    text = t(ctx.lang, "online" if online else "offline")
    return f"{text} ({t(ctx.lang, 'silent', h=f'{ctx.cfg.alerts.device_silent_hours:g}')})" if d["silent"] else text


def _local(ctx: Ctx, dt: datetime | None) -> str | None:
    return dt.astimezone(_zone(ctx.tz)).strftime("%Y-%m-%d %H:%M") if dt else None


def devices(ctx: Ctx) -> Page:
    from broker.fleet_view import refusal_text

    from .device_config import ConfigView, clock_text, current_cell, is_shared, w, waiting_text

    lang = ctx.lang
    configs = ConfigView(ctx.db)
    rows = device_status(ctx, configs.desired)
    complete = completeness_view.device_cells(ctx.db, ctx.tz, lang)
    lines = [configs.line(d) for d in rows]
    refused = [configs.refused(d, fl) for d, fl in zip(rows, lines)]
    table = Table(t(lang, "devices"), [t(lang, "site"), t(lang, "device"), t(lang, "name"), t(lang, "state"),
                                       t(lang, "last_seen"), w(lang, "last_rating"), t(lang, "version"),
                                       w(lang, "applied"), w(lang, "desired"), w(lang, "current"),
                                       w(lang, "refused"), t(lang, "backlog"), w(lang, "waiting_db"), w(lang, "clock"),
                                       t(lang, "skew"),
                                       completeness_view.header(lang, "complete"),
                                       completeness_view.header(lang, "missing")],
                  [[d["site"], d["device"], d["name"],
                    _state(ctx, d) + (f" ⚠ {w(lang, 'shared')}" if is_shared(d, int(ctx.now.timestamp() * 1000)) else ""),
                    _local(ctx, d["last"]),
                    _local(ctx, parse_ts(d.get("last_rating_ts"))), d["app_version"], fl.applied or None,
                    fl.desired or None, current_cell(lang, fl), refusal_text(why) or None,
                    d["outbox_depth"], waiting_text(lang, d, lambda ts: _local(ctx, parse_ts(ts))),
                    clock_text(lang, d.get("clock")) or None, d["clock_skew_s"],
                    *complete.get((d["site"], d["device"]), (None, ""))]
                   for d, fl, why in zip(rows, lines, refused)])
    now_ms = int(ctx.now.timestamp() * 1000)
    shared = [is_shared(d, now_ms) for d in rows]
    classes = ["bad" if d["silent"] or why or d.get("receipts") == "fallback" or dup else ""
               for d, why, dup in zip(rows, refused, shared)]
    summary = w(lang, "summary", n=len(rows), behind=sum(1 for fl in lines if fl.current == "no"),
                refused=sum(1 for why in refused if why))
    recent = [r for r in fleet_state.recent_rejections(ctx.db) if site_allowed(r.site, ctx.sites, ctx.hierarchy)][:20]
    refusals = Table(w(lang, "refusals"), [w(lang, "time"), t(lang, "site"), t(lang, "device"), w(lang, "config"),
                                           w(lang, "reason")],
                     [[_local(ctx, datetime.fromtimestamp(r.at_ms / 1000, timezone.utc)), r.site, r.device,
                       r.config_hash, refusal_text(r.detail)] for r in recent])
    values = {"table": table_view(table, classes, num_from=11, pct_cols=(15,), caption=False, reflow=True,
                                  minor=(0, 1, 5, 6, 8, 11, 13, 14, 16)) if rows else None,
              "summary": summary if rows else "",
              "refusals_title": refusals.title, "no_refusals": w(lang, "no_refusals"),
              "refusals": table_view(refusals, ["bad"] * len(recent), num_from=99, caption=False, reflow=True,
                                     minor=(1,)) if recent else None}
    return Page("devices", t(lang, "devices"), "devices.html", values, [table, refusals], "devices")


def alerts(ctx: Ctx) -> Page:
    from .alert_lists import pushed

    lang, cfg = ctx.lang, ctx.cfg
    from ..alerting.messages import alert_title

    alerts_pushed = pushed(ctx.db, ctx.tz, ctx.hierarchy, ctx.scope, ctx.sites)
    for a in alerts_pushed:  # the rule as a manager says it; its slug stays beside it for technicians
        a["title"] = alert_title(a, lang)
    pushed_table = Table(t(lang, "pushed"), [t(lang, "fired"), t(lang, "kind"), t(lang, "name"), t(lang, "cleared"),
                                             t(lang, "acked_by")],
                         [[a["fired_local"], f'{a["title"]} ({a["rule"]})', a["subject_name"], a["cleared_local"],
                           a["acked_by"]]
                          for a in alerts_pushed])
    low = low_satisfaction(ctx)
    few = cfg.dashboard.min_ratings
    low_table = Table(t(lang, "low_sat", p=pct(cfg.alerts.satisfaction_below), d=cfg.alerts.window_days),
                      [t(lang, "kind"), t(lang, "name"), t(lang, "count"), t(lang, "rate"), t(lang, "score"), ""],
                      [[t(lang, dim), r.name, r.count, r.satisfied_rate, r.mean_score,
                        t(lang, "few") if r.count < few else ""] for dim, r in low], sheet=t(lang, "sheet_low"))
    silent = [d for d in device_status(ctx) if d["silent"]]
    silent_table = Table(t(lang, "silent_devices", h=f'{cfg.alerts.device_silent_hours:g}'),
                         [t(lang, "site"), t(lang, "device"), t(lang, "name"), t(lang, "state"), t(lang, "last_seen")],
                         [[d["site"], d["device"], d["name"], _state(ctx, d), _local(ctx, d["last"])] for d in silent],
                         sheet=t(lang, "sheet_silent"))
    gap_min = cfg.completeness.gap_alert_after_min
    gaps = [g for g in completeness_view.gap_rows(ctx.db, ctx.now, gap_min)
            if site_allowed(g[0], ctx.sites, ctx.hierarchy)]
    gap_table = Table(completeness_view.header(lang, "gaps", m=f"{gap_min:g}"),
                      [t(lang, "site"), t(lang, "device"), completeness_view.header(lang, "epoch"),
                       completeness_view.header(lang, "seqs"), completeness_view.header(lang, "since")], gaps,
                      sheet=t(lang, "sheet_gaps"))
    values = {"pushed": alerts_pushed, "sections": [
        (low_table.title, table_view(low_table, ["bad"] * len(low), pct_cols=(3,), caption=False) if low else None),
        (silent_table.title, table_view(silent_table, ["bad"] * len(silent), caption=False) if silent else None),
        (gap_table.title, table_view(gap_table, ["bad"] * len(gaps), caption=False) if gaps else None)]}
    return Page("alerts", t(lang, "alerts"), "alerts.html", values, [pushed_table, low_table, silent_table, gap_table],
                "alerts")

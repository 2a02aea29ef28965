"""What the centre knows about each kiosk's config: the one pushed to it (``fleet_configs``, kept by
collector/fleet/fleet_watch.py), and the configs it refused (its ``config_rejected`` events, with the reason).
Read by the devices page and the API."""
from __future__ import annotations

from typing import NamedTuple

from collector.fleet.fleet_watch import COLUMNS, Desired

_CONFIG_EVENTS = ("config_applied", "config_rejected")


class Rejection(NamedTuple):
    site: str
    device: str
    config_hash: str | None  # None when the message was refused before its hash could be trusted
    detail: str
    at_ms: int


def desired(db) -> dict[tuple[str, str], Desired]:
    return {(r[0], r[1]): Desired(*r) for r in db.query(f"SELECT {COLUMNS} FROM fleet_configs")}


def open_rejections(db) -> dict[tuple[str, str], Rejection]:
    """Per kiosk, its latest config event if that is a refusal (or a roll-back): no config applied since."""
    rows = db.query(
        "SELECT site, device, type, config_hash, detail, at_ms FROM (SELECT site, device, type, config_hash, detail, "
        "at_ms, ROW_NUMBER() OVER (PARTITION BY site, device ORDER BY at_ms DESC, received_at DESC) AS n "
        "FROM events WHERE type IN (?, ?)) latest WHERE n = 1 AND type = ?", (*_CONFIG_EVENTS, "config_rejected"))
    return {(s, d): Rejection(s, d, h, detail or "", int(at)) for s, d, _, h, detail, at in rows}


def recent_rejections(db, limit: int = 200) -> list[Rejection]:
    """The latest refusals, newest first (the caller keeps those its account may see)."""
    rows = db.query("SELECT site, device, config_hash, detail, at_ms FROM events WHERE type = ? "
                    "ORDER BY at_ms DESC LIMIT ?", ("config_rejected", limit))
    return [Rejection(s, d, h, detail or "", int(at)) for s, d, h, detail, at in rows]

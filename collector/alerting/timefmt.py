"""UTC timestamps as stored in the database: RFC 3339 with milliseconds, so text order is time order."""
from __future__ import annotations

from datetime import datetime, timezone

from broker.contract import format_ts


def iso(dt: datetime) -> str:
    return format_ts(dt)


def parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

"""Ratings made in the kiosk's speaking mode (contract v2 rating field ``mode``: "speaking", schema v15): how
many in a period, for the reports and the API. Counted from the ratings table through its partial index."""
from __future__ import annotations

from typing import Iterable, Optional


def speaking_count(db, start_ms: int, end_ms: int, sites: Optional[Iterable[str]] = None) -> int:
    """Ratings made in the speaking mode placed in [start_ms, end_ms), of ``sites`` (None: every site)."""
    sql = "SELECT COUNT(*) FROM ratings WHERE mode = 'speaking' AND at_ms >= ? AND at_ms < ?"
    params: list = [start_ms, end_ms]
    if sites is not None:
        sites = sorted(sites)
        if not sites:
            return 0
        sql += f" AND site IN ({', '.join('?' * len(sites))})"
        params += sites
    return int(db.scalar(sql, params) or 0)

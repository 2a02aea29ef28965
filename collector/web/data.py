"""Where dashboard pages get figures: a few database connections queried in parallel, and a short cache.

One pass over a month of hourly rollups is the unit of cost; a page runs its passes side by side on
separate connections, and a view opened again within ``ttl_s`` reuses the rows (figures up to that old).
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from ..db import Database, connect
from ..hierarchy import Hierarchy
from ..report import ReportRow
from ..report_queries import ReportSpec, fetch, run_reports


class DataSource:
    def __init__(self, cfg, db: Database, db_password: str | None = None, workers: int = 2, ttl_s: float = 30.0):
        self.cfg = cfg
        self.db = db
        self.hierarchy = Hierarchy.from_config(cfg.sites, cfg.labels)
        self.ttl_s = ttl_s
        self._conns: queue.Queue = queue.Queue()
        self._conns.put(db)
        self._extra: list[Database] = []
        if not db.url.endswith(":memory:"):
            for _ in range(max(0, workers - 1)):
                extra = connect(db.url, db_password, migrate=False)
                self._extra.append(extra)
                self._conns.put(extra)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dashboard-db")
        self._cache: dict[tuple, tuple[float, list]] = {}
        self._results: dict[tuple, tuple[float, list]] = {}
        self._flights: dict[tuple, threading.Lock] = {}  # aggregated figures: callers must not change them
        self._lock = threading.Lock()

    def _fetch(self, db, start_ms, end_ms, needs, *, tz, sites=None):
        """Rollup rows of every site, fetched once and kept ``ttl_s``; a scope takes its own sites from them,
        so fifty managers of fifty scopes cost one query per period and grouping, not fifty."""
        if sites:
            by_site = self._by_site(db, start_ms, end_ms, frozenset(needs) | {"site"}, tz)
            return [r for site in sites for r in by_site.get(site, ())]
        return self._fetch_all(db, start_ms, end_ms, frozenset(needs), tz)

    def _by_site(self, db, start_ms, end_ms, needs: frozenset, tz) -> dict[str, list]:
        """The rows of one fetch by site, built once, so a small scope does not walk every site's rows."""
        rows = self._fetch_all(db, start_ms, end_ms, needs, tz)
        key = ("by-site", id(rows))
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[1][0] is rows:
                return hit[1][1]
        index: dict[str, list] = {}
        for r in rows:
            index.setdefault(r.site, []).append(r)
        with self._lock:
            self._cache[key] = (time.monotonic() + self.ttl_s, (rows, index))
        return index

    def _fetch_all(self, db, start_ms, end_ms, needs: frozenset, tz):
        key = (start_ms, end_ms, needs, tz)
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:  # the same rows asked for at once are fetched once; the others wait for them
            now = time.monotonic()
            with self._lock:
                hit = self._cache.get(key)
                if hit and hit[0] > now:
                    return hit[1]
            rows = fetch(db, start_ms, end_ms, set(needs), tz=tz)
            self._keep(key, rows, now)
        with self._lock:
            self._flights.pop(key, None)
        return rows

    def _keep(self, key, rows, now) -> None:
        with self._lock:
            if len(self._cache) > 128:  # small and bounded: drop everything expired, then the oldest
                for k in [k for k, (exp, _) in self._cache.items() if exp <= now] or list(self._cache)[:64]:
                    self._cache.pop(k, None)
            self._cache[key] = (now + self.ttl_s, rows)

    def _run(self, job) -> list[list[ReportRow]]:
        """Figures of one job; the same job again within ``ttl_s`` (another manager of the same scope, the
        same page reloaded) is answered from the cache. A row filter is cached only when it names itself
        (``only.cache_key``), so two different filters never share an entry."""
        period, bys, only, lang, sites = job
        key = None
        if only is None or getattr(only, "cache_key", None) is not None:
            key = ("result", period, tuple(tuple(b) for b in bys), getattr(only, "cache_key", None), lang,
                   tuple(sorted(sites)) if sites is not None else None)
            now = time.monotonic()
            with self._lock:
                hit = self._results.get(key)
                if hit and hit[0] > now:
                    return hit[1]
        result = self._compute(period, bys, only, lang, sites)
        if key is not None:
            with self._lock:
                if len(self._results) > 512:
                    for k in [k for k, (exp, _) in self._results.items() if exp <= now] or list(self._results)[:256]:
                        self._results.pop(k, None)
                self._results[key] = (now + self.ttl_s, result)
        return result

    def _compute(self, period, bys, only, lang, sites) -> list[list[ReportRow]]:
        db = self._conns.get()
        try:
            spec = ReportSpec(period, lang=lang, sites=sorted(sites) if sites is not None else None)
            if sites is not None and not sites:
                spec.sites = ["\x00nothing"]  # a scope that covers no site sees no rating
            return run_reports(db, self.cfg, spec, bys, self.hierarchy, only, self._fetch)
        finally:
            self._conns.put(db)

    def reports(self, jobs: Sequence[tuple]) -> list[list[list[ReportRow]]]:
        """Each job is (period, groupings, row filter, language, site slugs or None for all); jobs run in
        parallel, results in order."""
        return list(self._pool.map(self._run, jobs))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for db in self._extra:
            db.close()

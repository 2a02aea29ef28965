"""Where dashboard pages get figures: a few database connections queried in parallel, and a short cache.

The figures of a period are worked out once per site and kept ``ttl_s`` (figures up to that old): a scope's
are the sum of its sites', so fifty managers of fifty scopes cost one query per period and grouping, and
each site's rows are grouped once, not once for the centre, again for its commune, province and the whole
system. A page runs its queries side by side on separate connections.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..storage.db import Database, connect
from ..reports.hierarchy import Hierarchy
from ..reports.privacy import private
from ..reports.report import ReportRow, RollupRow, merge
from ..reports.report_queries import ReportSpec, fetch, figures, needs_for


class TtlCache:
    """Values kept ``ttl_s``, at most ``size`` of them. ``get`` computes a missing value once however many
    threads ask for it at once (the others wait for it); ``peek`` and ``put`` leave the computing to the
    caller (a page's content, kept only for some pages)."""

    def __init__(self, ttl_s: float, size: int = 256):
        self.ttl_s, self.size = ttl_s, size
        self._items: dict[tuple, tuple[float, object]] = {}
        self._flights: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], object]):
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            value = self.peek(key)
            if value is None:
                asked = time.monotonic()
                value = compute()
                self.put(key, value, asked)
        with self._lock:
            self._flights.pop(key, None)
        return value

    def peek(self, key: tuple):
        """The value kept for ``key``, or None when there is none or it has expired."""
        with self._lock:
            hit = self._items.get(key)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, key: tuple, value, since: float | None = None) -> None:
        """Keep ``value`` for ``ttl_s`` from ``since`` (when it was read; default now)."""
        now = time.monotonic()
        with self._lock:
            if len(self._items) >= self.size:  # drop everything expired, else the older half
                for k in [k for k, (exp, _) in self._items.items() if exp <= now] or list(self._items)[: self.size // 2]:
                    self._items.pop(k, None)
            self._items[key] = ((now if since is None else since) + self.ttl_s, value)


@dataclass
class Snapshot:
    """The rollup rows of one period and set of columns, by site, as fetched at one moment, and the
    figures worked out from them so far: (groupings, row filter, language) -> site -> figures."""
    by_site: dict[str, list[RollupRow]]
    figures: dict[tuple, dict[str, list[list[ReportRow]]]] = field(default_factory=dict)
    locks: dict[tuple, threading.Lock] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


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
        self._snapshots = TtlCache(ttl_s, 128)
        self._results = TtlCache(ttl_s, 512)  # one scope's figures, as a page asked for them

    def _snapshot(self, start_ms: int, end_ms: int, needs: frozenset) -> Snapshot:
        db = self._conns.get()
        try:
            rows = fetch(db, start_ms, end_ms, set(needs), tz=self.cfg.timezone)
        finally:
            self._conns.put(db)
        by_site: dict[str, list[RollupRow]] = {}
        for r in rows:
            by_site.setdefault(r.site, []).append(r)
        return Snapshot(by_site)

    def _run(self, job) -> list[list[ReportRow]]:
        """Figures of one job; the same job again within ``ttl_s`` (another manager of the same scope, the
        same page reloaded) is answered from the cache. A row filter is cached only when it names itself
        (``only.cache_key``), so two different filters never share an entry."""
        period, bys, only, lang, sites = job
        tag = getattr(only, "cache_key", None)
        if only is not None and tag is None:  # a one-off filter: nothing kept
            return self._compute(period, bys, only, lang, sites, None)
        kept = (tuple(tuple(b) for b in bys), tag, lang)
        key = (period, *kept, tuple(sorted(sites)) if sites is not None else None)
        return self._results.get(key, lambda: self._compute(period, bys, only, lang, sites, kept))

    def _compute(self, period, bys, only, lang, sites, kept: tuple | None) -> list[list[ReportRow]]:
        """``kept`` names the figures for the snapshot's per-site store (groupings, filter, language); None
        for a one-off filter, whose figures are not kept."""
        spec = ReportSpec(period, lang=lang)
        if sites is not None and not sites:  # a scope that covers no site sees no rating
            return figures([], self.cfg, spec, bys, self.hierarchy)
        # officers below evaluation.min_ratings keep a count only, judged on the whole answer, not per site
        return private(self._figures(period, bys, only, sites, kept, spec), bys, self.cfg)

    def _figures(self, period, bys, only, sites, kept: tuple | None, spec) -> list[list[ReportRow]]:
        needs = frozenset(needs_for(d for by in bys for d in by)) | {"site"} | getattr(only, "needs", frozenset())
        snap = self._snapshots.get((period.start_ms, period.end_ms, needs, self.cfg.timezone),
                                   lambda: self._snapshot(period.start_ms, period.end_ms, needs))
        wanted = sorted(snap.by_site if sites is None else self.hierarchy.expand(sites) & snap.by_site.keys())
        if kept is None:
            rows = [r for site in wanted for r in snap.by_site[site]]
            return figures(rows, self.cfg, spec, bys, self.hierarchy, only)
        with snap.lock:
            done = snap.figures.setdefault(kept, {})
            lock = snap.locks.setdefault(kept, threading.Lock())
        with lock:  # each site's figures are worked out once, whichever scope asks first
            for site in wanted:
                if site not in done:
                    done[site] = figures(snap.by_site[site], self.cfg, spec, bys, self.hierarchy, only)
            parts = [done[site] for site in wanted]
        return [merge([p[i] for p in parts], by, self.hierarchy) for i, by in enumerate(bys)]

    def reports(self, jobs: Sequence[tuple]) -> list[list[list[ReportRow]]]:
        """Each job is (period, groupings, row filter, language, site slugs or None for all); jobs run in
        parallel, results in order."""
        return list(self._pool.map(self._run, jobs))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for db in self._extra:
            db.close()

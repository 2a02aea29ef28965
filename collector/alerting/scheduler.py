"""The schedule, as a thread inside ``python -m collector serve``.

Every ``alerts.every_s`` seconds (60 by default): evaluate the alert rules, then deliver the
notification queue (retries included). On a working day at ``notify.reports_at`` local time: queue the
report rounds that are due, for the accounts with an e-mail address and ``notify.recipients`` (when
``notify.smtp`` is set). The thread has its own database connection; any error is logged and the next
tick tries again, so a database or mail server outage never stops the dashboard.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, time
from typing import Callable

from .calendar import Calendar, due_periods
from .evaluate import Evaluator
from .outbox import deliver_due
from .recipients import RecipientSource, everyone
from .reports import run_round
from .timefmt import utcnow

log = logging.getLogger("collector.notify")


class Notifier:
    def __init__(self, cfg, open_db: Callable, recipients: RecipientSource | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.cfg, self.open_db, self.clock = cfg, open_db, clock
        self.given = recipients  # None: the accounts in the database and notify.recipients
        self.recipients: RecipientSource | None = None
        self.calendar = Calendar.from_config(cfg)
        self.reports_at = time.fromisoformat(cfg.notify.reports_at)
        self.db = None
        self.evaluator: Evaluator | None = None  # kept between ticks: it remembers names of kiosks
        self._reports_done_on = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime) -> None:
        if self.db is None:
            self.db = self.open_db()
            self.recipients = self.given or everyone(self.cfg, self.db)
            self.evaluator = Evaluator(self.cfg, self.db, self.recipients, calendar=self.calendar)
        try:
            if self.cfg.alerts.rules:
                self.evaluator.run(now)
            local = now.astimezone(self.calendar.zone)
            if (self.cfg.notify.smtp is not None and self._reports_done_on != local.date()
                    and local.time() >= self.reports_at
                    and self.calendar.working_day(local.date())):
                for kind, label in due_periods(local.date(), self.calendar):
                    res = run_round(self.db, self.cfg, label, self.recipients, now, deliver=False)
                    if res.queued:
                        log.info("reports %s queued for %d recipients", label, len(res.queued))
                self._reports_done_on = local.date()
            r = deliver_due(self.db, self.cfg, now)
            if r.sent or r.retry or r.failed:
                log.info("notifications: %d sent, %d to retry, %d failed", r.sent, r.retry + r.left, r.failed)
        except Exception:
            log.exception("alerts and reports: this round failed; trying again in %g s", self.cfg.alerts.every_s)
            self._close_db()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick(self.clock())
            self._stop.wait(self.cfg.alerts.every_s)

    def start(self) -> "Notifier":
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close_db()

    def _close_db(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def start_notifier(cfg, url: str, password: str | None) -> Notifier | None:
    """Start the schedule when collector.yaml asks for alerts or reports; None when there is nothing to do."""
    if not cfg.notify.enabled:
        return None
    if not cfg.alerts.rules and cfg.notify.smtp is None:
        return None  # no rule to evaluate and no way to mail a report
    from ..storage.db import connect

    if not logging.getLogger().handlers:  # serve logs nothing else; alerts and deliveries are worth a line
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.info("alerts every %g s, reports at %s on working days", cfg.alerts.every_s, cfg.notify.reports_at)
    return Notifier(cfg, lambda: connect(url, password)).start()

"""Many managers at once on the real dashboard server: pages are worked out at most ``work_slots`` at a time
(the others wait their turn) and every one of them is answered."""
from __future__ import annotations

import http.client
import re
import threading
import time
from urllib.parse import quote, urlsplit

import pytest

from collector.storage import records
from collector.storage.db import connect
from collector.web import server as dashboard
from collector.web.server import Dashboard, start_in_thread
from tests.ui.test_dashboard_browser import CFG, NOW, PASSWORD, sample_ratings


@pytest.fixture()
def served(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'ratings.db'}")
    rows = sample_ratings(300)
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    app = Dashboard(CFG, db, PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    try:
        yield app, urlsplit(url).port
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        db.close()


def sign_in(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/login", f"username=admin&password={quote(PASSWORD)}",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return re.search(r"hl_session=([^;]+)", resp.getheader("Set-Cookie")).group(1)


class Counted:
    """A page that counts how many of it run at once (``most``), waiting ``hold()`` inside each time."""

    def __init__(self, view, hold):
        self.view, self.hold = view, hold
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, ctx):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.hold()
            return self.view(ctx)
        finally:
            with self.lock:
                self.running -= 1


def get(port: int, cookie: str, path: str) -> int:
    """The status of a signed-in GET; negated when the answer is not a whole page."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Cookie": f"hl_session={cookie}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status if b"<main>" in body else -resp.status


def test_pages_are_worked_out_a_few_at_a_time_and_all_answered(served, monkeypatch):
    app, port = served
    cookie = sign_in(port)
    slow = Counted(dashboard.VIEWS["/ranking"], lambda: time.sleep(0.15))
    monkeypatch.setitem(dashboard.VIEWS, "/ranking", slow)
    statuses: list[int] = []

    def manager(i: int) -> None:
        statuses.append(get(port, cookie, f"/ranking?period=2026-{i % 9 + 1:02d}"))
    started = time.monotonic()
    threads = [threading.Thread(target=manager, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert statuses == [200] * 8
    assert slow.most == app.work_slots  # as many as allowed ran side by side, never more
    assert time.monotonic() - started >= 8 / app.work_slots * 0.15 - 0.05


def test_officer_evaluations_take_turns_and_never_hold_up_the_other_pages(served, monkeypatch):
    """An officer evaluation reads a period's stored ratings (seconds over a province's month): two of them
    at once run one after the other, beside the pages, which are still answered meanwhile."""
    app, port = served
    cookie = sign_in(port)
    release = threading.Event()
    held = Counted(dashboard.VIEWS["/officers"], lambda: release.wait(30))
    monkeypatch.setitem(dashboard.VIEWS, "/officers", held)
    answers: dict[str, int] = {}

    def ask(path: str) -> None:
        answers[path] = get(port, cookie, path)
    officers = [threading.Thread(target=ask, args=(f"/officers?period=2026-{m}",)) for m in ("09", "10")]
    for th in officers:
        th.start()
    time.sleep(0.5)
    started = time.monotonic()
    ask("/ranking")  # both officer pages are still running or waiting
    assert answers == {"/ranking": 200} and time.monotonic() - started < 5
    assert held.running == 1
    release.set()
    for th in officers:
        th.join(30)
    assert answers == {"/ranking": 200, "/officers?period=2026-09": 200, "/officers?period=2026-10": 200}
    assert held.most == app.long_slots == 1

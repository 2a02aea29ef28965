"""``python -m kiosk simulate`` through a broker restart and its own kill -9: every tapped id arrives."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from broker.contract import decode, rating_topic
from kiosk.uplink import DELETE_BATCH, WINDOW_MAX
from tests.integration.test_kiosk_uplink import Subscriber, wait_for

pytestmark = pytest.mark.mosquitto


def journal(db: Path) -> list[str]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM journal ORDER BY seq")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


def test_simulate_survives_broker_restart_and_kill9(mosquitto_factory, tmp_path):
    # No collector here: the kiosk trusts the broker's PUBACK (receipts: false); with receipts the same
    # faults are tested end to end in tests/e2e/test_receipts.py.
    broker = mosquitto_factory().start()
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text("kind: kiosk\nsite: site-s\ndevice: quay-02\n"
                   "broker: {host: 127.0.0.1, port: 1, keepalive_s: 5}\n"  # overridden by --mqtt-url
                   "followup:\n  reasons:\n    - {key: waiting, texts: {vi: 'Chờ lâu', en: 'Long wait'}}\n"
                   "repeat_window_s: 0\noutbox: {path: outbox.db, receipts: false}\nstatus_interval_s: 5\n", encoding="utf-8")
    sub = Subscriber(broker.port, rating_topic("site-s", "quay-02"), client_id="sim-sub")
    cmd = [sys.executable, "-m", "kiosk", "simulate", "--config", str(cfg), "--count", "600", "--rate", "150",
           "--journal", "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}"]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        db = tmp_path / "outbox.db"
        assert wait_for(lambda: len(journal(db)) >= 100, 30)
        broker.restart(down_s=1.0)
        mark = len(journal(db))
        assert wait_for(lambda: len(journal(db)) >= mark + 50, 30)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        tapped_before = len(journal(tmp_path / "outbox.db"))
        assert 0 < tapped_before < 600
        p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, out
        assert f"resuming, {tapped_before} of 600" in out and "outbox 0" in out
        created = journal(tmp_path / "outbox.db")
        assert len(created) == 600 and len(set(created)) == 600  # the count is the total over both runs
        assert wait_for(lambda: {decode(t, pl).id for t, pl, _ in sub.messages} >= set(created), 15)
        arrived = [decode(t, pl) for t, pl, _ in sub.messages]
        assert {r.id for r in arrived} == set(created)
        # A copy is possible only for ratings in flight at a fault, or PUBACKed but not yet deleted when the
        # kill came (deletes go in batches); the collector drops copies by id. Bound: a window in flight at
        # the broker restart, and a window plus a delete batch at the kill -9.
        assert len(arrived) - len(created) <= 2 * WINDOW_MAX + DELETE_BATCH
        assert {r.reason for r in arrived if r.rating <= 2} <= {"waiting", None}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sub.close()

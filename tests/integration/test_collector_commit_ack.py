"""The one moment a rating could be counted twice: the collector is killed after its batch committed and
before the broker heard the acknowledgement. The test makes that moment happen on purpose (a collector
whose store pauses right after its commit, then kill -9), so the broker must redeliver ratings the
database already holds, and they must be seen as duplicates, not stored or counted again."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.test_collector_support import CollectorProc, Publisher, counts, rating_payloads, unique

pytestmark = pytest.mark.mosquitto
N = 200  # one batch: every rating is in the window when the kill comes

HELD = r'''
import pathlib, sys, time
from collector.ingest import store
marker = pathlib.Path(sys.argv[1])
real = store.Store.write
def write(self, batch):
    result = real(self, batch)  # committed
    if batch.rows and not marker.exists():
        marker.write_text(str(len(batch.rows)))
        time.sleep(3600)  # never acknowledged: the kill comes here
    return result
store.Store.write = write
from collector.__main__ import main
sys.exit(main(["run", "--config", sys.argv[2]]))
'''


def received(col: CollectorProc) -> int:
    """Messages the collector took so far, from its stats file (written each log interval)."""
    try:
        return json.loads(col.stats_file.read_text()).get("received", 0)
    except (OSError, ValueError):
        return 0


def test_a_kill_between_commit_and_ack_redelivers_ratings_that_are_seen_as_duplicates(mosquitto, tmp_path, db_url):
    prefix = unique("ca") + "/v1"
    col = CollectorProc(tmp_path, mosquitto.port, db_url, prefix=prefix, max_size=N, max_wait_ms=2000)
    marker = tmp_path / "committed-not-acked"
    held = subprocess.Popen([sys.executable, "-c", HELD, str(marker), str(col.config)], cwd=tmp_path,
                            stdout=open(tmp_path / "held.log", "ab"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "subscribed:" not in (tmp_path / "held.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        pub = Publisher(mosquitto.port, f"{prefix}/ubnd-test/quay-01/rating", rating_payloads(N), chunk=N)
        pub.start()
        pub.join_ok()  # the broker has all of them
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), (tmp_path / "held.log").read_text()[-2000:]
        assert int(marker.read_text()) == N and counts(db_url)["ratings"] == N  # committed ...
        held.send_signal(signal.SIGKILL)  # ... and the acknowledgement never left
        held.wait(10)
        col.start()  # the same client id: the broker redelivers every un-acked message of the session
        deadline = time.monotonic() + 30
        while received(col) < N and time.monotonic() < deadline:
            time.sleep(0.2)
        col.stop()
        stats = json.loads(col.stats_file.read_text())
        # every one came again, was recognised as already stored, and counted nowhere a second time
        assert (stats["received"], stats["stored"], stats["duplicates"]) == (N, 0, N), stats
        assert counts(db_url) == {"ratings": N, "distinct": N, "rollup": N, "rejects": 0}
    finally:
        if held.poll() is None:
            held.kill()
        col.stop()

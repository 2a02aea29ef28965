"""Exactly once through faults: collector kill -9, broker restart, shared-subscription members,
a member that is down while its share is published. Real Mosquitto, real collector processes."""
from __future__ import annotations

import time

import pytest

from tests.integration.test_collector_support import CollectorProc, Publisher, counts, rating_payloads, unique, \
    wait_count

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]
N = 10_000


def _wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _exactly(db_url: str, n: int, timeout: float = 60) -> None:
    wait_count(db_url, n, timeout=timeout)
    time.sleep(0.5)  # anything extra (a double insert, a double rollup) would show up now
    assert counts(db_url) == {"ratings": n, "distinct": n, "rollup": n, "rejects": 0}


def test_kill_9_of_the_collector_mid_stream_loses_nothing_and_counts_nothing_twice(mosquitto, tmp_path, db_url):
    prefix = unique("k") + "/v1"
    col = CollectorProc(tmp_path, mosquitto.port, db_url, prefix=prefix, max_size=500).start()
    pub = Publisher(mosquitto.port, f"{prefix}/ubnd-test/quay-01/rating", rating_payloads(N), chunk=250,
                    pause_s=0.05)
    try:
        pub.start()
        for at in (2000, 5000):
            wait_count(db_url, at, timeout=30)
            col.kill9()
            assert pub.sent < N, "the stream had already ended: the kill was not mid-stream"
            time.sleep(0.3)
            col.start()
        pub.join_ok()
        _exactly(db_url, N)
    finally:
        col.stop()


def test_broker_restart_mid_stream_loses_nothing(mosquitto_factory, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    broker = mosquitto_factory().start()
    col = CollectorProc(tmp_path, broker.port, db_url, max_size=500).start()
    pub = Publisher(broker.port, "hailong/v1/ubnd-test/quay-01/rating", rating_payloads(N), chunk=250, pause_s=0.05)
    try:
        pub.start()
        wait_count(db_url, 3000, timeout=30)
        assert pub.sent < N
        broker.restart(down_s=0.5)
        col.wait_log("connected to broker", count=2, timeout=30)
        pub.join_ok()
        _exactly(db_url, N)
    finally:
        assert col.stop() == 0


@pytest.mark.postgres
def test_two_collectors_in_one_shared_group_split_the_stream_exactly(mosquitto, tmp_path, postgres_url):
    prefix, group = unique("s") + "/v1", unique("g")
    a = CollectorProc(tmp_path, mosquitto.port, postgres_url, prefix=prefix, share_group=group).start()
    b = CollectorProc(tmp_path, mosquitto.port, postgres_url, prefix=prefix, share_group=group).start()
    n = 4000
    pub = Publisher(mosquitto.port, f"{prefix}/ubnd-test/quay-01/rating", rating_payloads(n), chunk=200, pause_s=0.02)
    try:
        pub.start()
        pub.join_ok()
        _exactly(postgres_url, n)
    finally:
        assert a.stop() == 0 and b.stop() == 0
    sa, sb = a.stats(), b.stats()
    assert sa["stored"] > 0 and sb["stored"] > 0, (sa, sb)
    assert sa["stored"] + sb["stored"] == n
    assert sa["duplicates"] == sb["duplicates"] == 0  # no message went to both


def test_a_shared_member_down_gets_its_stranded_share_when_it_returns(mosquitto, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    prefix, group = unique("d") + "/v1", unique("g")
    a = CollectorProc(tmp_path, mosquitto.port, db_url, prefix=prefix, share_group=group).start()
    b = CollectorProc(tmp_path, mosquitto.port, db_url, prefix=prefix, share_group=group).start()
    assert b.stop() == 0  # b's persistent session, and its share of the group, stay on the broker
    n = 1000
    try:
        pub = Publisher(mosquitto.port, f"{prefix}/ubnd-test/quay-01/rating", rating_payloads(n), chunk=100)
        pub.start()
        pub.join_ok()
        time.sleep(1.5)  # a stores its share; b's share waits on the broker, not re-routed to a
        stored_while_down = counts(db_url)["ratings"]
        assert 0 < stored_while_down < n
        b.start()
        _exactly(db_url, n, timeout=20)
    finally:
        assert a.stop() == 0 and b.stop() == 0
    assert b.stats()["stored"] == n - stored_while_down

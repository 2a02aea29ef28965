"""Contract v2 end to end: v2 messages built from the contract models (and v1 ones) published to a real
Mosquitto, stored by the real ``python -m collector run`` into SQLite and PostgreSQL side by side, and read
back with the real ``report`` and ``audit`` commands. One stream feeds both databases, so the two must agree.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import (
    Event, Rating, RatingV2, StatusV2, encode, event_topic, rating_topic, status_topic,
)
from collector.storage.db import connect
from tests.integration.test_collector_support import CollectorProc, unique

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
TZ = "Asia/Ho_Chi_Minh"
DAY_MS = 86_400_000


def client(port: int, will: tuple[str, bytes] | None = None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("kiosk"), protocol=mqtt.MQTTv311)
    if will:
        c.will_set(will[0], will[1], qos=1, retain=True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def send(c: mqtt.Client, topic: str, payload: bytes, retain: bool = False) -> None:
    info = c.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(10)
    assert info.is_published()


class Kiosk:
    """What a v2 kiosk puts on the wire, built from the contract models: an outbox epoch numbering ratings
    and events together, a boot with its monotonic clock, and a wall clock that may be wrong."""

    def __init__(self, prefix: str, site: str, device: str, *, clock_error_s: float = 0.0, synced: bool = False,
                 booted_s_ago: float = 36_000.0):
        self.prefix, self.site, self.device = prefix, site, device
        self.epoch = str(uuid.uuid4())
        self.boot = uuid.uuid4().hex[:16]
        self.origin = time.monotonic() - booted_s_ago  # the boot began this long ago
        self.clock_error_s = clock_error_s  # negative: the kiosk's clock is behind
        self.synced = synced
        self.seq = 0

    def mono_ms(self, ago_s: float = 0.0) -> int:
        return int((time.monotonic() - self.origin - ago_s) * 1000)

    def wall(self, ago_s: float = 0.0) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_error_s - ago_s)

    def new_outbox(self) -> None:
        self.epoch, self.seq = str(uuid.uuid4()), 0

    def rating(self, value: int = 5, ago_s: float = 0.0, **kw) -> RatingV2:
        self.seq += 1
        return RatingV2(id=str(uuid.uuid4()), site=self.site, device=self.device, ts=self.wall(ago_s), rating=value,
                        scale=5, lang="vi", epoch=self.epoch, seq=self.seq, boot=self.boot,
                        mono_ms=self.mono_ms(ago_s), clock="synced" if self.synced else "unsynced", **kw)

    def event(self, type_: str = "sign_in", **kw) -> Event:
        self.seq += 1
        return Event(id=str(uuid.uuid4()), site=self.site, device=self.device, ts=self.wall(), type=type_,
                     epoch=self.epoch, seq=self.seq, boot=self.boot, mono_ms=self.mono_ms(),
                     clock="synced" if self.synced else "unsynced", **kw)

    def status(self, state: str = "online", ts: datetime | None = None) -> StatusV2:
        return StatusV2(site=self.site, device=self.device, state=state, ts=ts or self.wall(), app_version="2.0.0",
                        outbox_depth=0, boot=self.boot, mono_ms=self.mono_ms(),
                        clock="synced" if self.synced else "unsynced", epoch=self.epoch, seq_last=self.seq)

    def topic(self, kind: str) -> str:
        return {"rating": rating_topic, "status": status_topic, "event": event_topic}[kind](
            self.site, self.device, self.prefix)

    def publish(self, c: mqtt.Client, *messages) -> None:
        for m in messages:
            kind = "status" if isinstance(m, StatusV2) else "event" if isinstance(m, Event) else "rating"
            send(c, self.topic(kind), encode(m), retain=kind == "status")


def cli(command: str, col: CollectorProc, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", command, "--config", str(col.config), "--db",
                           col.db_url, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def scalar(url: str, sql: str, params=()):
    db = connect(url, migrate=False)
    try:
        return db.scalar(sql, params)
    finally:
        db.close()


def query(url: str, sql: str, params=()):
    db = connect(url, migrate=False)
    try:
        return db.query(sql, params)
    finally:
        db.close()


def wait_for(url: str, sql: str, want, timeout: float = 20.0, params=()):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = scalar(url, sql, params)
        except Exception:  # the collector has not created the schema yet
            got = None
        if got == want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{sql!r} on {url.split('://')[0]}: {got!r}, expected {want!r}")


def this_month() -> str:
    now = datetime.now(ZoneInfo(TZ))
    return f"{now.year}-{now.month:02d}"


@pytest.fixture
def pair(mosquitto, tmp_path, postgres_url):
    """Two collectors on one prefix, one into SQLite and one into PostgreSQL: both see every message."""
    prefix = unique("v2p") + "/v1"
    cols = [CollectorProc(tmp_path / "lite", mosquitto.port, f"sqlite:///{tmp_path / 'ratings.db'}", prefix=prefix),
            CollectorProc(tmp_path / "pg", mosquitto.port, postgres_url, prefix=prefix)]
    for col in cols:
        with open(col.config, "a", encoding="utf-8") as f:
            f.write(f"timezone: {TZ}\n")
        col.start()
    c = client(mosquitto.port)
    yield prefix, cols, c
    c.loop_stop()
    c.disconnect()
    for col in cols:
        assert col.stop() == 0


def audit(col: CollectorProc, *extra: str, period: str | None = None) -> tuple[int, dict]:
    out = cli("audit", col, "--period", period or this_month(), "--format", "json", *extra)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def device_audit(report: dict, device: str) -> dict:
    [d] = [d for d in report["devices"] if d["device"] == device]
    return d


def test_deleted_rows_are_named_missing_a_resend_closes_the_gap_and_a_new_outbox_is_an_epoch_change(pair):
    prefix, cols, c = pair
    k = Kiosk(prefix, "ubnd-a", "quay-01", synced=True)
    made = [k.rating(value=1 + i % 5) for i in range(8)] + [k.event("sign_in", officer="Lan")] + [k.rating()]
    deleted = {3, 6, 7}  # rows removed from the kiosk's outbox before they were sent
    k.publish(c, k.status(), *[m for m in made if m.seq not in deleted])
    for col in cols:
        wait_for(col.db_url, "SELECT received FROM epochs WHERE epoch = ?", 7, params=(k.epoch,))
        wait_for(col.db_url, "SELECT seq_last FROM epochs WHERE epoch = ?", 10, params=(k.epoch,))
        code, report = audit(col)
        d = device_audit(report, "quay-01")
        assert code == 1 and report["complete"] is False
        assert (d["created"], d["received"], d["missing"]) == (10, 7, 3)
        assert [(r["first"], r["last"]) for r in d["missing_ranges"]] == [(3, 3), (6, 7)]
        assert scalar(col.db_url, "SELECT type FROM events WHERE seq = 9 AND epoch = ?", (k.epoch,)) == "sign_in"

    k.publish(c, *[m for m in made if m.seq in deleted])  # a later resend, e.g. restored from a backup
    for col in cols:
        wait_for(col.db_url, "SELECT received FROM epochs WHERE epoch = ?", 10, params=(k.epoch,))
        code, report = audit(col)
        assert code == 0 and device_audit(report, "quay-01")["missing_ranges"] == []

    old_epoch = k.epoch
    k.new_outbox()  # the SD card was wiped: a new outbox starts a new epoch
    k.publish(c, k.rating(), k.rating())
    k.publish(c, k.status())
    today = datetime.now(ZoneInfo(TZ)).date().isoformat()
    for col in cols:
        wait_for(col.db_url, "SELECT seq_last FROM epochs WHERE epoch = ?", 2, params=(k.epoch,))
        code, report = audit(col)
        d = device_audit(report, "quay-01")
        assert code == 0 and (d["created"], d["received"], d["epochs"]) == (12, 12, 2)
        assert [(e["old_epoch"], e["new_epoch"], e["text"]) for e in d["epoch_changes"]] == [
            (old_epoch, k.epoch, f"outbox replaced on {today}")]
        table = cli("audit", col, "--period", this_month(), "--lang", "en")
        assert table.returncode == 0 and f"outbox replaced on {today}" in table.stdout
        assert "12/12 outbox messages received (100.00 %)" in table.stdout


def test_a_kiosk_clock_3_days_behind_lands_on_the_true_day_and_hour_and_unseen_boots_are_counted_apart(pair):
    prefix, cols, c = pair
    tz = ZoneInfo(TZ)
    now = datetime.now(timezone.utc)
    true_tap = (now - timedelta(hours=2)).astimezone(tz)
    unseen_day = (now - timedelta(days=3)).astimezone(tz).date().isoformat()
    window = ["--since", (now - timedelta(days=5)).astimezone(tz).date().isoformat(),
              "--until", now.astimezone(tz).date().isoformat()]  # whatever the day of the month
    behind = Kiosk(prefix, "ubnd-a", "quay-02", clock_error_s=-3 * 86400)  # unsynced, 3 days behind
    # Tapped 2 hours ago while the link was down, then the kiosk connects: status first, outbox next.
    taps = [behind.rating(value=5, ago_s=7200) for _ in range(4)]
    behind.publish(c, behind.status(), *taps)
    unseen = Kiosk(prefix, "ubnd-a", "quay-03", clock_error_s=-3 * 86400)  # its boot is never seen live
    lost = [unseen.rating(value=1) for _ in range(3)]
    unseen.publish(c, *lost)
    # A v1 kiosk beside them, and a v1 rating dated 2199: placed at its receipt, flagged.
    v1 = [Rating(id=str(uuid.uuid4()), site="ubnd-a", device="quay-04", ts=datetime.now(timezone.utc),
                 rating=4, scale=5, lang="vi") for _ in range(2)]
    future = Rating(id=str(uuid.uuid4()), site="ubnd-a", device="quay-04",
                    ts=datetime(2199, 1, 1, tzinfo=timezone.utc), rating=4, scale=5, lang="vi")
    for r in [*v1, future]:
        send(c, rating_topic("ubnd-a", "quay-04", prefix), encode(r))
    received_at = datetime.now(timezone.utc)
    outputs = []
    for col in cols:
        wait_for(col.db_url, "SELECT COUNT(*) FROM ratings", 10)
        # Evidence kept: the kiosk's own ts stays 3 days early; the placed time is the true one.
        rows = query(col.db_url, "SELECT ts_ms, at_ms, time_unverified FROM ratings WHERE device = 'quay-02'")
        assert all(unv == 0 and abs((at - ts) - 3 * DAY_MS) < 60_000 for ts, at, unv in rows), rows
        assert all(abs(at - true_tap.timestamp() * 1000) < 60_000 for _, at, _ in rows), rows
        assert query(col.db_url, "SELECT DISTINCT time_unverified FROM ratings WHERE device = 'quay-03'") == [(1,)]
        at, unv = query(col.db_url, "SELECT at_ms, time_unverified FROM ratings WHERE id = ?", (future.id,))[0]
        assert unv == 1 and abs(at - received_at.timestamp() * 1000) < 30_000

        by_hour = json.loads(cli("report", col, *window, "--by", "hour", "--site", "ubnd-a",
                                 "--format", "json").stdout)["rows"]
        by_day = json.loads(cli("report", col, *window, "--by", "day", "--format", "json").stdout)["rows"]
        by_counter = {r["group"]: r for r in json.loads(
            cli("report", col, *window, "--by", "counter", "--format", "json").stdout)["rows"]}
        assert by_counter["ubnd-a/quay-02"]["count"] == 4 and by_counter["ubnd-a/quay-02"]["time_unverified"] == 0
        # Never silently moved: the unseen boot's ratings are counted apart, out of the figures.
        assert (by_counter["ubnd-a/quay-03"]["count"], by_counter["ubnd-a/quay-03"]["time_unverified"]) == (0, 3)
        assert (by_counter["ubnd-a/quay-04"]["count"], by_counter["ubnd-a/quay-04"]["time_unverified"]) == (2, 1)
        hour = {r["group"]: r["count"] for r in by_hour}
        assert hour.get(f"{true_tap.hour:02d}", 0) >= 4
        day = {r["group"]: (r["count"], r["time_unverified"]) for r in by_day}
        assert day[true_tap.date().isoformat()][0] >= 4
        # 3 days back holds only the unseen boot's ratings, kept at their kiosk ts and counted apart.
        assert day[unseen_day] == (0, 3)
        code, report = audit(col, "--site", "ubnd-a", period=unseen_day[:4])  # a year: whatever the day
        corr = device_audit(report, "quay-02")["clock_corrections"]
        assert [c["n"] for c in corr] == [4] and abs(corr[0]["min_delta_ms"] - 3 * DAY_MS) < 60_000
        assert device_audit(report, "quay-03")["time_unverified"] == 3
        assert report["summary"]["time_unverified"] == 4
        included = {r["group"]: r for r in json.loads(cli("report", col, *window, "--by", "counter", "--format", "json",
                                                          "--include-unverified").stdout)["rows"]}
        assert (included["ubnd-a/quay-03"]["count"], included["ubnd-a/quay-03"]["time_unverified"]) == (3, 3)
        text = cli("report", col, *window, "--by", "counter", "--lang", "en").stdout
        assert "Completeness:" in text and "4 ratings with unverified time" in text
        # Scripts get the same completeness: in the JSON beside the groups, as a second table in the CSV.
        complete = json.loads(cli("report", col, *window, "--format", "json", "--lang", "en").stdout)["completeness"]
        assert complete["created"] > 0 and (complete["received"], complete["missing"]) == (complete["created"], 0)
        assert complete["time_unverified"] == 4 and complete["summary"] in text
        rows = list(csv.reader(io.StringIO(cli("report", col, *window, "--format", "csv", "--lang", "en").stdout)))
        at = rows.index([complete["summary"]])
        assert rows[at + 1][:2] == ["Messages created", "Received"]
        assert rows[at + 2][:2] == [str(complete["created"]), str(complete["received"])]
        outputs.append((by_hour, by_day, by_counter))
    assert outputs[0] == outputs[1], "SQLite and PostgreSQL reports differ"


def test_statuses_from_a_clock_jumping_back_still_move_the_device_and_the_last_will_sets_it_offline(pair, mosquitto):
    prefix, cols, _ = pair
    k = Kiosk(prefix, "ubnd-b", "quay-01", synced=True)
    will = k.status("offline", ts=k.wall() - timedelta(days=400))  # the clock jumped back a year
    kc = client(mosquitto.port, will=(k.topic("status"), encode(will)))
    k.publish(kc, k.status(ts=datetime(2199, 1, 1, tzinfo=timezone.utc)))  # a status dated 2199 first
    for col in cols:
        wait_for(col.db_url, "SELECT state FROM devices WHERE device = 'quay-01' AND site = 'ubnd-b'", "online")
    k.seq = 5
    k.publish(kc, k.status(ts=k.wall() - timedelta(days=399)))  # later, yet dated earlier
    for col in cols:
        wait_for(col.db_url, "SELECT seq_last FROM devices WHERE site = 'ubnd-b'", 5)
        assert query(col.db_url, "SELECT boot, clock, epoch FROM devices WHERE site = 'ubnd-b'") == [
            (k.boot, "synced", k.epoch)]
    kc.loop_stop()  # no more network thread, so nothing reconnects
    kc._sock.close()  # the kiosk vanishes without a DISCONNECT: the broker publishes its last will
    for col in cols:
        wait_for(col.db_url, "SELECT state FROM devices WHERE site = 'ubnd-b'", "offline", timeout=30)


def test_a_retained_rating_before_and_after_the_collector_subscribes_is_rejected_never_stored(mosquitto, tmp_path,
                                                                                              postgres_url):
    prefix = unique("ret") + "/v1"
    k = Kiosk(prefix, "ubnd-c", "quay-01")
    c = client(mosquitto.port)
    try:
        send(c, k.topic("rating"), encode(k.rating()), retain=True)  # kept by the broker for every subscriber
        col = CollectorProc(tmp_path, mosquitto.port, postgres_url, prefix=prefix).start()
        try:
            wait_for(postgres_url, "SELECT SUM(repeats) FROM rejects WHERE reason = 'retained'", 1)
            send(c, k.topic("event"), encode(k.event("sign_out")), retain=True)
            send(c, k.topic("rating"), encode(k.rating()), retain=True)  # published retained while subscribed
            send(c, k.topic("rating"), encode(k.rating()))  # an ordinary one still goes in
            wait_for(postgres_url, "SELECT COUNT(*) FROM ratings", 1)
            wait_for(postgres_url, "SELECT SUM(repeats) FROM rejects WHERE reason = 'retained'", 3)
            assert scalar(postgres_url, "SELECT COUNT(*) FROM events") == 0
            col.stop()
            col.start()  # a reconnect does not replay them again as new rejects
            col.wait_log("subscribed:", count=2)  # the log file is appended to across starts
            time.sleep(1.0)
            assert scalar(postgres_url, "SELECT SUM(repeats) FROM rejects") == 3
        finally:
            assert col.stop() == 0
    finally:
        for kind in ("rating", "event"):
            send(c, k.topic(kind), b"", retain=True)  # clear the broker's retained copies
        c.loop_stop()
        c.disconnect()


def test_ratings_stamped_in_1970_or_back_dated_past_a_quarter_are_placed_at_arrival_and_flagged(pair):
    """A stolen account back-dating ratings into a closed month, or a kiosk back in 1970: judged against the
    receive time (no live anchor believes them) and counted apart; a month-old backlog keeps its time."""
    prefix, cols, c = pair
    now = datetime.now(timezone.utc)
    stamps = {"1970": datetime(1970, 1, 2, tzinfo=timezone.utc), "back-dated": now - timedelta(days=100),
              "month-old": now - timedelta(days=30)}
    ids = {}
    for name, ts in stamps.items():
        r = Rating(id=str(uuid.uuid4()), site="ubnd-a", device="quay-05", ts=ts, rating=1, scale=5, lang="vi")
        ids[name] = r.id
        send(c, rating_topic("ubnd-a", "quay-05", prefix), encode(r))
    received = datetime.now(timezone.utc).timestamp() * 1000
    for col in cols:
        wait_for(col.db_url, "SELECT COUNT(*) FROM ratings WHERE device = 'quay-05'", 3)
        placed = {name: query(col.db_url, "SELECT at_ms, time_unverified FROM ratings WHERE id = ?", (i,))[0]
                  for name, i in ids.items()}
        for name in ("1970", "back-dated"):
            at, unverified = placed[name]
            assert unverified == 1 and abs(at - received) < 30_000, (name, placed)
        at, unverified = placed["month-old"]
        assert unverified == 0 and abs(at - stamps["month-old"].timestamp() * 1000) < 1_000, placed

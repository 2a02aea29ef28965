"""The fleet at a glance, without a broker: desired vs applied, the pushed configs the collector keeps
(on SQLite and PostgreSQL), and which refusals still stand."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from broker import fleet
from broker.contract import encode
from broker.fleet_view import behind, line, table, verdict
from collector.storage.db import connect
from collector.fleet.fleet_state import desired, open_rejections, recent_rejections
from collector.fleet.fleet_watch import Cleared, Desired, FleetWatch, desired_of, save
from collector.storage.schema import migrate

PREFIX = "hailong/v1"
TOPIC = f"{PREFIX}/xa-a/quay-1/config"


def test_a_kiosk_is_on_the_pushed_config_only_when_the_hashes_match_and_nothing_pushed_says_nothing():
    full = "a" * 64
    assert verdict(full, "a" * 12) == "yes"  # the push carries the whole SHA-256, the status 12 digits
    assert verdict("b" * 12, "a" * 12) == "no"
    assert verdict("b" * 12, None) == "no"  # pushed, never reported
    assert verdict(None, "a" * 12) == "" and verdict("", None) == ""


def test_one_line_per_kiosk_from_any_status_source():
    status = {"state": "online", "app_version": "0.3.0", "config_hash": "abcdefabcdef", "outbox_depth": 4,
              "clock": "unsynced", "config_error": "unknown_key:  signed\nwith key x", "last_rating_ts": None}
    ok = line("xa-a", "quay-1", status.get, "abcdefabcdef" + "0" * 52)
    assert (ok.applied, ok.desired, ok.current, ok.backlog, ok.clock) == ("abcdefabcdef", "abcdefabcdef", "yes", "4",
                                                                          "unsynced")
    assert ok.config_error == "unknown_key: signed with key x"  # one line, whatever the kiosk wrote
    decoded = line("xa-a", "quay-1", {"last_rating_ts": datetime(2026, 11, 27, 1, 2, 3, tzinfo=timezone.utc)}.get, None)
    assert decoded.last_rating == "2026-11-27T01:02:03.000Z"  # as the collector stores it
    never = line("xa-a", "quay-2", lambda _f: None, "0123456789ab")
    assert (never.state, never.applied, never.current) == ("never seen", "", "no")
    assert behind([ok, never]) == 1
    head, first, second = table([ok, never])
    assert head.split()[:3] == ["device", "state", "version"] and first.startswith("xa-a/quay-1  online")
    assert second.index("0123456789ab") == head.index("desired")  # columns line up under their header
    # `fleet status` says why a kiosk refused, Vietnamese first, the kiosk's own words after
    assert "ký bằng khóa không được tin cậy / signed with a key the kiosk does not trust (unknown_key: signed " \
           "with key x)" in first


@pytest.fixture
def keys(tmp_path: Path):
    priv, _ = fleet.keygen(tmp_path / "keys")
    return fleet.load_private(priv)


def test_a_retained_config_gives_the_desired_hash_and_an_empty_one_clears_it(keys):
    push = fleet.sign("kind: kiosk\nsite: xa-a\ndevice: quay-1\n", "xa-a", "quay-1", keys,
                      ts=datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc))
    got = desired_of(TOPIC, encode(push), PREFIX, 5)
    assert got == Desired("xa-a", "quay-1", push.sha256[:12], "2026-11-27T01:00:00.000Z", push.key_id, 5)
    assert desired_of(TOPIC, b"", PREFIX, 5) == Cleared("xa-a", "quay-1")
    assert desired_of(TOPIC, b"not json", PREFIX, 5) is None
    assert desired_of(f"{PREFIX}/xa-a/quay-1/status", b"", PREFIX, 5) is None


def test_the_newest_push_wins_in_any_arrival_order_and_a_clear_removes_it(db_url):
    db = connect(db_url)
    migrate(db)
    new = Desired("xa-a", "quay-1", "bbbbbbbbbbbb", "2026-11-27T02:00:00.000Z", "k", 2)
    old = Desired("xa-a", "quay-1", "aaaaaaaaaaaa", "2026-11-27T01:00:00.000Z", "k", 3)
    save(db, [new])
    save(db, [old])  # a replay of an older push arriving late changes nothing
    assert desired(db)[("xa-a", "quay-1")].config_hash == "bbbbbbbbbbbb"
    save(db, [Cleared("xa-a", "quay-1")])
    assert desired(db) == {}
    db.close()


def test_the_watch_keeps_the_latest_message_per_kiosk_and_stores_it(tmp_path, keys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    migrate(db)
    watch = FleetWatch(PREFIX, lambda: connect(url)).start()
    first = fleet.sign("a: 1\n", "xa-a", "quay-1", keys, ts=datetime(2026, 11, 27, 1, tzinfo=timezone.utc))
    second = fleet.sign("a: 2\n", "xa-a", "quay-1", keys, ts=datetime(2026, 11, 27, 2, tzinfo=timezone.utc))
    watch.offer(TOPIC.encode(), encode(first))
    watch.offer(TOPIC.encode(), memoryview(encode(second)))  # paho hands over a slice of its buffer
    watch.offer(TOPIC.encode(), b"\xff garbage")
    watch.stop()
    assert {k: v.config_hash for k, v in desired(db).items()} == {("xa-a", "quay-1"): second.sha256[:12]}
    db.close()


def test_a_refusal_stands_until_the_kiosk_applies_a_later_config(db_url):
    from collector.storage.records import EVENT_COLUMNS

    db = connect(db_url)
    migrate(db)
    n = 0

    def event(device: str, kind: str, at_ms: int, detail: str | None = None, config_hash: str | None = "h") -> None:
        nonlocal n
        n += 1
        row = {c: None for c in EVENT_COLUMNS} | {
            "id": f"00000000-0000-4000-8000-{n:012d}", "v": 2, "site": "xa-a", "device": device, "type": kind,
            "ts": "2026-11-27T01:00:00Z", "ts_ms": at_ms, "at_ms": at_ms, "time_unverified": 0,
            "epoch": "e", "seq": n, "boot": "b", "mono_ms": 0, "clock": "synced", "config_hash": config_hash,
            "detail": detail, "received_at": "2026-11-27T01:00:00.000Z"}
        db.execute(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(row))})",
                   [row[c] for c in EVENT_COLUMNS])

    event("quay-1", "config_rejected", 1000, "schema: faces.scale")
    event("quay-1", "config_applied", 2000)  # fixed by a later push
    event("quay-2", "config_applied", 1000)
    event("quay-2", "config_rejected", 2000, "unknown_key: signed with key x", config_hash=None)
    event("quay-3", "sign_in", 3000)
    still = open_rejections(db)
    assert list(still) == [("xa-a", "quay-2")] and still[("xa-a", "quay-2")].detail.startswith("unknown_key")
    assert [r.device for r in recent_rejections(db)] == ["quay-2", "quay-1"]  # newest first
    db.close()


def test_a_broker_refusing_only_the_configs_leaves_the_collector_subscribed_and_says_what_is_missing(caplog):
    import queue

    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    from collector.ingest.mqtt_source import MqttSource
    from config.common import BrokerConnection

    taken = []
    source = MqttSource(BrokerConnection(), queue.Queue(), "c", None, 3600, 100,
                        config_sink=lambda topic, payload: taken.append((topic, bytes(payload))))
    assert source.filters[-1] == f"{PREFIX}/+/+/config"  # plain, even when the others are shared
    ok, denied = ReasonCode(PacketTypes.SUBACK, "Granted QoS 1"), ReasonCode(PacketTypes.SUBACK, "Not authorized")
    with caplog.at_level("INFO", logger="collector.mqtt"):
        source._on_subscribe(None, None, 1, [ok, ok, ok, denied], None)
    assert "subscribed:" in caplog.text and "devices page shows no desired config" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="collector.mqtt"):
        source._on_subscribe(None, None, 1, [denied, ok, ok, ok], None)
    assert "subscribed:" not in caplog.text and "refused the subscription" in caplog.text


def test_a_config_goes_whole_to_the_watch_and_never_into_the_rating_batches():
    import queue

    from collector.ingest.mqtt_source import MqttSource
    from config.common import BrokerConnection

    taken, out = [], queue.Queue()
    source = MqttSource(BrokerConnection(), out, "c", "g", 3600, 100,
                        config_sink=lambda topic, payload: taken.append((topic, bytes(payload))))
    acked = []
    source.client.ack_many = acked.extend
    big = b"x" * 20_000  # larger than a rating may be: a rating message would be clipped
    source._on_fast_message(TOPIC.encode(), big, 7, True)
    source._on_fast_message(f"{PREFIX}/xa-a/quay-1/status".encode(), b"{}", 8, False)
    assert taken == [(TOPIC.encode(), big)] and acked == [7]
    assert out.qsize() == 1 and out.get().mid == 8


def test_a_refusal_reads_in_vietnamese_first_with_english_beside_and_the_kiosks_words():
    from broker.fleet_view import refusal_text

    stale = refusal_text("0123456789ab: stale: signed 2026-11-27T08:01:00.000Z, not after 2026-11-27T08:02:00.000Z")
    assert stale.startswith("cấu hình cũ hơn cấu hình thiết bị đã chạy") and " / older than a config" in stale
    assert stale.endswith("(0123456789ab: stale: signed 2026-11-27T08:01:00.000Z, not after 2026-11-27T08:02:00.000Z)")
    assert refusal_text("rolled back: no broker reached within 300 s").startswith("đã quay về cấu hình trước")
    assert refusal_text("unknown_key: signed with key abc").startswith("ký bằng khóa không được tin cậy / ")
    assert refusal_text("bad_json: not JSON").startswith("tin nhắn cấu hình không hợp lệ / not a valid config")
    assert refusal_text("") == ""

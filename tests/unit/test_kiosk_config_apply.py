"""A kiosk takes a pushed config only when signed, meant for it and valid; it rolls back by itself."""
from pathlib import Path

import pytest

from broker import fleet
from broker.contract import encode
from kiosk.config_apply import ConfigTaker

BASE = """\
kind: kiosk
site: xa-a
device: quay-1
broker: {host: 127.0.0.1, port: 1883}
fleet: {public_key: fleet.pub}
followup:
  reasons:
    - key: waiting
      texts: {vi: "Chờ đợi lâu"}
"""
TOPIC = "hailong/v1/xa-a/quay-1/config"


@pytest.fixture()
def setup(tmp_path: Path):
    priv, pub = fleet.keygen(tmp_path / "keys")
    cfg = tmp_path / "device" / "kiosk.yaml"
    cfg.parent.mkdir()
    (cfg.parent / "fleet.pub").write_bytes(pub.read_bytes())
    cfg.write_text(BASE, encoding="utf-8")
    taker = ConfigTaker(cfg, "xa-a", "quay-1", [fleet.load_public(pub)], "hailong/v1", rollback_after_s=60)
    return taker, fleet.load_private(priv), cfg, tmp_path


def signed(key, yaml_text, site="xa-a", device="quay-1"):
    return encode(fleet.sign(yaml_text, site, device, key))


def test_a_signed_valid_config_is_applied_and_the_previous_kept(setup):
    taker, key, cfg, _ = setup
    new = BASE.replace("Chờ đợi lâu", "Phải chờ lâu")
    out = taker.offer(TOPIC, signed(key, new), now=10.0)
    assert out.event == "config_applied" and out.config.followup.reasons[0].texts["vi"] == "Phải chờ lâu"
    assert cfg.read_text(encoding="utf-8") == new
    assert cfg.with_name("kiosk.yaml.previous").read_text(encoding="utf-8") == BASE
    assert taker.offer(TOPIC, signed(key, new), now=11.0).event is None  # the retained copy, seen again
    assert taker.broker_reached() == out.config_hash
    assert taker.tick(now=1000.0) is None  # confirmed: never rolled back


@pytest.mark.parametrize("case", ["wrong_key", "other_device", "yaml_for_other", "schema", "garbage", "no_fleet",
                                  "missing_file"])
def test_refused_configs_leave_the_running_one_and_say_why_once(setup, case):
    taker, key, cfg, tmp = setup
    if case == "wrong_key":
        other, _ = fleet.keygen(tmp / "other")
        payload = signed(fleet.load_private(other), BASE)
    elif case == "other_device":
        payload = signed(key, BASE.replace("quay-1", "quay-2"), device="quay-2")
    elif case == "yaml_for_other":  # signed for this device, but the YAML names another
        payload = signed(key, BASE.replace("quay-1", "quay-2"))
    elif case == "no_fleet":  # would leave the kiosk unable to take the next push
        payload = signed(key, BASE.replace("fleet: {public_key: fleet.pub}\n", ""))
    elif case == "schema":
        payload = signed(key, BASE + "faces: {scale: 9}\n")
    elif case == "missing_file":  # it would start on its last good copy: refused instead, and said
        payload = signed(key, BASE.replace("port: 1883}", "port: 8883, tls: {ca: tinh-ca.crt}}"))
    else:
        payload = b"\xff not json"
    out = taker.offer(TOPIC, payload, now=1.0)
    assert out.event == "config_rejected" and taker.config_error
    assert cfg.read_text(encoding="utf-8") == BASE
    assert taker.offer(TOPIC, payload, now=2.0).event is None  # retained redelivery: not reported again
    expected = {"wrong_key": "unknown_key", "other_device": "topic_mismatch", "yaml_for_other": "wrong_device", "schema": "faces.scale",
                "garbage": "bad_json", "no_fleet": "no_fleet",
                "missing_file": "missing_file: broker.tls.ca: tinh-ca.crt: file not found"}[case]
    assert expected in out.detail


def test_a_config_that_never_reaches_the_broker_rolls_back_by_itself(setup):
    taker, key, cfg, _ = setup
    bad = BASE.replace("host: 127.0.0.1", "host: 127.0.0.9")
    applied = taker.offer(TOPIC, signed(key, bad), now=100.0)
    assert applied.event == "config_applied"
    assert taker.tick(now=150.0) is None
    back = taker.tick(now=161.0)
    assert back.event == "config_rejected" and "rolled back" in back.detail
    assert back.config.broker.host == "127.0.0.1" and cfg.read_text(encoding="utf-8") == BASE
    # the same retained config is not taken again
    assert taker.offer(TOPIC, signed(key, bad), now=200.0).event is None
    # and the decision survives a restart of the kiosk
    again = ConfigTaker(cfg, "xa-a", "quay-1", taker.keys, "hailong/v1")
    assert again.offer(TOPIC, signed(key, bad), now=1.0).event is None and "rolled back" in again.config_error


def test_a_new_config_is_confirmed_only_by_a_connection_made_with_it(setup):
    taker, key, cfg, _ = setup
    moved = BASE.replace("port: 1883", "port: 1884")
    assert taker.offer(TOPIC, signed(key, moved), now=10.0).event == "config_applied"
    # the connection that was open when it arrived (connection 3) proves nothing, however long it lasts
    assert taker.connected(3) is None and taker.connected(3) is None
    taker.running(connections=3, reconnects=True)  # now running it: the uplink connects again
    assert taker.connected(3) is None
    confirmed = taker.connected(4)
    assert confirmed and taker.tick(now=1000.0) is None  # confirmed: never rolled back


def test_broker_settings_unchanged_the_open_connection_confirms(setup):
    taker, key, cfg, _ = setup
    new = BASE.replace("Chờ đợi lâu", "Phải chờ lâu")
    out = taker.offer(TOPIC, signed(key, new), now=10.0)
    taker.running(connections=1, reconnects=False)
    assert taker.connected(1) == out.config_hash


def test_a_restarted_kiosk_confirms_on_its_first_connection(setup):
    """The app restarts onto a new kiosk.yaml: the old process never confirms it, the new one does."""
    taker, key, cfg, _ = setup
    out = taker.offer(TOPIC, signed(key, BASE.replace("Chờ đợi lâu", "Phải chờ lâu")), now=10.0)
    assert taker.connected(7) is None  # the old process, still on the old config
    fresh = ConfigTaker(cfg, "xa-a", "quay-1", taker.keys, "hailong/v1", rollback_after_s=60)
    assert fresh.connected(1) == out.config_hash and fresh.tick(now=1000.0) is None


def test_a_rolled_back_config_does_not_confirm_on_the_old_connection(setup):
    taker, key, cfg, _ = setup
    bad = BASE.replace("host: 127.0.0.1", "host: 127.0.0.9")
    taker.offer(TOPIC, signed(key, bad), now=100.0)
    back = taker.tick(now=161.0)
    assert back.event == "config_rejected"
    assert taker.connected(5) is None and "rolled back" in taker.config_error


def signed_at(key, yaml_text, minute: int):
    from datetime import datetime, timezone

    ts = datetime(2026, 11, 27, 8, minute, tzinfo=timezone.utc)
    return encode(fleet.sign(yaml_text, "xa-a", "quay-1", key, ts=ts))


V1 = BASE.replace("Chờ đợi lâu", "Chờ lâu (v1)")
V2 = BASE.replace("Chờ đợi lâu", "Chờ lâu (v2)")


def test_an_older_signed_config_replayed_is_refused_and_the_kiosk_stays_on_the_newer(setup):
    taker, key, cfg, _ = setup
    v1, v2 = signed_at(key, V1, 1), signed_at(key, V2, 2)
    assert taker.offer(TOPIC, v1, now=1.0).event == "config_applied"
    assert taker.offer(TOPIC, v2, now=2.0).event == "config_applied"
    replay = taker.offer(TOPIC, v1, now=3.0)
    assert replay.event == "config_rejected" and replay.detail.startswith("stale:")
    assert "2026-11-27T08:01:00.000Z" in replay.detail and "08:02:00.000Z" in replay.detail
    assert cfg.read_text(encoding="utf-8") == V2 and replay.config is None
    assert taker.config_error.startswith("stale:")
    assert taker.offer(TOPIC, v1, now=4.0).event is None  # the retained replay: said once
    # a config signed at the same moment as the running one is not newer either
    same_time = taker.offer(TOPIC, signed_at(key, BASE, 2), now=5.0)
    assert same_time.event == "config_rejected" and same_time.detail.startswith("stale:")
    # the next real push is newer and is taken
    assert taker.offer(TOPIC, signed_at(key, BASE.replace("Chờ đợi lâu", "v3"), 3), now=6.0).event == "config_applied"


def test_the_mark_survives_a_restart_and_a_roll_back(setup):
    taker, key, cfg, _ = setup
    v1 = signed_at(key, V1, 1)
    assert taker.offer(TOPIC, v1, now=1.0).event == "config_applied"
    assert taker.broker_reached()
    unreachable = V2.replace("host: 127.0.0.1", "host: 127.0.0.9")
    assert taker.offer(TOPIC, signed_at(key, unreachable, 2), now=10.0).event == "config_applied"
    back = taker.tick(now=100.0)
    assert back.event == "config_rejected" and cfg.read_text(encoding="utf-8") == V1  # v1 runs again
    # a kiosk restarted after the roll-back still refuses anything signed before the rolled-back config
    fresh = ConfigTaker(cfg, "xa-a", "quay-1", taker.keys, "hailong/v1", rollback_after_s=60)
    older = fresh.offer(TOPIC, signed_at(key, BASE, 0), now=1.0)
    assert older.event == "config_rejected" and "08:02:00.000Z" in older.detail
    assert cfg.read_text(encoding="utf-8") == V1


def test_the_retained_copy_of_the_running_config_sets_the_mark(setup):
    """A kiosk that ran a pushed config before it kept a mark learns it from the retained copy."""
    taker, key, cfg, _ = setup
    cfg.write_text(V2, encoding="utf-8")
    assert taker.offer(TOPIC, signed_at(key, V2, 2), now=1.0).event is None
    assert taker.offer(TOPIC, signed_at(key, V1, 1), now=2.0).detail.startswith("stale:")


def test_garbage_and_foreign_signatures_move_no_mark_and_push_no_rolled_back_config_out(setup):
    taker, key, cfg, tmp = setup
    bad = V2.replace("host: 127.0.0.1", "host: 127.0.0.9")
    taker.offer(TOPIC, signed_at(key, bad, 2), now=0.0)
    assert taker.tick(now=100.0).event == "config_rejected"
    other, _ = fleet.keygen(tmp / "other")
    from datetime import datetime, timezone

    far_future = encode(fleet.sign(V1, "xa-a", "quay-1", fleet.load_private(other),
                                   ts=datetime(2030, 1, 1, tzinfo=timezone.utc)))
    assert taker.offer(TOPIC, far_future, now=1.0).detail.startswith("unknown_key")
    for i in range(30):  # more garbage than the list of noise keeps
        assert taker.offer(TOPIC, f"garbage {i}".encode(), now=2.0 + i).event == "config_rejected"
    fresh = ConfigTaker(cfg, "xa-a", "quay-1", taker.keys, "hailong/v1", rollback_after_s=60)
    assert fresh.offer(TOPIC, signed_at(key, bad, 2), now=50.0).event is None  # still never taken again
    assert fresh.offer(TOPIC, signed_at(key, V1, 3), now=51.0).event == "config_applied"  # the mark is 08:02


def test_a_state_file_of_the_earlier_format_is_read(setup):
    import json

    taker, key, cfg, _ = setup
    taker.state.path.write_text(json.dumps({"refused": ["p:0123456789ab", "abcdefabcdef"], "pending": None,
                                            "error": "rolled back: x"}), encoding="utf-8")
    fresh = ConfigTaker(cfg, "xa-a", "quay-1", taker.keys, "hailong/v1")
    assert fresh.state.refused == ["abcdefabcdef"] and fresh.state.noise == ["p:0123456789ab"]
    assert fresh.config_error == "rolled back: x" and fresh.state.mark is None

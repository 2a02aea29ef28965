"""Fleet folders merge in layers and name the layer of each mistake; configs are signed and checked."""
from pathlib import Path

import pytest

from broker import fleet as fleet_keys
from broker.contract import config_topic, decode, encode
from broker import fleet_check
from config import fleet
from config.__main__ import main as config_main
from config.loader import ConfigError

DEFAULTS = """\
broker:
  host: mqtt.tinh.example
  port: 8883
  username: placeholder
  password: {file: /etc/hailong/mqtt.pass}
faces:
  scale: 5
followup:
  reasons:
    - key: waiting
      texts: {vi: "Chờ đợi lâu", en: "Long wait"}
"""


def make_fleet(tmp_path: Path, site_layer: str = "faces:\n  scale: 4\n", device_layer: str = "") -> Path:
    root = tmp_path / "fleet"
    (root / "sites").mkdir(parents=True)
    (root / "devices" / "xa-a").mkdir(parents=True)
    (root / "devices" / "xa-b").mkdir(parents=True)
    (root / "defaults.yaml").write_text(DEFAULTS, encoding="utf-8")
    (root / "sites" / "xa-a.yaml").write_text(site_layer, encoding="utf-8")
    (root / "devices" / "xa-a" / "quay-1.yaml").write_text(
        "broker:\n  username: xa-a--quay-1\n" + device_layer, encoding="utf-8")
    (root / "devices" / "xa-a" / "quay-2.yaml").write_text("broker:\n  username: xa-a--quay-2\n", encoding="utf-8")
    (root / "devices" / "xa-b" / "quay-1.yaml").write_text("", encoding="utf-8")
    # the province installs the shared password file on every kiosk itself (enrolment gives SITE--DEVICE.pass)
    (root / "push.yaml").write_text("kind: fleet\nkey: fleet.key\ndevice_files: [/etc/hailong/mqtt.pass]\n",
                                    encoding="utf-8")
    return root


def test_layers_merge_deeper_wins_and_lists_replace(tmp_path):
    root = make_fleet(tmp_path, device_layer="followup:\n  reasons:\n    - key: slow\n      texts: {vi: Chậm}\n")
    m = fleet.merge_device(root, "xa-a", "quay-1")
    cfg = fleet.validate(m)
    assert (cfg.site, cfg.device, cfg.faces.scale, cfg.broker.username, cfg.broker.host) == (
        "xa-a", "quay-1", 4, "xa-a--quay-1", "mqtt.tinh.example")
    assert [r.key for r in cfg.followup.reasons] == ["slow"]  # a list replaces, it does not append
    other = fleet.validate(fleet.merge_device(root, "xa-b", "quay-1"))
    assert other.faces.scale == 5 and other.broker.username == "placeholder"  # no site layer for xa-b
    assert m.yaml_text() == fleet.merge_device(root, "xa-a", "quay-1").yaml_text()  # stable bytes, stable hash


def test_a_mistake_names_the_layer_file_and_line_it_came_from(tmp_path):
    root = make_fleet(tmp_path, site_layer="# commune A\nfaces:\n  scale: 9\n")
    good, problems = fleet_check.check(root)
    assert problems == ["sites/xa-a.yaml:3: faces.scale: 9 is not allowed; use 2 to 5 (device xa-a/quay-1)",
                        "sites/xa-a.yaml:3: faces.scale: 9 is not allowed; use 2 to 5 (device xa-a/quay-2)"]
    assert [(m.site, m.device) for m in good] == [("xa-b", "quay-1")]


def test_a_device_file_cannot_claim_another_place(tmp_path):
    root = make_fleet(tmp_path, device_layer="site: xa-z\n")
    with pytest.raises(ConfigError) as e:
        fleet.merge_device(root, "xa-a", "quay-1")
    assert "devices/xa-a/quay-1.yaml:3: site: 'xa-z' disagrees" in e.value.problems[0]


def test_inline_secrets_are_refused_in_any_layer(tmp_path):
    root = make_fleet(tmp_path, device_layer="technician:\n  pin: '1234'\n")
    _, problems = fleet_check.check(root, site="xa-a")
    assert any(p.startswith("devices/xa-a/quay-1.yaml:4: technician.pin") for p in problems), problems


def test_cli_check_and_show(tmp_path, capsys):
    root = make_fleet(tmp_path)
    assert config_main(["fleet", "check", str(root)]) == 0
    assert "3 device(s) ok, 0 problem(s)" in capsys.readouterr().out
    assert config_main(["fleet", "show", str(root), "xa-a", "quay-2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Merged from: defaults.yaml, sites/xa-a.yaml, devices/xa-a/quay-2.yaml")
    assert "username: xa-a--quay-2" in out and "scale: 4" in out
    (root / "sites" / "xa-a.yaml").write_text("faces: [\n", encoding="utf-8")
    assert config_main(["fleet", "check", str(root)]) == 1
    assert "sites/xa-a.yaml:2: not valid YAML" in capsys.readouterr().err


def test_signed_config_round_trip_and_every_refusal(tmp_path):
    priv, pub = fleet_keys.keygen(tmp_path / "keys")
    assert oct(priv.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(fleet_keys.FleetKeyError):
        fleet_keys.keygen(tmp_path / "keys")  # never replaced by accident
    key, trusted = fleet_keys.load_private(priv), [fleet_keys.load_public(pub)]
    push = fleet_keys.sign("site: xa-a\n", "xa-a", "quay-1", key)
    back = decode(config_topic("xa-a", "quay-1"), encode(push))
    fleet_keys.verify(back, "xa-a", "quay-1", trusted)  # accepted
    with pytest.raises(fleet_keys.ConfigRefused) as e:
        fleet_keys.verify(back, "xa-a", "quay-2", trusted)
    assert e.value.reason == "wrong_device"
    with pytest.raises(fleet_keys.ConfigRefused) as e:
        fleet_keys.verify(back.model_copy(update={"yaml": "site: xa-a\nfaces: {scale: 2}\n"}), "xa-a", "quay-1", trusted)
    assert e.value.reason == "bad_hash"
    other_priv, _ = fleet_keys.keygen(tmp_path / "other")
    forged = fleet_keys.sign("site: xa-a\n", "xa-a", "quay-1", fleet_keys.load_private(other_priv))
    with pytest.raises(fleet_keys.ConfigRefused) as e:
        fleet_keys.verify(forged, "xa-a", "quay-1", trusted)
    assert e.value.reason == "unknown_key"
    tampered = forged.model_copy(update={"key_id": push.key_id})
    with pytest.raises(fleet_keys.ConfigRefused) as e:
        fleet_keys.verify(tampered, "xa-a", "quay-1", trusted)
    assert e.value.reason == "bad_signature"


def test_a_config_naming_a_file_the_kiosk_does_not_have_is_refused_where_it_is_written(tmp_path, capsys):
    root = make_fleet(tmp_path, device_layer="broker:\n  password: {file: xa-a--quay-1.pass}\n"
                                             "  tls: {ca: /etc/ssl/tinh-ca.pem}\n"
                                             "audio:\n  vi: {start: sounds/start.wav}\n")
    good, problems = fleet_check.check(root, site="xa-a")
    assert [(m.site, m.device) for m in good] == [("xa-a", "quay-2")]  # its own .pass is what enrolment gives
    assert len(problems) == 2, problems
    assert problems[0].startswith("devices/xa-a/quay-1.yaml:5: broker.tls.ca: /etc/ssl/tinh-ca.pem: thiết bị không "
                                  "có tệp này / the kiosk has no such file: enrolment gives it kiosk.yaml, ca.crt, "
                                  "fleet.pub, pin.key, identity.json, xa-a--quay-1.pass")
    assert problems[1].startswith("devices/xa-a/quay-1.yaml:7: audio.vi.start: sounds/start.wav: thiết bị không có tệp "
                                  "này / the kiosk has no such file (optional)")
    # files the province installs itself are declared once in push.yaml, and then pass
    (root / "push.yaml").write_text("kind: fleet\nkey: fleet.key\ndevice_files: [/etc/hailong/mqtt.pass, "
                                    "/etc/ssl/tinh-ca.pem, sounds/start.wav]\n", encoding="utf-8")
    assert config_main(["fleet", "check", str(root)]) == 0, capsys.readouterr().err
    assert "3 device(s) ok, 0 problem(s)" in capsys.readouterr().out


def test_a_config_too_large_to_push_is_refused_before_the_broker_sees_it(tmp_path, capsys):
    from broker.contract import MAX_CONFIG_PAYLOAD_BYTES, encode

    officers = "".join(f"  - {{key: cb-{i:04d}, name: 'Cán bộ Nguyễn Văn Số {i:04d} phường'}}\n" for i in range(1200))
    root = make_fleet(tmp_path, device_layer="officers:\n" + officers)
    good, problems = fleet_check.check(root, site="xa-a")
    assert [(m.site, m.device) for m in good] == [("xa-a", "quay-2")]
    assert len(problems) == 1 and problems[0].startswith("devices/xa-a/quay-1.yaml: cấu hình quá lớn / too large: ")
    assert f"at most 60,000 characters and {MAX_CONFIG_PAYLOAD_BYTES:,} bytes" in problems[0]
    big = fleet.merge_device(root, "xa-a", "quay-1")
    assert fleet_check.push_size(big) > MAX_CONFIG_PAYLOAD_BYTES
    # the size it measures is the signed message's, byte for byte
    small = fleet.merge_device(root, "xa-a", "quay-2")
    key = fleet_keys.load_private(fleet_keys.keygen(tmp_path / "keys")[0])
    assert fleet_check.push_size(small) == len(encode(fleet_keys.sign(small.yaml_text(), "xa-a", "quay-2", key)))
    assert config_main(["fleet", "check", str(root)]) == 1
    assert "quá lớn / too large" in capsys.readouterr().err


def test_fleet_check_with_the_collector_wants_each_reason_s_element_as_collector_yaml_has_it(tmp_path, capsys):
    root = make_fleet(tmp_path, site_layer="followup:\n  reasons:\n    - key: waiting\n      texts: {vi: Chờ}\n"
                                            "      element: access\n")
    collector = tmp_path / "collector.yaml"
    collector.write_text("kind: collector\nlabels:\n  reason_elements: {waiting: staff}\n", encoding="utf-8")
    assert config_main(["fleet", "check", str(root), "--collector", str(collector)]) == 1
    err = capsys.readouterr().err
    line = ("sites/xa-a.yaml:5: followup.reasons[0].element: 'access', but collector.yaml "
            "labels.reason_elements.waiting is 'staff'")
    assert err.count(line) == 1, err  # once for the layer, not once per counter it reaches

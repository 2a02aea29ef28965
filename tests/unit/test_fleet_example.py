"""The example fleet folder (config/examples/fleet) passes `config fleet check` and agrees with the example
collector.yaml; `config check` takes push.yaml (kind: fleet) and desk.yaml (kind: desk); and one command
says where a counter's broker account, fleet file and collector.yaml entry disagree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from broker import setup
from broker import fleet_check
from config.broker import BrokerConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "fleet"
COLLECTOR = ROOT / "config" / "examples" / "collector.yaml"


def config(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "config", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_the_example_fleet_folder_passes_fleet_check_and_each_device_is_a_valid_kiosk_yaml(tmp_path):
    out = config("fleet", "check", EXAMPLE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{EXAMPLE}: 2 device(s) ok, 0 problem(s)"
    shown = config("fleet", "show", EXAMPLE, "ubnd-xa-tan-lap", "quay-02")
    assert shown.returncode == 0, shown.stderr
    # the merged file is a kiosk.yaml `config check` takes, beside the files enrolment gives the kiosk
    for name in ("ca.crt", "fleet.pub", "ubnd-xa-tan-lap--quay-02.pass"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "kiosk.yaml").write_text(shown.stdout, encoding="utf-8")
    checked = config("check", tmp_path / "kiosk.yaml")
    assert checked.returncode == 0 and "kiosk.yaml: ok" in checked.stdout, checked.stderr
    assert "service: dat-dai" in shown.stdout and "public_key: fleet.pub" in shown.stdout
    good, problems = fleet_check.check(EXAMPLE)
    assert problems == [] and all(fleet_check.push_size(m) < 8192 for m in good)


def test_config_check_takes_the_fleets_push_yaml_and_a_desk_yaml(tmp_path):
    text = (EXAMPLE / "push.yaml").read_text(encoding="utf-8").replace("/etc/hailong-fleet", str(tmp_path))
    for name in ("fleet.key", "fleet-tinh.pass", "ca.crt"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "push.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "desk.yaml").write_text("kind: desk\nbroker: {host: mqtt.tinh.example, port: 8883, username: "
                                        "desk-ubnd-xa-tan-lap--quay-01, password: {file: fleet-tinh.pass}, "
                                        "tls: {ca: ca.crt}}\n", encoding="utf-8")
    out = config("check", tmp_path / "push.yaml", tmp_path / "desk.yaml")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": ok") == 2
    # each kind is checked as itself: its files, its keys
    (tmp_path / "fleet.key").unlink()
    (tmp_path / "desk.yaml").write_text("kind: desk\nbroker: {host: x}\nsite: ubnd-xa-tan-lap\n", encoding="utf-8")
    out = config("check", tmp_path / "push.yaml", tmp_path / "desk.yaml")
    assert out.returncode == 1
    assert "push.yaml:3: key: " in out.stderr and "fleet.key: file not found" in out.stderr
    assert "desk.yaml:3: site: " in out.stderr


@pytest.fixture()
def broker_dir(tmp_path):
    folder = tmp_path / "broker"
    setup.init(folder, BrokerConfig())
    for device in ("quay-01", "quay-02"):
        setup.add_device(folder, "ubnd-xa-tan-lap", device)
    return folder


def test_the_broker_accounts_the_fleet_folder_and_collector_yaml_agree_or_each_difference_is_named(broker_dir, tmp_path):
    out = config("fleet", "check", EXAMPLE, "--broker-dir", broker_dir, "--collector", COLLECTOR)
    assert out.returncode == 0, out.stderr
    assert "counters: the 2 counters agree in every place compared" in out.stdout

    # a counter added on the broker only, one whose fleet file names another account, and one missing from
    # collector.yaml: three lines, each saying where it is, where it is not and what to do
    setup.add_device(broker_dir, "ubnd-xa-tan-lap", "quay-03")
    fleet_dir = tmp_path / "fleet"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(fleet_dir)], check=True)
    dev = fleet_dir / "devices" / "ubnd-xa-tan-lap" / "quay-02.yaml"
    dev.write_text(dev.read_text(encoding="utf-8").replace("username: ubnd-xa-tan-lap--quay-02",
                                                           "username: ubnd-xa-tan-lap--quay-2"), encoding="utf-8")
    collector = tmp_path / "collector.yaml"
    collector.write_text(COLLECTOR.read_text(encoding="utf-8").replace(
        '              - {device: quay-02, name: "Quầy 2 - Đất đai"}\n', ""), encoding="utf-8")
    out = config("fleet", "check", fleet_dir, "--broker-dir", broker_dir, "--collector", collector)
    assert out.returncode == 1
    assert "counters: 3 difference(s)" in out.stdout
    lines = out.stderr.splitlines()
    assert lines == [
        "ubnd-xa-tan-lap/quay-02: có tài khoản trên máy chủ MQTT, có tệp trong thư mục fleet; chưa có trong "
        "collector.yaml / has a broker account, has a fleet file; not in collector.yaml: sửa / fix: thêm / add "
        "{device: quay-02, name: ...} vào counters: của / to counters: of centre ubnd-xa-tan-lap (collector.yaml)",
        "ubnd-xa-tan-lap/quay-02: thư mục fleet đặt broker.username ubnd-xa-tan-lap--quay-2, tài khoản của quầy là "
        "ubnd-xa-tan-lap--quay-02 / the fleet folder says broker.username ubnd-xa-tan-lap--quay-2, the counter's "
        "account is ubnd-xa-tan-lap--quay-02: write username: ubnd-xa-tan-lap--quay-02 and password: "
        f"{{file: ubnd-xa-tan-lap--quay-02.pass}} in {fleet_dir}/devices/ubnd-xa-tan-lap/quay-02.yaml",
        "ubnd-xa-tan-lap/quay-03: có tài khoản trên máy chủ MQTT; chưa có tệp trong thư mục fleet, chưa có trong "
        "collector.yaml / has a broker account; no file in the fleet folder, not in collector.yaml: sửa / fix: viết "
        f"tệp / write {fleet_dir}/devices/ubnd-xa-tan-lap/quay-03.yaml; thêm / add {{device: quay-03, name: ...}} "
        "vào counters: của / to counters: of centre ubnd-xa-tan-lap (collector.yaml)",
    ], out.stderr

    # one place alone compared: only the broker
    setup.remove(broker_dir, "ubnd-xa-tan-lap--quay-03")
    out = config("fleet", "check", EXAMPLE, "--broker-dir", broker_dir)
    assert out.returncode == 0 and "the 2 counters agree" in out.stdout, out.stderr


def test_a_kiosk_of_a_merged_commune_is_its_new_centres_counter(broker_dir, tmp_path):
    """collector.yaml lists ubnd-xa-tan-my (merged into ubnd-xa-tan-lap) under the new centre: a kiosk still
    on the old slug is that centre's counter, and its broker account and fleet file keep the old slug."""
    setup.add_device(broker_dir, "ubnd-xa-tan-my", "quay-05")
    fleet_dir = tmp_path / "fleet"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(fleet_dir)], check=True)
    (fleet_dir / "devices" / "ubnd-xa-tan-my").mkdir()
    (fleet_dir / "devices" / "ubnd-xa-tan-my" / "quay-05.yaml").write_text(
        "broker: {username: ubnd-xa-tan-my--quay-05, password: {file: ubnd-xa-tan-my--quay-05.pass}}\n", encoding="utf-8")
    collector = tmp_path / "collector.yaml"
    collector.write_text(COLLECTOR.read_text(encoding="utf-8").replace(
        '              - {device: quay-02, name: "Quầy 2 - Đất đai"}\n',
        '              - {device: quay-02, name: "Quầy 2 - Đất đai"}\n              - {device: quay-05, name: "Quầy 5"}\n'),
        encoding="utf-8")
    out = config("fleet", "check", fleet_dir, "--broker-dir", broker_dir, "--collector", collector)
    assert out.returncode == 0, out.stderr
    assert "the 3 counters agree" in out.stdout


def test_with_the_broker_folder_a_config_its_mosquitto_would_refuse_for_size_is_named(broker_dir, tmp_path):
    fleet_dir = tmp_path / "fleet"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(fleet_dir)], check=True)
    pin_hash = "scrypt$14$8$1$c2FsdHNhbHRzYWx0c2FsdA==$BOTLUiKjPQeOzm8EC4KXVvFRHpC88rPzS1pF4tPZWzk="
    staff = "staff:\n" + "".join(f"  - {{key: can-bo-{i:02d}, name: 'Nguyễn Thị Thảo {i:02d}', pin_hash: '{pin_hash}'}}\n"
                                 for i in range(1, 61))
    with open(fleet_dir / "devices" / "ubnd-xa-tan-lap" / "quay-01.yaml", "a", encoding="utf-8") as f:
        f.write(staff)
    assert config("fleet", "check", fleet_dir, "--broker-dir", broker_dir).returncode == 0  # 64 KiB: it fits
    conf = broker_dir / "mosquitto.conf"  # a broker folder written before configs could be 64 KiB
    conf.write_text(conf.read_text().replace("message_size_limit 65536", "message_size_limit 8192"))
    out = config("fleet", "check", fleet_dir, "--broker-dir", broker_dir)
    assert out.returncode == 1
    assert "1 device(s) ok, 1 problem(s)" in out.stdout
    assert out.stderr.startswith("devices/ubnd-xa-tan-lap/quay-01.yaml: cấu hình quá lớn đối với máy chủ MQTT / too "
                                 "large for the broker: a ")
    assert "takes at most 8,192 (message_size_limit)" in out.stderr and "(device ubnd-xa-tan-lap/quay-01)" in out.stderr

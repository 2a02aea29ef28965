"""Pushes that used to fail or change things silently, with the production broker set-up (TLS, one account per
kiosk, `broker init`'s mosquitto.conf) and a real kiosk holding only the files its enrolment bundle gave it:

- a ward's config with 40 officers and their PIN hashes (over 8 KiB) is pushed and applied;
- a config naming a file the kiosk does not have is refused by `fleet check` and `fleet push`, and a kiosk
  that is sent one anyway refuses it and says why in its status, still running the config it had;
- a broker folder set up before (message_size_limit 8192) makes `fleet push` say "too large", not blame rights.
"""
from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e import chain
from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block
from tests.servers import Mosquitto

SITE, DEVICE = "phuong-a", "quay-01"
USER = f"{SITE}--{DEVICE}"
PIN_HASH = "scrypt$14$8$1$c2FsdHNhbHRzYWx0c2FsdA==$BOTLUiKjPQeOzm8EC4KXVvFRHpC88rPzS1pF4tPZWzk="


def cli(*args: str, module: str = "broker") -> subprocess.CompletedProcess:
    return subprocess.run([chain.PY, "-m", module, *args], cwd=chain.ROOT, capture_output=True, text=True,
                          timeout=120, env=chain._env())


def staff(n: int) -> str:
    return "staff:\n" + "".join(f"  - key: can-bo-{i:02d}\n    name: 'Nguyễn Thị Phương Thảo {i:02d}'\n"
                                f"    pin_hash: '{PIN_HASH}'\n    services: [ho-tich, dat-dai]\n" for i in range(1, n + 1))


def applied(root: Path, wait: str = "2") -> dict[str, str]:
    """What `fleet status` says of the kiosk: applied and desired hash, whether current, its config error."""
    out = cli("fleet", "status", "--settings", str(root / "push.yaml"), "--fleet", str(root), "--wait", wait)
    assert out.returncode == 0, out.stderr
    row = next((line for line in out.stdout.splitlines() if line.startswith(f"{SITE}/{DEVICE} ")), "")
    return {"row": row, "out": out.stdout}


def running_hash(home: Path) -> str:
    from config.loader import file_hash

    return file_hash(home / "kiosk.yaml")


@pytest.mark.slow
def test_big_configs_push_and_files_the_kiosk_lacks_are_refused_before_and_at_the_kiosk(tmp_path):
    bdir, tls_port = init_tls_broker(tmp_path)
    assert "message_size_limit 65536" in (bdir / "mosquitto.conf").read_text()
    broker_cli("fleet", "keygen", "--dir", str(tmp_path / "keys"))
    fleet_block = yaml_block(broker_cli("add-fleet", "tinh", "--dir", str(bdir)))
    bundle = tmp_path / f"{DEVICE}.tar"
    broker_cli("add-device", SITE, DEVICE, "--dir", str(bdir), "--enrol-bundle", str(bundle),
               "--fleet-pub", str(tmp_path / "keys" / "fleet.pub"))
    home = tmp_path / "kiosk"
    home.mkdir()
    with tarfile.open(bundle) as tar:  # the kiosk has what its enrolment bundle holds, and nothing else
        tar.extractall(home, filter="data")
    assert sorted(p.name for p in home.iterdir()) == ["ca.crt", "fleet.pub", "identity.json", "kiosk.yaml",
                                                      f"{USER}.pass"]

    root = tmp_path / "fleet"
    (root / "devices" / SITE).mkdir(parents=True)
    defaults = (f"broker: {{host: 127.0.0.1, port: {tls_port}, tls: {{ca: ca.crt}}, keepalive_s: 5}}\n"
                "fleet: {public_key: fleet.pub, rollback_after_s: 30}\nstatus_interval_s: 5\nrepeat_window_s: 0\n"
                "outbox: {path: outbox-k.db}\nservices:\n  - {key: ho-tich, name: Hộ tịch}\n"
                "  - {key: dat-dai, name: Đất đai}\n")
    (root / "defaults.yaml").write_text(defaults, encoding="utf-8")
    device_file = root / "devices" / SITE / f"{DEVICE}.yaml"
    device_file.write_text(f"broker: {{username: {USER}, password: {{file: {USER}.pass}}}}\n", encoding="utf-8")
    fleet_home = tmp_path / "fleet-keys"
    fleet_home.mkdir()
    for f in ("certs/ca.crt", "secrets/fleet-tinh.pass"):
        (fleet_home / Path(f).name).write_bytes((bdir / f).read_bytes())
    push_yaml = (f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\n"
                 + fleet_block.replace("ca.crt", str(fleet_home / "ca.crt"))
                 .replace("fleet-tinh.pass", str(fleet_home / "fleet-tinh.pass")))
    (root / "push.yaml").write_text(push_yaml, encoding="utf-8")
    (home / "kiosk.yaml").write_text(chain.fleet_show(root, SITE, DEVICE), encoding="utf-8")

    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    kiosk = chain.Proc("kiosk", [chain.PY, "-m", "kiosk", "simulate", "--config", str(home / "kiosk.yaml"),
                                 "--count", "3", "--rate", "2", "--stay"], home).start()
    try:
        first = running_hash(home)
        assert chain.wait_for(lambda: first in applied(root)["row"], 60), kiosk.tail()

        # 1. a ward with 40 officers: the signed config is well over the old 8 KiB limit, and it arrives
        (root / "defaults.yaml").write_text(defaults + staff(40), encoding="utf-8")
        from broker import fleet_check
        from config import fleet as layers

        big = layers.merge_device(root, SITE, DEVICE)
        assert fleet_check.push_size(big) > 8192  # the old limit
        pushed = cli("fleet", "push", str(root))
        assert pushed.returncode == 0 and "1 config(s) published" in pushed.stdout, pushed.stderr
        assert chain.wait_for(lambda: running_hash(home) == big.sha256()[:12], 60), kiosk.tail()
        assert "can-bo-40" in (home / "kiosk.yaml").read_text(encoding="utf-8")
        row = applied(root)["row"]
        assert chain.wait_for(lambda: re.search(rf"{big.sha256()[:12]}\s+{big.sha256()[:12]}\s+yes",
                                                applied(root)["row"]), 60), row

        # 2. a technician PIN file no enrolment delivered: refused by check and by push, nothing published
        device_file.write_text(device_file.read_text(encoding="utf-8")
                               + "technician: {pin: {file: technician.pin}}\n", encoding="utf-8")
        checked = cli("fleet", "check", str(root), module="config")
        assert checked.returncode == 1
        assert (f"devices/{SITE}/{DEVICE}.yaml:2: technician.pin.file: technician.pin: thiết bị không có tệp này / "
                "the kiosk has no such file") in checked.stderr
        refused = cli("fleet", "push", str(root))
        assert refused.returncode == 1 and "nothing pushed" in refused.stderr
        assert "the kiosk has no such file" in refused.stderr

        # ... and a kiosk sent one anyway (the province said it installs that file, but did not) refuses it,
        # says so in its status, and keeps running the config it had
        (root / "push.yaml").write_text(push_yaml + "device_files: [technician.pin]\n", encoding="utf-8")
        wrong = layers.merge_device(root, SITE, DEVICE).sha256()[:12]
        assert cli("fleet", "push", str(root)).returncode == 0
        assert chain.wait_for(lambda: "missing_file: technician.pin.file: technician.pin: file not found"
                              in applied(root)["row"], 60), (applied(root)["out"], kiosk.tail())
        assert running_hash(home) == big.sha256()[:12] != wrong
        assert kiosk.running()

        # 3. a broker folder written before 64 KiB configs: the push says the config is too large
        broker.stop()
        conf = bdir / "mosquitto.conf"
        conf.write_text(conf.read_text().replace("message_size_limit 65536", "message_size_limit 8192"))
        broker.start()
        (root / "push.yaml").write_text(push_yaml, encoding="utf-8")
        device_file.write_text(f"broker: {{username: {USER}, password: {{file: {USER}.pass}}}}\n"
                               "followup: {ask_at_or_below: 1}\n", encoding="utf-8")
        too_large = cli("fleet", "push", str(root))
        assert too_large.returncode == 1, too_large.stdout
        assert "quá lớn đối với máy chủ MQTT / too large for this broker" in too_large.stderr
        assert "allowed to publish" not in too_large.stderr
        assert running_hash(home) == big.sha256()[:12]
    finally:
        kiosk.stop()
        broker.stop()

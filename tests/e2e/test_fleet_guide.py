"""The province technician's fleet guide (docs/fleet.md), command by command, as printed.

The guide's shell blocks are read out of docs/fleet.md and run in order with the documented folders moved
into a temporary one (/etc/hailong-fleet, /etc/hailong-broker, /etc/hailong, fleet/); the fleet folder
is the shipped example (config/examples/fleet) with its broker address turned to the test's broker, as a
province copies it and fills in its own. Against a real Mosquitto with TLS and per-device accounts: the
keys and the fleet account are made, every counter is checked against the broker accounts and the
collector's hierarchy, a dry run publishes nothing, the push reaches the broker retained, and `fleet
status` lists the counters with the config the fleet wants for them.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e import chain
from tests.e2e.test_secure_chain import init_tls_broker
from tests.servers import Mosquitto

pytestmark = pytest.mark.mosquitto
ROOT = chain.ROOT
SITE = "ubnd-xa-tan-lap"


def guide_commands(doc: Path) -> list[str]:
    """Every command of the ```sh blocks, in order, continuation lines joined and comments cut."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                commands.append(" ".join(line.split()))
    return commands


def test_the_fleet_guide_runs_as_printed(tmp_path):
    commands = guide_commands(ROOT / "docs" / "fleet.md")
    province = [c for c in commands if c.startswith("python -m ")]  # the province's side (not the clerk's)
    expected = ["python -m broker fleet keygen --dir /etc/hailong-fleet",
                "python -m broker add-fleet tinh --dir /etc/hailong-broker",
                "python -m config fleet check fleet/",
                "python -m config fleet show fleet/ ubnd-xa-tan-lap quay-01",
                "python -m config fleet check fleet/ --broker-dir /etc/hailong-broker --collector /etc/hailong/collector.yaml",
                "python -m broker fleet push fleet/ --dry-run",
                "python -m broker fleet push fleet/ --site ubnd-xa-tan-lap",
                "python -m broker fleet status --settings fleet/push.yaml --fleet fleet/"]
    assert [c for c in province if "add-device" not in c] == expected, province
    add_device = next(c for c in province if "add-device" in c)

    bdir, tls_port = init_tls_broker(tmp_path)  # /etc/hailong-broker, made as docs/broker.md says
    folders = {"/etc/hailong-fleet": tmp_path / "keys", "/etc/hailong-broker": bdir, "/etc/hailong": tmp_path / "etc"}
    (tmp_path / "etc").mkdir()
    shutil.copy(ROOT / "config" / "examples" / "collector.yaml", tmp_path / "etc" / "collector.yaml")

    # `python` is the install's (the venv's), as after `source .venv/bin/activate` or on the documented install
    env = {**chain._env(), "PATH": f"{Path(chain.PY).parent}:{chain._env().get('PATH', '/usr/bin:/bin')}"}

    def run(command: str, *extra: str) -> subprocess.CompletedProcess:
        for doc_path, here in folders.items():
            command = re.sub(re.escape(doc_path) + r"(?=[/ ]|$)", str(here), command)
        done = subprocess.run(["bash", "-c", command + "".join(f" {e}" for e in extra)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env=env)
        return done

    keygen, add_fleet = run(expected[0]), run(expected[1])
    assert keygen.returncode == 0 and add_fleet.returncode == 0, keygen.stderr + add_fleet.stderr
    assert (tmp_path / "keys" / "fleet.key").exists() and (tmp_path / "keys" / "fleet.pub").exists()
    # the province's fleet folder: the shipped example, its broker turned to this broker, push.yaml's
    # broker block the one add-fleet printed
    fleet = tmp_path / "fleet"
    shutil.copytree(ROOT / "config" / "examples" / "fleet", fleet)
    defaults = (fleet / "defaults.yaml").read_text(encoding="utf-8")
    (fleet / "defaults.yaml").write_text(defaults.replace("host: mqtt.tinh.example", "host: 127.0.0.1")
                                         .replace("port: 8883", f"port: {tls_port}"), encoding="utf-8")
    block = yaml.safe_load("\n".join(line for line in add_fleet.stdout.splitlines() if not line.startswith("#")))
    block["broker"]["tls"]["ca"] = str(bdir / "certs" / "ca.crt")
    block["broker"]["password"] = {"file": str(bdir / "secrets" / "fleet-tinh.pass")}
    push = yaml.safe_load((fleet / "push.yaml").read_text(encoding="utf-8"))
    push.update(key=str(tmp_path / "keys" / "fleet.key"), broker=block["broker"])
    (fleet / "push.yaml").write_text(yaml.safe_dump(push, allow_unicode=True), encoding="utf-8")

    # before the counters have broker accounts, the three-place check says so
    missing = run(expected[4])
    assert missing.returncode == 1 and "quay-01" in missing.stdout + missing.stderr, missing.stdout + missing.stderr
    for device in ("quay-01", "quay-02"):
        made = run(add_device.replace("quay-01", device).replace("quay-01.tar", f"{device}.tar"))
        assert made.returncode == 0, made.stderr
    assert (tmp_path / "quay-02.tar").exists()
    for command in expected[2:5]:
        done = run(command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    shown = run(expected[3]).stdout
    assert "site: ubnd-xa-tan-lap" in shown and "device: quay-01" in shown and "service: ho-tich" in shown

    assert run("python -m broker add-collector guide --dir /etc/hailong-broker").returncode == 0

    def retained_configs() -> list[str]:
        """What the broker retains on config topics, as a collector account reads it."""
        out = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(tls_port), "--cafile",
                              str(bdir / "certs" / "ca.crt"), "-u", "collector-guide", "-P",
                              (bdir / "secrets" / "collector-guide.pass").read_text().strip(),
                              "-t", "hailong/v1/+/+/config", "--retained-only", "-W", "2", "-v"],
                             capture_output=True, text=True, timeout=30)
        return sorted(line.split(" ", 1)[0] for line in out.stdout.splitlines() if line.strip())

    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    try:
        dry = run(expected[5])
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert retained_configs() == []  # the dry run published nothing
        pushed = run(expected[6])
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert retained_configs() == [f"hailong/v1/{SITE}/quay-01/config", f"hailong/v1/{SITE}/quay-02/config"]
        status = run(expected[7])
        assert status.returncode == 0, status.stdout + status.stderr
        for device in ("quay-01", "quay-02"):  # the config the fleet wants, waiting for a kiosk still to come
            row = next(line for line in status.stdout.splitlines() if line.startswith(f"{SITE}/{device}"))
            assert "never seen" in row and re.search(r"\b[0-9a-f]{12}\b", row), status.stdout
    finally:
        broker.stop()

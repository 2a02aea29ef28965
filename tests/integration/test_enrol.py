"""Enrolment in one step: a bundle from `broker add-device --enrol-bundle`, `kiosk enrol` on a clean
folder, and a rating tapped there arrives through the generated Mosquitto set-up (TLS, dynamic security)."""
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kiosk.enrol import BundleError, read_bundle
from tests.e2e import chain
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.mosquitto
ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=chain._env())


def test_a_kiosk_enrolled_from_a_bundle_delivers_its_first_rating(tmp_path):
    bdir = tmp_path / "broker"
    (tmp_path / "broker.yaml").write_text("kind: broker\nhostnames: [127.0.0.1, localhost]\n"
                                          "listeners:\n  tls: {bind: 127.0.0.1}\n")
    tls_port = free_port()
    assert run("broker", "init", "--dir", str(bdir), "--config", str(tmp_path / "broker.yaml"),
               "--tls-port", str(tls_port)).returncode == 0
    assert run("broker", "fleet", "keygen", "--dir", str(tmp_path / "fleet-keys")).returncode == 0
    bundle = tmp_path / "usb" / "quay-1.tar"
    made = run("broker", "add-device", "xa-a", "quay-1", "--dir", str(bdir), "--enrol-bundle", str(bundle),
               "--fleet-pub", str(tmp_path / "fleet-keys" / "fleet.pub"))
    assert made.returncode == 0, made.stderr
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"
    collector_block = run("broker", "add-collector", "main", "--dir", str(bdir)).stdout
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    device = tmp_path / "device" / "etc-hailong"  # a clean folder on the kiosk
    try:
        enrolled = run("kiosk", "enrol", str(bundle), "--dir", str(device))
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        assert "broker 127.0.0.1" in enrolled.stdout and ": connected" in enrolled.stdout
        assert oct((device / "xa-a--quay-1.pass").stat().st_mode & 0o777) == "0o600"
        assert (device / "fleet.pub").exists() and "public_key: fleet.pub" in (device / "kiosk.yaml").read_text()
        # a collector with its own account, then one tap on the enrolled kiosk
        for f in ("certs/ca.crt", "secrets/collector-main.pass"):
            (tmp_path / Path(f).name).write_bytes((bdir / f).read_bytes())
        db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
        block = "\n".join(line for line in collector_block.splitlines() if not line.startswith("#"))
        (tmp_path / "collector.yaml").write_text(f"kind: collector\n{block}\ndatabase: {{url: '{db_url}'}}\n")
        collector = chain.Proc("collector", [chain.PY, "-m", "collector", "run", "--config",
                                             str(tmp_path / "collector.yaml")], tmp_path).start()
        try:
            assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 30), collector.tail()
            tap = run("kiosk", "simulate", "--config", str(device / "kiosk.yaml"), "--outbox",
                      str(tmp_path / "outbox.db"), "--count", "1", "--rate", "0", cwd=tmp_path)
            assert tap.returncode == 0, tap.stdout + tap.stderr
            assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) == 1, 30), collector.tail()
        finally:
            collector.stop()
        # enrolling again keeps the kiosk.yaml it replaces
        again = run("kiosk", "enrol", str(bundle), "--dir", str(device), "--no-connect")
        assert again.returncode == 0 and (device / "kiosk.yaml.before-enrol").exists()
    finally:
        broker.stop()


def _tar(tmp_path: Path, entries: dict) -> Path:
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/shadow"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("entries,why", [
    ({"../kiosk.yaml": b"x", "identity.json": b"{}"}, "unexpected entry"),
    ({"kiosk.yaml": None, "identity.json": b"{}"}, "unexpected entry"),
    ({"etc/passwd": b"x"}, "unexpected entry"),
    ({"identity.json": b"{}"}, "kiosk.yaml is missing"),
])
def test_a_bundle_with_anything_unexpected_is_refused(tmp_path, entries, why):
    with pytest.raises(BundleError, match=why):
        read_bundle(_tar(tmp_path, entries))
    res = run("kiosk", "enrol", str(_tar(tmp_path, entries)), "--dir", str(tmp_path / "out"))
    assert res.returncode == 1 and why in res.stderr and not (tmp_path / "out").exists()

"""Enrolment in one step: a bundle from `broker add-device --enrol-bundle`, or the QR code from
`--enrol-qr` read back from its image by a real decoder (zbarimg), `kiosk enrol` on a clean folder, and
a rating tapped there arrives through the generated Mosquitto set-up (TLS, dynamic security)."""
import base64
import io
import json
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from kiosk.enrol import BundleError, read_bundle, read_qr_text
from tests.e2e import chain
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.mosquitto
ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    if args[:2] == ("kiosk", "enrol"):  # these tests run as root, with no kiosk service user (see test_clerk_guide)
        args = (*args, "--user", "root")
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=chain._env())


def scan(image: Path) -> str:
    """What a scanner reads from the QR code's image."""
    out = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"zbarimg could not read {image}: {out.stderr}"
    return out.stdout


def test_kiosks_enrolled_from_a_bundle_and_from_a_qr_code_deliver_their_first_ratings(tmp_path):
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
    # the second counter gets a QR code instead (an image and a printable page of the same code)
    qr = tmp_path / "print" / "quay-2.png"
    made = run("broker", "add-device", "xa-a", "quay-2", "--dir", str(bdir), "--enrol-qr", str(qr),
               "--enrol-qr", str(qr.with_suffix(".html")), "--fleet-pub", str(tmp_path / "fleet-keys" / "fleet.pub"))
    assert made.returncode == 0, made.stderr
    page = qr.with_suffix(".html").read_text(encoding="utf-8")
    assert "<svg" in page and "quay-2" in page and "mật khẩu" in page
    assert oct(qr.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "scanned.txt").write_text(scan(qr), encoding="utf-8")  # a phone's scan, saved as text
    collector_block = run("broker", "add-collector", "main", "--dir", str(bdir)).stdout
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    device = tmp_path / "device" / "etc-hailong"  # a clean folder on the kiosk
    try:
        enrolled = run("kiosk", "enrol", str(bundle), "--dir", str(device))
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        assert "broker 127.0.0.1" in enrolled.stdout and ": connected" in enrolled.stdout
        assert oct((device / "xa-a--quay-1.pass").stat().st_mode & 0o777) == "0o600"
        assert (device / "fleet.pub").exists() and "public_key: fleet.pub" in (device / "kiosk.yaml").read_text()
        tablet = tmp_path / "tablet" / "etc-hailong"
        enrolled = run("kiosk", "enrol", str(tmp_path / "scanned.txt"), "--dir", str(tablet))
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        assert ": connected" in enrolled.stdout
        assert (tablet / "ca.crt").read_bytes() == (bdir / "certs" / "ca.crt").read_bytes()
        assert oct((tablet / "xa-a--quay-2.pass").stat().st_mode & 0o777) == "0o600"
        # the same text piped in, as a scanner app or zbarimg would, in any case and wrapped
        text = (tmp_path / "scanned.txt").read_text().strip().lower()
        piped = subprocess.run([sys.executable, "-m", "kiosk", "enrol", "-", "--dir", str(tmp_path / "piped"),
                                "--no-connect", "--user", "root"], input="\n".join(text[i:i + 60] for i in range(0, len(text), 60)),
                               cwd=ROOT, capture_output=True, text=True, timeout=60, env=chain._env())
        assert piped.returncode == 0, piped.stderr
        assert (tmp_path / "piped" / "kiosk.yaml").read_text() == (tablet / "kiosk.yaml").read_text()
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
            for n, folder in enumerate((device, tablet)):
                tap = run("kiosk", "simulate", "--config", str(folder / "kiosk.yaml"), "--outbox",
                          str(tmp_path / f"outbox-{n}.db"), "--count", "1", "--rate", "0", cwd=tmp_path)
                assert tap.returncode == 0, tap.stdout + tap.stderr
            assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) == 2, 30), collector.tail()
            from collector.storage.db import connect

            db = connect(db_url)
            try:
                assert sorted(r[0] for r in db.query("SELECT device FROM ratings")) == ["quay-1", "quay-2"]
            finally:
                db.close()
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


def test_a_qr_code_too_small_for_the_ca_carries_its_fingerprint_and_takes_only_that_ca(tmp_path):
    """A CA too large for a printable code: the code names it by SHA-256; the kiosk takes the CA file the
    technician gives only if it matches, downloads nothing, and then connects."""
    from broker import setup
    from broker.enrol import ca_fingerprint, make_qr

    bdir, tls_port = tmp_path / "broker", free_port()
    (tmp_path / "broker.yaml").write_text("kind: broker\nhostnames: [127.0.0.1, localhost]\n"
                                          "listeners:\n  tls: {bind: 127.0.0.1}\n")
    assert run("broker", "init", "--dir", str(bdir), "--config", str(tmp_path / "broker.yaml"),
               "--tls-port", str(tls_port)).returncode == 0
    assert run("broker", "init", "--dir", str(tmp_path / "other"), "--config", str(tmp_path / "broker.yaml"),
               "--tls-port", str(free_port())).returncode == 0  # another province's CA
    issued = setup.add_device(bdir, "xa-a", "quay-9", False)
    qr, with_ca = make_qr(bdir, "xa-a", "quay-9", issued, tmp_path / "quay-9.png", max_version=18)
    assert not with_ca
    (tmp_path / "scanned.txt").write_text(scan(qr), encoding="utf-8")
    ca = bdir / "certs" / "ca.crt"
    device = tmp_path / "device"
    missing = run("kiosk", "enrol", str(tmp_path / "scanned.txt"), "--dir", str(device))
    assert missing.returncode == 1 and ca_fingerprint(ca.read_bytes()) in missing.stderr and "--ca" in missing.stderr
    assert not (device / "kiosk.yaml").exists()
    wrong = run("kiosk", "enrol", str(tmp_path / "scanned.txt"), "--dir", str(device), "--ca",
                str(tmp_path / "other" / "certs" / "ca.crt"))
    assert wrong.returncode == 1 and "not the CA the QR code names" in wrong.stderr
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    try:
        right = run("kiosk", "enrol", str(tmp_path / "scanned.txt"), "--dir", str(device), "--ca", str(ca))
        assert right.returncode == 0 and ": connected" in right.stdout, right.stdout + right.stderr
        assert (device / "ca.crt").read_bytes() == ca.read_bytes()
    finally:
        broker.stop()


def _qr(body: dict) -> str:
    packed = zlib.compress(json.dumps(body).encode())
    return "HLK1:" + base64.b32encode(packed).decode().rstrip("=")


@pytest.mark.parametrize("text,why", [
    (_qr({"f": {"../kiosk.yaml": "x", "identity.json": "{}"}}), "unexpected entry"),
    (_qr({"f": {"identity.json": "{}"}}), "kiosk.yaml is missing"),
    (_qr({"f": {"kiosk.yaml": "x", "identity.json": "{}"}})[:-9], "damaged or incomplete"),
    ("https://example.com/kiosk", "not the text of an enrolment QR code"),
])
def test_a_qr_text_with_anything_unexpected_is_refused(tmp_path, text, why):
    with pytest.raises(BundleError, match=why):
        read_qr_text(text)
    (tmp_path / "scan.txt").write_text(text)
    res = run("kiosk", "enrol", str(tmp_path / "scan.txt"), "--dir", str(tmp_path / "out"))
    said = "neither an enrolment bundle (.tar) nor the text" if text.startswith("https") else why
    assert res.returncode == 1 and said in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()

"""The clerk's enrolment, end to end, with the pictures of docs/enrol.md: the province prints the
enrolment QR page (`broker add-device --enrol-qr`), a scan of it (zbarimg) enrols a clean kiosk folder
(`kiosk enrol`), and the real kiosk window under Xvfb connects through the generated broker set-up (TLS,
dynamic security), takes the province's pushed config, restarts once by itself and shows the broker
connected in its technician view."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e import chain
from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block
from tests.servers import CHROMIUM_ARGS, Mosquitto

pytestmark = [pytest.mark.ui, pytest.mark.window, pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "enrolled_driver.py"
SITE, DEVICE = "ubnd-xa-tan-lap", "quay-01"
PIN = "482916"


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=chain._env(), **kw)


def print_page(page: Path, png: Path) -> None:
    """The printable page as Chromium renders it (A4 at 96 dpi)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 794, "height": 1123})
        tab.goto(page.as_uri())
        tab.screenshot(path=str(png), full_page=True)
        browser.close()


def test_a_kiosk_enrolled_from_the_printed_qr_code_shows_it_is_connected(tmp_path, artifacts, doc_image):
    bdir, tls_port = init_tls_broker(tmp_path)
    broker_cli("fleet", "keygen", "--dir", str(tmp_path / "keys"))
    fleet_block = yaml_block(broker_cli("add-fleet", "tinh", "--dir", str(bdir)))
    qr = tmp_path / "print" / f"{DEVICE}.png"
    made = run("broker", "add-device", SITE, DEVICE, "--dir", str(bdir), "--enrol-qr", str(qr),
               "--enrol-qr", str(qr.with_suffix(".html")), "--fleet-pub", str(tmp_path / "keys" / "fleet.pub"))
    assert made.returncode == 0, made.stderr

    # the province's fleet folder: the technician PIN comes from the kiosk's own environment file
    user = f"{SITE}--{DEVICE}"
    root = tmp_path / "fleet"
    (root / "devices" / SITE).mkdir(parents=True)
    (root / "defaults.yaml").write_text(
        f"broker: {{host: 127.0.0.1, port: {tls_port}, tls: {{ca: ca.crt}}}}\n"
        "fleet: {public_key: fleet.pub}\n"
        "technician: {pin: {env: HAILONG_TECH_PIN}}\n"
        "followup:\n  reasons:\n    - {key: waiting, texts: {vi: 'Chờ đợi lâu', en: 'Long waiting time'}}\n",
        encoding="utf-8")
    (root / "devices" / SITE / f"{DEVICE}.yaml").write_text(
        f"broker: {{username: {user}, password: {{file: {user}.pass}}}}\n", encoding="utf-8")
    for f in ("certs/ca.crt", "secrets/fleet-tinh.pass"):
        (tmp_path / Path(f).name).write_bytes((bdir / f).read_bytes())
    (root / "push.yaml").write_text(f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\n"
                                    + fleet_block.replace("ca.crt", str(tmp_path / "ca.crt"))
                                    .replace("fleet-tinh.pass", str(tmp_path / "fleet-tinh.pass")), encoding="utf-8")

    device = Path(tempfile.mkdtemp(prefix="kiosk-")) / "etc" / "hailong"  # a clean folder; a short path to show
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    try:
        pushed = run("broker", "fleet", "push", str(root))  # waits, retained, for the kiosk
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr

        # at the counter: a scan of the printed code, saved as text, enrols a clean folder
        scanned = subprocess.run(["zbarimg", "--raw", "-q", str(qr)], capture_output=True, text=True, timeout=30)
        assert scanned.returncode == 0 and scanned.stdout.startswith("HLK1:"), scanned.stderr
        (tmp_path / "ma-dang-ky.txt").write_text(scanned.stdout, encoding="utf-8")
        enrolled = run("kiosk", "enrol", str(tmp_path / "ma-dang-ky.txt"), "--dir", str(device), "--user", "root")
        assert enrolled.returncode == 0 and ": connected" in enrolled.stdout, enrolled.stdout + enrolled.stderr
        assert not (device / "kiosk.yaml").read_text(encoding="utf-8").count("technician")

        prefix = tmp_path / "result"
        out = subprocess.run([sys.executable, str(DRIVER), str(device / "kiosk.yaml"), str(tmp_path / "outbox.db"),
                              str(artifacts), str(prefix)], cwd=device, capture_output=True, text=True, timeout=90,
                             env={**chain._env(), "HAILONG_TECH_PIN": PIN})
        results = [json.loads(Path(f"{prefix}-{n}.json").read_text(encoding="utf-8"))
                   for n in (1, 2) if Path(f"{prefix}-{n}.json").exists()]
        assert out.returncode == 0 and len(results) == 2, out.stdout[-3000:] + out.stderr[-3000:]
        one, two = results
        assert not one["errors"] and not two["errors"], one["errors"] + two["errors"]
        # the enrolled config connected; the province's config arrived, was applied and is confirmed
        assert one["connected_on_enrolled_config"] and one["restarting"] and not one["technician"]
        assert two["technician"] and two["pending"] is None
        assert len(two.get("missed_holds", [])) < 3, two["missed_holds"]  # the technician view opened
        info = two["tech_info"]
        assert f"Điểm / Site: {SITE}    Thiết bị / Device: {DEVICE}" in info
        assert f"Máy chủ / Broker: 127.0.0.1:{tls_port}" in info and "đã kết nối / connected[/color]" in info
        assert "HAILONG_TECH_PIN" in (device / "kiosk.yaml").read_text(encoding="utf-8")
    finally:
        broker.stop()
        shutil.rmtree(device.parent.parent, ignore_errors=True)

    print_page(qr.with_suffix(".html"), artifacts / "enrol-qr-page.png")
    for name in ("enrol-qr-page", "enrol-technician"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
        doc_image(artifacts / f"{name}.png", f"{name}.png")
    (artifacts / "enrol-output.txt").write_text(made.stderr + enrolled.stdout, encoding="utf-8")

"""The clerk's guide (docs/enrol.md) run as its reader runs it, then the kiosk's first day.

The province makes the USB stick with the commands of the guide's "At the province" part; the service
user is made by the Pi guide's own `useradd` line; the clerk's command is read out of docs/enrol.md and
run as printed (as root, as `sudo` gives it), with the documented install's paths moved into a temporary
folder and the plugged-in stick standing at --media. Then, as the `kiosk` user the service runs as, the
files are checked with the kernel's own answer (runuser). Last, the enrolled kiosk takes the province's
pushed config and taps ratings: every one reaches the database, and the manager's audit agrees with the
kiosk's own numbering (a new kiosk once showed "missing 1-3" after its first push).
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e import chain
from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block
from tests.servers import Mosquitto

pytestmark = pytest.mark.mosquitto
ROOT = chain.ROOT
SITE, DEVICE = "ubnd-xa-tan-lap", "quay-01"
PIN = "482916"


def guide_block(doc: Path, after: str) -> str:
    """The first ```sh block of ``doc`` after the line containing ``after``."""
    text = doc.read_text(encoding="utf-8")
    m = re.search(r"```sh\n(.*?)```", text[text.index(after):], re.S)
    return m.group(1).strip()


def sh(command: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def world():
    """A folder every user may enter (pytest's own is root's alone), and the service user of the Pi guide."""
    if os.geteuid() != 0:
        pytest.skip("the guide's commands run as root (sudo) and as the kiosk user: run the suite as root")
    base = Path(tempfile.mkdtemp(prefix="clerk-"))
    base.chmod(0o755)
    home = base / "var" / "lib" / "hailong-kiosk"
    home.parent.mkdir(parents=True)
    made_user = False
    try:
        pwd.getpwnam("kiosk")
    except KeyError:
        useradd = next(line for line in guide_block(ROOT / "docs" / "kiosk-raspberry-pi.md", "## 2.").splitlines()
                       if "useradd" in line)
        done = sh(useradd.replace("sudo ", "").replace("/var/lib/hailong-kiosk", str(home)))
        assert done.returncode == 0, done.stderr
        made_user = True
    if not home.exists():  # the user was there before this test: give it this home for the outbox
        home.mkdir()
        shutil.chown(home, "kiosk", "kiosk")
    try:
        yield base, home
    finally:
        if made_user:
            subprocess.run(["userdel", "kiosk"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def terminal_picture(text: str, png: Path) -> None:
    """What the clerk sees in the terminal, as a picture for docs/enrol.md (Chromium renders it)."""
    import html

    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM_ARGS

    page = ("<!doctype html><meta charset=utf-8><body style='margin:0;background:#1e1e1e'>"
            "<pre style='margin:0;padding:14px;color:#e6e6e6;font:15px/1.45 \"DejaVu Sans Mono\",monospace;"
            f"white-space:pre-wrap;width:900px'>{html.escape(text)}</pre>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 930, "height": 200})
        tab.set_content(page)
        tab.screenshot(path=str(png), full_page=True)
        browser.close()


def test_the_clerk_enrols_from_the_usb_stick_as_the_guide_says_and_the_first_day_is_complete(world, artifacts,
                                                                                               doc_image):
    base, home = world
    province = base / "province"
    province.mkdir()
    bdir, tls_port = init_tls_broker(province)
    broker_cli("fleet", "keygen", "--dir", str(province / "keys"))
    fleet_block = yaml_block(broker_cli("add-fleet", "tinh", "--dir", str(bdir)))
    collector_issued = broker_cli("add-collector", "main", "--dir", str(bdir))
    # the province's PIN key and the technician PIN's hash (the guide's "At the province")
    assert subprocess.run([sys.executable, "-m", "config", "pin-key", "--out", str(province / "pin.key")],
                          cwd=ROOT, capture_output=True, timeout=30).returncode == 0
    hashed = subprocess.run([sys.executable, "-m", "config", "hash-pin", "--stdin", "--key", str(province / "pin.key")],
                            cwd=ROOT, input=PIN + "\n", capture_output=True, text=True, timeout=60)
    assert hashed.returncode == 0, hashed.stderr
    pin_hash = hashed.stdout.strip().splitlines()[-1]
    stick = base / "media" / "USB DISK"
    stick.mkdir(parents=True)
    made = subprocess.run(
        [sys.executable, "-m", "broker", "add-device", SITE, DEVICE, "--dir", str(bdir),
         "--fleet-pub", str(province / "keys" / "fleet.pub"), "--tech-pin-hash", pin_hash,
         "--pin-key", str(province / "pin.key"), "--outbox", str(home / "outbox.db"),
         "--enrol-bundle", str(stick / "quay-01.tar")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    code = re.search(r"province code / mã tỉnh: ([0-9A-F-]{19})", made.stderr).group(1)  # sent by letter
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()  # the province's, up
    try:
        _at_the_counter(base, home, province, bdir, tls_port, stick, code, pin_hash, fleet_block, collector_issued,
                        artifacts, doc_image)
    finally:
        broker.stop()


def _at_the_counter(base, home, province, bdir, tls_port, stick, code, pin_hash, fleet_block, collector_issued,
                    artifacts, doc_image) -> None:
    """The clerk's steps, then the kiosk's first day, with the province's broker up."""
    # ---- at the counter: the guide's command, as printed
    printed = guide_block(ROOT / "docs" / "enrol.md", "**Tại quầy")
    assert printed == "sudo hailong-kiosk enrol --dir /etc/hailong", printed
    etc = base / "etc" / "hailong"
    etc.parent.mkdir()
    command = (printed.replace("sudo ", "" if shutil.which("sudo") is None else "sudo ", 1)
               .replace("/etc/hailong", str(etc)) + f" --media '{stick.parent}'")
    env = {**chain._env(), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}  # the Pi guide's ln -s
    enrolled = sh(command, env=env, cwd=base)
    out = enrolled.stdout + enrolled.stderr
    assert enrolled.returncode == 0, out
    assert f"dùng tệp / using {stick / 'quay-01.tar'}" in out
    assert f"mã tỉnh / province code: {code}" in out  # what the clerk compares with the province's letter
    assert "người dùng kiosk đọc được cấu hình" in out and ": connected" in out and "sẵn sàng / ready" in out
    shown = out.replace(str(stick), "/media/usb").replace(str(etc), "/etc/hailong")
    terminal_picture(f"$ {printed}\n{shown}", artifacts / "enrol-usb-terminal.png")
    doc_image(artifacts / "enrol-usb-terminal.png", "enrol-usb.png")

    # ---- the kernel's answer, as the service user and as anyone else
    secrets = [etc / f"{SITE}--{DEVICE}.pass", etc / "pin.key"]
    for f in (*secrets, etc / "kiosk.yaml", etc / "ca.crt", etc / "fleet.pub"):
        assert sh(f"runuser -u kiosk -- test -r '{f}'").returncode == 0, f
    assert sh(f"runuser -u kiosk -- test -w '{etc}'").returncode == 0  # a push replaces kiosk.yaml here
    assert sh(f"runuser -u kiosk -- touch '{home / 'probe'}'").returncode == 0  # the outbox's folder
    for f in secrets:
        assert sh(f"runuser -u nobody -- test -r '{f}'").returncode != 0, f"{f} is readable by anyone"
        assert f.stat().st_mode & 0o777 == 0o640
    # the technician PIN of step 5 is on the kiosk as a keyed hash, and opens the view
    from config import load
    from kiosk.duty import pin_checker

    cfg = load(etc / "kiosk.yaml", kind="kiosk")
    assert cfg.technician.pin_hash == pin_hash and PIN not in (etc / "kiosk.yaml").read_text()
    assert pin_checker(cfg.duty)(PIN, cfg.technician.pin_hash) and not pin_checker(cfg.duty)("000000", pin_hash)

    # ---- a substituted stick on an enrolled kiosk (another province's keys) is refused
    other = base / "other"
    other.mkdir()
    obdir, _ = init_tls_broker(other)
    broker_cli("fleet", "keygen", "--dir", str(other / "keys"))
    fake = base / "media2"
    fake.mkdir()
    broker_cli("add-device", SITE, DEVICE, "--dir", str(obdir), "--fleet-pub", str(other / "keys" / "fleet.pub"),
               "--enrol-bundle", str(fake / "quay-01.tar"))
    refused = sh(command.replace(f"--media '{stick.parent}'", f"--media '{fake}'") + " --no-connect", env=env, cwd=base)
    assert refused.returncode == 1 and "--new-province" in refused.stderr, refused.stdout + refused.stderr
    assert cfg == load(etc / "kiosk.yaml", kind="kiosk")

    # ---- the first day: the province's push, then ratings; the audit agrees with the kiosk's numbering
    root = base / "fleet"
    (root / "devices" / SITE).mkdir(parents=True)
    (root / "defaults.yaml").write_text(
        f"broker: {{host: 127.0.0.1, port: {tls_port}, tls: {{ca: ca.crt}}}}\n"
        "fleet: {public_key: fleet.pub}\n"
        f"technician: {{pin_hash: '{pin_hash}'}}\nduty: {{pin_key: {{file: pin.key}}}}\n"
        f"outbox: {{path: {home / 'outbox.db'}}}\n"
        "followup:\n  reasons:\n    - {key: waiting, texts: {vi: 'Chờ đợi lâu', en: 'Long waiting time'}}\n",
        encoding="utf-8")
    user = f"{SITE}--{DEVICE}"
    (root / "devices" / SITE / f"{DEVICE}.yaml").write_text(
        f"broker: {{username: {user}, password: {{file: {user}.pass}}}}\n", encoding="utf-8")
    for f in ("certs/ca.crt", "secrets/fleet-tinh.pass", "secrets/collector-main.pass"):
        shutil.copy(bdir / f, base / Path(f).name)
    (root / "push.yaml").write_text(f"kind: fleet\nkey: {province / 'keys' / 'fleet.key'}\n"
                                    + fleet_block.replace("ca.crt", str(base / "ca.crt"))
                                    .replace("fleet-tinh.pass", str(base / "fleet-tinh.pass")), encoding="utf-8")
    collector = kiosk = None
    try:
        collector, db_url = chain.start_tls_collector(base, yaml_block(collector_issued))
        assert chain.wait_for(lambda: "subscribed" in collector.tail(), 30), collector.tail()
        pushed = subprocess.run([sys.executable, "-m", "broker", "fleet", "push", str(root)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        kiosk = chain.Proc("kiosk", [chain.PY, "-m", "kiosk", "simulate", "--config", str(etc / "kiosk.yaml"),
                                     "--count", "12", "--rate", "2", "--journal", "--stay"], base).start()
        assert chain.wait_for(lambda: "config_applied" in kiosk.tail(), 60), kiosk.tail()
        outbox = home / "outbox.db"
        assert chain.wait_for(lambda: "tapped 12/12" in kiosk.tail(), 60), kiosk.tail()
        made_ids = chain.journal_ids_of(outbox)  # every message the kiosk numbered: ratings and its events

        def stored() -> list[str]:
            return [i for (i,) in chain.query(db_url, "SELECT id FROM ratings UNION ALL SELECT id FROM events")]
        assert chain.wait_for(lambda: sorted(stored()) == sorted(made_ids), 60), (made_ids, stored(), collector.tail())
        assert len(chain.stored_ids(db_url)) == chain.rollup_total(db_url) == 12
        chain.assert_audit_whole(base, db_url, SITE, DEVICE, outbox)  # no "missing 1-3"
    finally:
        for p in (kiosk, collector):
            if p is not None:
                p.stop()

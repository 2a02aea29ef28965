"""The fleet at a glance: a real broker set-up (TLS, one account per kiosk, dynamic-security rights), a
real collector, two simulated kiosks and the real `fleet push`. One kiosk applies the pushed config, one
holds an old fleet key and refuses it, a third was never switched on. The dashboard's devices page (in
Chromium, on a 390 px phone) and `python -m broker fleet status` say the same of each: config applied,
config pushed, whether they match, the refusal and why, state, version, backlog, clock."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.accounts.accounts import Scope
from collector.storage.db import connect
from collector.web.api import device_health
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig
from tests.e2e import chain
from tests.e2e.chain import query as q
from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block
from tests.servers import Mosquitto

SITE = "xa-a"
DEVICES = ("quay-01", "quay-02", "quay-03")  # quay-02 trusts another fleet key; quay-03 is never started
PASSWORD = "mật-khẩu-đúng-1"
PHONE = {"width": 390, "height": 844}
CELLS = """() => [...document.querySelectorAll('main table')[0].querySelectorAll('tbody tr')].map(
  tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))"""
WIDTHS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def by_device(db_url: str, column: str, table: str = "devices") -> dict:
    return dict(q(db_url, f"SELECT device, {column} FROM {table} WHERE site = ?", (SITE,)))


def merged_hash(root: Path, device: str) -> str:
    from config import fleet as layers

    return layers.merge_device(root, SITE, device).sha256()[:12]


def fleet_status(push_yaml: Path, root: Path) -> dict[str, dict[str, str]]:
    """`fleet status` parsed by its header's column positions (values are padded to the column)."""
    out = subprocess.run([sys.executable, "-m", "broker", "fleet", "status", "--settings", str(push_yaml),
                          "--fleet", str(root), "--wait", "2"], cwd=chain.ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    head, *rows = out.stdout.splitlines()[:-1]
    names = ["device", "state", "version", "applied", "desired", "current", "config error", "clock", "backlog",
             "last rating", "fault"]
    starts = [head.index(n if n != "state" else "state ") for n in names] + [None]
    parsed = {}
    for row in rows:
        cols = {n: row[starts[i]:starts[i + 1]].strip() for i, n in enumerate(names)}
        parsed[cols["device"].split("/")[1]] = cols
    return parsed


@pytest.mark.slow
def test_the_devices_page_and_fleet_status_agree_on_a_push_applied_and_one_refused(tmp_path, artifacts):
    bdir, tls_port = init_tls_broker(tmp_path)
    broker_cli("fleet", "keygen", "--dir", str(tmp_path / "keys"))
    broker_cli("fleet", "keygen", "--dir", str(tmp_path / "old-keys"))
    fleet_block = yaml_block(broker_cli("add-fleet", "tinh", "--dir", str(bdir)))
    collector_block = yaml_block(broker_cli("add-collector", "main", "--dir", str(bdir)))
    root = tmp_path / "fleet"
    (root / "devices" / SITE).mkdir(parents=True)
    (root / "defaults.yaml").write_text(
        f"broker: {{host: 127.0.0.1, port: {tls_port}, tls: {{ca: ca.crt}}, keepalive_s: 5}}\n"
        "fleet: {public_key: fleet.pub}\nrepeat_window_s: 0\nstatus_interval_s: 5\noutbox: {path: outbox-k.db}\n"
        "followup:\n  reasons:\n    - {key: waiting, texts: {vi: 'Chờ lâu', en: 'Long wait'}}\n", encoding="utf-8")
    homes = {}
    for device in DEVICES:
        user = f"{SITE}--{device}"
        broker_cli("add-device", SITE, device, "--dir", str(bdir))
        (root / "devices" / SITE / f"{device}.yaml").write_text(
            f"broker: {{username: {user}, password: {{file: {user}.pass}}}}\n", encoding="utf-8")
        home = homes[device] = tmp_path / device
        home.mkdir()
        keys = tmp_path / ("old-keys" if device == "quay-02" else "keys")
        for src in (bdir / "certs" / "ca.crt", bdir / "secrets" / f"{user}.pass", keys / "fleet.pub"):
            (home / src.name).write_bytes(src.read_bytes())
        (home / "kiosk.yaml").write_text(chain.fleet_show(root, SITE, device), encoding="utf-8")
    for f in ("certs/ca.crt", "secrets/collector-main.pass", "secrets/fleet-tinh.pass"):
        (tmp_path / Path(f).name).write_bytes((bdir / f).read_bytes())
    push_yaml = root / "push.yaml"
    push_yaml.write_text(f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\n"
                         + fleet_block.replace("ca.crt", str(tmp_path / "ca.crt"))
                         .replace("fleet-tinh.pass", str(tmp_path / "fleet-tinh.pass")), encoding="utf-8")
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    collector, db_url = chain.start_tls_collector(tmp_path, collector_block)
    kiosks = []
    try:
        assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 30), collector.tail()
        assert "refused" not in collector.tail()  # the collector account may read the retained configs
        for device in DEVICES[:2]:
            kiosks.append(chain.Proc(f"kiosk-{device}", [chain.PY, "-m", "kiosk", "simulate", "--config",
                                                         str(homes[device] / "kiosk.yaml"), "--count", "3",
                                                         "--rate", "2", "--journal", "--stay"], homes[device]).start())
        old = {d: merged_hash(root, d) for d in DEVICES}
        hashes = lambda: by_device(db_url, "config_hash")  # noqa: E731
        assert chain.wait_for(lambda: all(hashes().get(d) == old[d] for d in DEVICES[:2]), 60), hashes()

        # the province changes the reason list and pushes it to the whole fleet
        defaults = root / "defaults.yaml"
        defaults.write_text(defaults.read_text(encoding="utf-8").replace("'Chờ lâu'", "'Phải chờ quá lâu'"),
                            encoding="utf-8")
        assert "3 config(s) published" in broker_cli("fleet", "push", str(root))
        new = {d: merged_hash(root, d) for d in DEVICES}
        assert chain.wait_for(lambda: hashes().get("quay-01") == new["quay-01"], 60), hashes()
        errors = lambda: by_device(db_url, "config_error")  # noqa: E731
        assert chain.wait_for(lambda: "unknown_key" in (errors().get("quay-02") or ""), 60), errors()
        refused = lambda: q(db_url, "SELECT device FROM events WHERE type = 'config_rejected'")  # noqa: E731
        assert chain.wait_for(lambda: refused() == [("quay-02",)], 30), refused()
        desired = lambda: by_device(db_url, "config_hash", "fleet_configs")  # noqa: E731
        assert chain.wait_for(lambda: desired() == new, 15), (desired(), new)  # read from the retained configs
        assert hashes()["quay-02"] == old["quay-02"]  # still running its previous config

        # taps and config events all delivered: the next statuses say the same as the last ones
        depths = lambda: by_device(db_url, "outbox_depth")  # noqa: E731
        assert chain.wait_for(lambda: depths() == {"quay-01": 0, "quay-02": 0}, 30), depths()
        status = fleet_status(push_yaml, root)
        assert (status["quay-01"]["applied"], status["quay-01"]["current"]) == (new["quay-01"], "yes")
        assert (status["quay-02"]["applied"], status["quay-02"]["current"]) == (old["quay-02"], "no")
        assert status["quay-03"]["state"] == "never seen"

        cfg = CollectorConfig.model_validate({"dashboard": {"lang": "en"}})
        db = connect(db_url)
        app = Dashboard(cfg, db, PASSWORD)
        server, url = start_in_thread(app)
        try:
            page_rows, widths = phone_view(url, artifacts)
            api = {d["device"]: d for d in device_health(app, Scope("all"), {})["devices"]}
        finally:
            server.shutdown()
            server.server_close()
            app.close()
            db.close()
        assert widths[0] <= widths[1], f"the page scrolls sideways on a phone: {widths}"
        # the page shows an empty cell as "–"
        page = {cells[1]: [c if c != "–" else "" for c in cells] for cells in page_rows if cells[0] == SITE}
        assert set(page) == set(status) == set(DEVICES)
        for d in DEVICES:
            cells, st = page[d], status[d]
            # site, device, name, state, last seen, last rating, version, applied, desired, current, refused,
            # backlog, waiting for the database, clock, skew, complete, missing
            assert (cells[7], cells[8], cells[9]) == (st["applied"], st["desired"], st["current"]), (d, cells, st)
            assert cells[6] == st["version"] and cells[11] == st["backlog"], (d, cells, st)
            last_rating = datetime.fromisoformat(st["last rating"]).astimezone(ZoneInfo(cfg.timezone)) \
                if st["last rating"] else None
            assert cells[5] == (last_rating.strftime("%Y-%m-%d %H:%M") if last_rating else ""), (d, cells, st)
            assert cells[13] == {"synced": "synced", "unsynced": "not synced", "": ""}[st["clock"]], (d, cells, st)
            # a kiosk heard from says what it keeps for the database (all receipted here: 0)
            assert cells[12] == ("0" if st["state"] != "never seen" else ""), (d, cells, st)
            assert st["config error"] in cells[10], (d, cells, st)
            assert (cells[3] or "").startswith({"online": "online", "offline": "offline",
                                                 "never seen": "never"}[st["state"]]), (d, cells, st)
            assert api[d]["config_hash"] == (st["applied"] or None)
            assert api[d]["desired_config_hash"] == st["desired"] == new[d]
            assert api[d]["config_current"] == {"yes": True, "no": False}[st["current"]]
        assert "unknown_key" in page["quay-02"][10] and page["quay-01"][10] == "" == page["quay-03"][10]
        assert "unknown_key" in api["quay-02"]["config_refused"] and api["quay-01"]["config_refused"] is None
    finally:
        for k in kiosks:
            k.stop()
        collector.stop()
        broker.stop()


def phone_view(url: str, artifacts: Path) -> tuple[list[list[str]], list[int]]:
    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
            page = context.new_page()
            page.goto(url + "/login?next=/devices")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/devices")
            text = page.inner_text("main")
            assert "Recently refused configs" in text and "unknown_key" in text
            assert "not on the pushed config" in page.inner_text("#fleet-summary")
            page.screenshot(path=str(artifacts / "fleet-devices-phone.png"), full_page=True)
            return page.evaluate(CELLS), page.evaluate(WIDTHS)
        finally:
            browser.close()

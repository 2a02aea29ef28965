"""The real kiosk window under Xvfb, on the production broker set-up (TLS, one account per device,
dynamic-security rights), takes a config the province pushes with `python -m broker fleet push`: a new
reason list and an added language. Citizens keep tapping while it arrives and is applied; the kiosk
restarts onto it at a calm moment and shows the new reasons and language, and every rating tapped
before, during and after reaches the collector exactly once."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e import chain
from tests.e2e.chain import query as q
from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block
from tests.servers import Mosquitto

pytestmark = [pytest.mark.ui, pytest.mark.window, pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "fleet_push_driver.py"
SITE, DEVICE = "ubnd-xa-tan-lap", "quay-03"

OLD = """\
fleet: {public_key: fleet.pub, rollback_after_s: 60}
timeouts: {thank_you_s: 1}
repeat_window_s: 0
settle_s: 0
status_interval_s: 5
languages: {default: vi, enabled: [vi, en]}
followup:
  reasons:
    - {key: waiting, texts: {vi: "Chờ đợi lâu", en: "Long waiting time"}}
    - {key: attitude, texts: {vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}
"""
# The province adds the Hmong language for its mountain communes and rewrites the reasons.
NEW = """\
fleet: {public_key: fleet.pub, rollback_after_s: 60}
timeouts: {thank_you_s: 1}
repeat_window_s: 0
settle_s: 0
status_interval_s: 5
languages:
  default: vi
  enabled: [vi, en, hmn]
  custom:
    hmn:
      name: Lus Hmoob
      question: Koj puas txaus siab rau kev pab hnub no?
      faces: {very_unhappy: Tsis txaus siab kiag li, unhappy: Tsis txaus siab, neutral: Nruab nrab,
              happy: Txaus siab, very_happy: Txaus siab heev}
      followup_question: Dab tsi tsis zoo?
      skip: Hla mus
      thanks: Ua tsaug!
followup:
  reasons:
    - {key: waiting, texts: {vi: "Phải chờ quá lâu", en: "Waited far too long", hmn: "Tos ntev heev"}}
    - {key: papers, texts: {vi: "Phải bổ sung giấy tờ nhiều lần", en: "Asked for papers again and again",
                            hmn: "Yuav tsum coj ntawv ntau zaus"}}
"""


def test_a_pushed_reason_list_and_language_show_on_screen_and_no_tap_is_lost(tmp_path, artifacts, doc_image):
    bdir, tls_port = init_tls_broker(tmp_path)
    broker_cli("fleet", "keygen", "--dir", str(tmp_path / "keys"))
    fleet_block = yaml_block(broker_cli("add-fleet", "tinh", "--dir", str(bdir)))
    collector_block = yaml_block(broker_cli("add-collector", "main", "--dir", str(bdir)))
    broker_cli("add-device", SITE, DEVICE, "--dir", str(bdir))
    user = f"{SITE}--{DEVICE}"

    # the province's fleet folder; the kiosk starts on its merged config, as enrolment leaves it
    root = tmp_path / "fleet"
    (root / "devices" / SITE).mkdir(parents=True)
    connection = f"broker: {{host: 127.0.0.1, port: {tls_port}, tls: {{ca: ca.crt}}, keepalive_s: 5}}\n"
    (root / "defaults.yaml").write_text(connection + OLD, encoding="utf-8")
    (root / "devices" / SITE / f"{DEVICE}.yaml").write_text(
        f"broker: {{username: {user}, password: {{file: {user}.pass}}}}\n", encoding="utf-8")
    for f in ("certs/ca.crt", "secrets/collector-main.pass", "secrets/fleet-tinh.pass"):
        (tmp_path / Path(f).name).write_bytes((bdir / f).read_bytes())
    (root / "push.yaml").write_text(f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\n"
                                    + fleet_block.replace("ca.crt", str(tmp_path / "ca.crt"))
                                    .replace("fleet-tinh.pass", str(tmp_path / "fleet-tinh.pass")), encoding="utf-8")
    home = tmp_path / "kiosk"
    home.mkdir()
    for src in (bdir / "certs" / "ca.crt", bdir / "secrets" / f"{user}.pass", tmp_path / "keys" / "fleet.pub"):
        (home / src.name).write_bytes(src.read_bytes())
    (home / "kiosk.yaml").write_text(chain.fleet_show(root, SITE, DEVICE), encoding="utf-8")
    (root / "defaults.yaml").write_text(connection + NEW, encoding="utf-8")  # the change, pushed by the driver

    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    collector, db_url = chain.start_tls_collector(tmp_path, collector_block)
    try:
        assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 30), collector.tail()
        prefix = tmp_path / "result"
        out = subprocess.run([sys.executable, str(DRIVER), str(home / "kiosk.yaml"), str(home / "outbox.db"),
                              str(artifacts), str(prefix), str(root)], cwd=home, capture_output=True, text=True,
                             timeout=120, env=chain._env())
        results = [json.loads(Path(f"{prefix}-{n}.json").read_text(encoding="utf-8"))
                   for n in (1, 2) if Path(f"{prefix}-{n}.json").exists()]
        assert out.returncode == 0 and len(results) == 2, out.stdout[-3000:] + out.stderr[-3000:]
        one, two = results
        assert not one["errors"] and not two["errors"], one["errors"] + two["errors"]
        assert one["push"]["rc"] == 0 and "1 config(s) published" in one["push"]["out"], one["push"]

        # before: the old reasons, two languages
        before = {s["step"]: s for s in one["steps"]}
        assert before["before"]["lang_buttons"] == ["Tiếng Việt", "English"]
        assert "Chờ đợi lâu" in before["before_followup"]["texts"]
        # taps went on while the config arrived and after it was applied, until the calm restart
        assert one["applied_while_tapping"] and one["restarting"] and one["pid"] == two["pid"]
        during = [r for r in one["ratings"] if r["t"] > one["push_started"]]
        assert len(during) >= 4 and sum(r["config_applied"] for r in during) >= 3, one["ratings"]
        assert one["stopped"] - one["last_touch"] >= one["calm_s"] > 0  # it waited for a calm screen
        # after: the new language button and, in it, the new question and reasons
        after = {s["step"]: s for s in two["steps"]}
        assert after["after"]["lang_buttons"] == ["Tiếng Việt", "English", "Lus Hmoob"]
        assert "Koj puas txaus siab rau kev pab hnub no?" in after["after_new_lang"]["texts"]
        assert {"Tos ntev heev", "Yuav tsum coj ntawv ntau zaus"} <= set(after["after_followup"]["texts"])
        assert "Dab tsi tsis zoo?" in after["after_followup"]["texts"]
        assert "Chờ đợi lâu" not in after["after_followup"]["texts"]
        assert two["ratings"][0] == {**two["ratings"][0], "reason": "papers", "lang": "hmn"}
        assert two["depth"] == 0 and two["pending"] is None and two["config_error"] is None

        # every rating tapped, before, during and after, is stored exactly once
        made = [r["id"] for r in one["ratings"] + two["ratings"]]
        assert len(set(made)) == len(made) >= 7

        def stored() -> list[str]:
            return [r[0] for r in q(db_url, "SELECT id FROM ratings")]

        assert chain.wait_for(lambda: len(stored()) >= len(made), 20), (len(stored()), len(made))
        assert sorted(stored()) == sorted(made)
        # The id is the table's key, so also count what it cannot deduplicate: the kiosk numbered every
        # rating and event it kept 1..seq_last (a message stored twice under two ids repeats a number),
        # and the hourly rollup every report reads holds each tap once.
        outbox = sqlite3.connect(home / "outbox.db")
        try:
            seq_last = int(outbox.execute("SELECT value FROM meta WHERE key = 'seq_last'").fetchone()[0])
        finally:
            outbox.close()
        assert seq_last > len(made)  # the ratings and at least the config_applied event
        assert chain.wait_for(lambda: chain.stored_seqs(db_url, SITE, DEVICE) == list(range(1, seq_last + 1)), 20), \
            (seq_last, chain.stored_seqs(db_url, SITE, DEVICE))
        assert chain.rollup_total(db_url) == len(made)
        from config import file_hash

        new_hash = file_hash(home / "kiosk.yaml")
        devices = lambda: q(db_url, "SELECT config_hash FROM devices WHERE device = ?", (DEVICE,))  # noqa: E731
        assert chain.wait_for(lambda: devices() == [(new_hash,)], 20), devices()
        applied = q(db_url, "SELECT config_hash FROM events WHERE type = 'config_applied' AND device = ?", (DEVICE,))
        assert [h for (h,) in applied] == [new_hash]
        assert "Lus Hmoob" in (home / "kiosk.yaml").read_text(encoding="utf-8")
        assert "Chờ đợi lâu" in (home / "kiosk.yaml.previous").read_text(encoding="utf-8")
    finally:
        collector.stop()
        broker.stop()
    doc_image(artifacts / "fleet-after-rating-hmn.png", "fleet-pushed-language.png")

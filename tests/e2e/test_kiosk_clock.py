"""Ratings from a kiosk whose clock is wrong land on the true local day and hour (contract v2).

The kiosk runs under libfaketime with only its wall clock shifted (FAKETIME_DONT_FAKE_MONOTONIC=1),
as a Raspberry Pi without a real-time clock does after a power cut: 3 days behind, at 1970, and
jumping forward mid-run (NTP answering). The collector places each tap from the boot's monotonic
clock, anchored by the kiosk's live status; the stored kiosk ``ts`` stays as evidence. A kiosk that
rebooted while offline has ratings from a boot never seen live: those keep their ``ts`` and are
flagged ``time_unverified``, counted apart in reports and never silently moved.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.storage.db import connect
from tests.e2e import chain
from tests.servers import Mosquitto, free_port

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists() and not shutil.which("faketime"),
                                reason="libfaketime is installed by `make setup` (apt-get install faketime)")


def faked(env_extra: dict) -> dict:
    lib = LIBFAKETIME if LIBFAKETIME.exists() else Path(subprocess.check_output(
        ["sh", "-c", "dpkg -L libfaketime | grep 'libfaketime.so.1$'"], text=True).strip())
    return {"LD_PRELOAD": str(lib), "FAKETIME_DONT_FAKE_MONOTONIC": "1", **env_extra}


def simulate(workdir: Path, kiosk_yaml: Path, count: int, rate: float, env: dict,
             during=None) -> subprocess.CompletedProcess:
    cmd = [chain.PY, "-m", "kiosk", "simulate", "--config", str(kiosk_yaml), "--count", str(count),
           "--rate", str(rate), "--journal"]
    p = subprocess.Popen(cmd, cwd=workdir, env={**chain._env(), **env}, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    if during:
        during()
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    return out


def stored(db_url: str) -> list[dict]:
    db = connect(db_url)
    try:
        rows = db.query("SELECT id, ts_ms, at_ms, time_unverified, boot, clock FROM ratings WHERE site = 'xa-a'")
    finally:
        db.close()
    return [dict(zip(("id", "ts_ms", "at_ms", "unverified", "boot", "clock"), r)) for r in rows]


def report(workdir: Path, collector_yaml: Path, by: str, day: str) -> list[dict]:
    out = subprocess.run([chain.PY, "-m", "collector", "report", "--config", str(collector_yaml), "--since", day,
                          "--until", day, "--by", by, "--format", "json"], cwd=workdir, capture_output=True,
                         text=True, timeout=60, env=chain._env())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["rows"]


@pytest.fixture()
def chain_up(tmp_path, mosquitto):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = chain.start_collector(tmp_path, mosquitto.port, db_url, client_id=f"clock-{tmp_path.name[-8:]}")
    chain.wait_subscribed(mosquitto.port, db_url)
    yield tmp_path, db_url, collector, mosquitto.port
    collector.stop()


@pytest.mark.parametrize("clock", ["3 days behind", "1970", "jumps forward mid-run"])
def test_every_rating_lands_on_the_true_local_day_and_hour(chain_up, clock):
    workdir, db_url, collector, port = chain_up
    kiosk_yaml = chain.kiosk_config(workdir, "xa-a", "quay-1", port)
    stamp_file = workdir / "faketime"
    env = {"3 days behind": {"FAKETIME": "-3d"},
           "1970": {"FAKETIME": "@1970-01-01 00:05:00"},
           "jumps forward mid-run": {"FAKETIME_TIMESTAMP_FILE": str(stamp_file), "FAKETIME_NO_CACHE": "1"}}[clock]
    stamp_file.write_text("-3d\n")

    def ntp_answers():  # halfway through, the kiosk's clock is set right
        time.sleep(2.0)
        stamp_file.write_text("+0\n")

    before = time.time()
    simulate(workdir, kiosk_yaml, 40, 10, faked(env), during=ntp_answers if "jumps" in clock else None)
    created = chain.journal_ids(workdir)
    assert len(created) == 40
    assert chain.wait_for(lambda: len(stored(db_url)) == 40, 30), collector.tail()
    after = time.time()
    rows = stored(db_url)
    assert sorted(r["id"] for r in rows) == sorted(created)  # all of them, once
    # placed on real time: within the run, as seen by the test's own (right) clock
    assert all(before - 2 <= r["at_ms"] / 1000 <= after + 2 for r in rows), [(r["ts_ms"], r["at_ms"]) for r in rows]
    assert not any(r["unverified"] for r in rows)
    wrong = [r for r in rows if abs(r["ts_ms"] / 1000 - r["at_ms"] / 1000) > 3600]
    if clock == "jumps forward mid-run":
        assert 0 < len(wrong) < 40  # the kiosk's ts was wrong before the jump and right after it
    else:
        assert len(wrong) == 40  # the evidence: the kiosk's own ts stays as it was sent
    if clock == "1970":
        assert all(r["ts_ms"] < 86_400_000 for r in rows)
    # the report counts them on today's local date and the hours they were really tapped
    today = datetime.fromtimestamp(after, TZ).strftime("%Y-%m-%d")
    by_day = report(workdir, workdir / f"clock-{workdir.name[-8:]}.yaml", "day", today)
    assert [(r["group"], r["count"]) for r in by_day] == [(today, 40)], by_day
    hours = {datetime.fromtimestamp(t, TZ).hour for t in (before, after)}
    by_hour = report(workdir, workdir / f"clock-{workdir.name[-8:]}.yaml", "hour", today)
    assert sum(r["count"] for r in by_hour) == 40
    assert {int(str(r["group"])[:2]) for r in by_hour if r["count"]} <= hours, by_hour


def test_ratings_from_a_boot_never_seen_live_are_flagged_and_counted_apart(chain_up):
    workdir, db_url, collector, port = chain_up
    kiosk_yaml = chain.kiosk_config(workdir, "xa-a", "quay-1", port)
    offline_yaml = workdir / "kiosk-offline.yaml"  # the same kiosk while its network is down
    offline_yaml.write_text(kiosk_yaml.read_text().replace(f"port: {port}", f"port: {free_port()}"))
    boot_a, boot_b = workdir / "boot-a", workdir / "boot-b"
    boot_a.write_text("0f0e0d0c-0b0a-4000-8000-00000000000a\n")
    boot_b.write_text("0f0e0d0c-0b0a-4000-8000-00000000000b\n")
    # boot A: 10 taps with the clock 3 days behind and no network; then the power is cut
    cmd = [chain.PY, "-m", "kiosk", "simulate", "--config", str(offline_yaml), "--count", "10", "--rate", "20",
           "--journal", "--no-wait"]
    out = subprocess.run(cmd, cwd=workdir, env={**chain._env(), **faked({"FAKETIME": "-3d",
                                                                          "HAILONG_BOOT_ID_FILE": str(boot_a)})},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # boot B, days later: the network is back; 5 more taps, and the backlog of boot A drains
    simulate(workdir, kiosk_yaml, 15, 20, faked({"FAKETIME": "-3d", "HAILONG_BOOT_ID_FILE": str(boot_b)}))
    assert chain.wait_for(lambda: len(stored(db_url)) == 15, 30), collector.tail()
    rows = stored(db_url)
    from_a = [r for r in rows if r["boot"] == boot_a.read_text().strip()]
    from_b = [r for r in rows if r["boot"] == boot_b.read_text().strip()]
    assert (len(from_a), len(from_b)) == (10, 5)
    assert all(r["unverified"] and r["at_ms"] == r["ts_ms"] for r in from_a)  # kept as the kiosk said, flagged
    assert not any(r["unverified"] for r in from_b)
    # counted apart: the report for the kiosk's (wrong) day shows them as unverified, not as figures
    wrong_day = datetime.fromtimestamp(from_a[0]["ts_ms"] / 1000, TZ).strftime("%Y-%m-%d")
    rep = report(workdir, workdir / f"clock-{workdir.name[-8:]}.yaml", "day", wrong_day)
    assert sum(r["time_unverified"] for r in rep) == 10 and sum(r["count"] for r in rep) == 0, rep


def test_a_kiosk_at_1970_opens_tls_and_delivers(tmp_path):
    from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block

    bdir, tls_port = init_tls_broker(tmp_path)
    kiosk_block = yaml_block(broker_cli("add-device", "xa-a", "quay-1", "--dir", str(bdir)))
    collector_block = yaml_block(broker_cli("add-collector", "main", "--dir", str(bdir)))
    for f in ("certs/ca.crt", "secrets/xa-a--quay-1.pass", "secrets/collector-main.pass"):
        shutil.copy(bdir / f, tmp_path)
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector_yaml = tmp_path / "collector.yaml"
    collector_yaml.write_text("kind: collector\n" + collector_block + f"database: {{url: '{db_url}'}}\nlog_interval_s: 2\n")
    kiosk_yaml = tmp_path / "kiosk.yaml"
    kiosk_yaml.write_text("kind: kiosk\nsite: xa-a\ndevice: quay-1\n" + kiosk_block +
                          "outbox: {path: outbox-k.db}\nrepeat_window_s: 0\n")
    collector = chain.Proc("collector", [chain.PY, "-m", "collector", "run", "--config", str(collector_yaml)],
                           tmp_path).start()
    try:
        assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 30), collector.tail()
        before = time.time()
        simulate(tmp_path, kiosk_yaml, 20, 10, faked({"FAKETIME": "@1970-01-01 00:05:00"}))
        assert chain.wait_for(lambda: len(stored(db_url)) == 20, 30), collector.tail()
        rows = stored(db_url)
        assert all(r["ts_ms"] < 86_400_000 and r["at_ms"] / 1000 >= before - 2 for r in rows)
    finally:
        collector.stop()
        broker.stop()

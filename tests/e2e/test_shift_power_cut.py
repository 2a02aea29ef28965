"""A power cut during an officer's shift: the hours count the time worked, not until closing time.

A kiosk process (the real recorder, outbox and uplink, contract v2) signs an officer in, serves for a
while and is killed with -9: no sign-out is ever sent. The officer evaluation must count the shift up
to the kiosk's last sign of life (it used to run to the day's closing time or midnight: 23.21 h for six
minutes of work), and a shift still open now counts up to now."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e import chain
from tests.servers import Mosquitto, free_port

KIOSK = r'''
import os, signal, sys, time
from broker.contract import Rating, new_event_id, utcnow
from config.kiosk import KioskConfig
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder
from kiosk.uplink import Uplink
port, outbox, serve_s = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
cfg = KioskConfig.model_validate({"site": "ubnd-a", "device": "quay-01", "status_interval_s": 5,
                                  "broker": {"host": "127.0.0.1", "port": port, "keepalive_s": 5}})
box = Outbox(outbox)
rec = Recorder(cfg, box)
up = Uplink(cfg, box, wire_v2=True, clock=rec.clock,
            status_extra=lambda: {"officer": "an"}).start()
rec.event("sign_in", officer="an", service="ho-tich")
print("signed-in", time.time(), flush=True)
end = time.monotonic() + serve_s
while time.monotonic() < end:
    rec.rating(Rating(id=new_event_id(), site="ubnd-a", device="quay-01", ts=utcnow(), rating=5, scale=5,
                      lang="vi", officer="an"))
    time.sleep(2)
while box.depth():
    time.sleep(0.1)
print("power-cut", time.time(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''


def evaluation(workdir, day: str) -> dict:
    out = subprocess.run([chain.PY, "-m", "collector", "report", "--config", str(workdir / "e2e-collector.yaml"),
                          "--period", day, "--by", "officer-evaluation", "--format", "json"], cwd=workdir,
                         capture_output=True, text=True, timeout=60, env=chain._env())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_shift_cut_by_a_power_cut_counts_only_the_time_worked(backend, tmp_path, request):
    db_url = (request.getfixturevalue("postgres_server").fresh_database(f"shift_cut_{free_port()}")
              if backend == "postgres" else f"sqlite:///{tmp_path / 'ratings.db'}")
    broker = Mosquitto(tmp_path / "broker").start()
    collector = chain.start_collector(tmp_path, broker.port, db_url)
    try:
        chain.wait_subscribed(broker.port, db_url)
        run = subprocess.run([sys.executable, "-c", KIOSK, str(broker.port), str(tmp_path / "outbox.db"), "12"],
                             capture_output=True, text=True, timeout=120, env=chain._env())
        marks = dict(line.split() for line in run.stdout.splitlines() if line.split()[0] in ("signed-in", "power-cut"))
        worked_s = float(marks["power-cut"]) - float(marks["signed-in"])
        time.sleep(4)  # the broker says the kiosk is gone (its last will) and time goes on without it
        day = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
        sheet = evaluation(tmp_path, day)[0]  # the officers' table (Vietnamese headers), then data quality
        (row,) = [dict(zip(sheet["headers"], r)) for r in sheet["rows"] if r[1] == "an"]
        hours = row["Giờ trực"]
        # to the minute: from the sign-in to the kiosk's last sign of life (its last status or its will)
        assert abs(hours * 3600 - worked_s) < 60, (hours * 3600, worked_s, row)
    finally:
        collector.stop()
        broker.stop()

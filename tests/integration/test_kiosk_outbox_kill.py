"""A kiosk process killed with SIGKILL right after taps loses none of them, and sends each exactly once."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from broker.contract import decode, rating_topic
from kiosk.outbox import Outbox
from tests.integration.test_kiosk_uplink import Subscriber, wait_for

ROOT = Path(__file__).resolve().parents[2]

# Taps through the real flow into the real outbox; prints each id once the thank-you would show.
TAPPER = textwrap.dedent("""
    import sys
    from config import load
    from broker.contract import rating_topic
    from kiosk.flow import Flow
    from kiosk.outbox import Outbox
    cfg = load(sys.argv[1])
    box = Outbox(cfg.outbox.path)
    topic = rating_topic(cfg.site, cfg.device)
    flow = Flow(cfg, lambda r: box.add(r, topic))
    t = 0.0
    while True:
        t += 10
        r = flow.tap_face(4, t)
        print(r.id, flush=True)
        flow.tick(t + 5)
""")


@pytest.mark.mosquitto
def test_sigkill_after_taps_loses_none_and_restart_sends_each_once(mosquitto, tmp_path):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(f"kind: kiosk\nsite: site-k\ndevice: quay-01\n"
                   f"broker: {{host: 127.0.0.1, port: {mosquitto.port}, keepalive_s: 5}}\n"
                   f"outbox: {{path: outbox.db, receipts: false}}\n", encoding="utf-8")  # no collector here
    proc = subprocess.Popen([sys.executable, "-c", TAPPER, str(cfg)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    shown = []
    try:
        while len(shown) < 300:
            line = proc.stdout.readline()
            assert line, "the tapping process died"
            shown.append(line.strip())
        proc.send_signal(signal.SIGKILL)  # right after a tap, mid-stream
    finally:
        proc.kill()
        proc.wait()
    box = Outbox(tmp_path / "outbox.db")
    kept = box.ids()
    box.close()
    assert set(shown) <= set(kept), f"{len(set(shown) - set(kept))} acknowledged taps lost"
    assert len(kept) == len(set(kept))

    # restarted on the same outbox, the kiosk sends what it kept, once each
    sub = Subscriber(mosquitto.port, rating_topic("site-k", "quay-01"), client_id="kill-sub")
    try:
        out = subprocess.run([sys.executable, "-m", "kiosk", "simulate", "--config", str(cfg), "--count", "0"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "outbox 0" in out.stdout
        assert wait_for(lambda: len(sub.messages) >= len(kept), 10)
        time.sleep(0.5)
        arrived = [decode(t, p).id for t, p, _ in sub.messages]
        assert arrived == kept and max(Counter(arrived).values()) == 1
    finally:
        sub.close()

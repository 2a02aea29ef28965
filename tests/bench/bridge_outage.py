"""A commune's bridge to the province cut for minutes, its broker killed meanwhile: nothing lost, nothing doubled.

    .venv/bin/python tests/bench/bridge_outage.py [--cut-s 180] [--count 600] [--rate 5]

The scenario of tests/e2e/bridge_outage.py with a long cut: a real province Mosquitto and collector
(SQLite), a real commune Mosquitto bridged to it through a proxy that cuts the link, and a simulated
kiosk tapping ``--rate`` a second. While the link is cut, the commune broker (holding a backlog it
acknowledged) is killed with -9 and restarted. The commune broker has the health timer of
docs/hailong-broker-health.timer (played every ``--health-every`` seconds): Mosquitto 2.0.11 may come back
from that kill hung, and the timer restarts it. Prints how many ratings were created, stored and counted
twice, how long after the link came back the last one was stored, and how often the timer restarted a
hung broker. The last line is ``RESULT cut_s=... created=... stored=... doubled=... drained_after_link_s=...
hung_broker_restarts=...``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e.bridge_outage import bridged_outage  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cut-s", type=float, default=180, help="how long the bridge link stays cut (default 180)")
    ap.add_argument("--count", type=int, default=600, help="ratings the kiosk taps (default 600)")
    ap.add_argument("--rate", type=float, default=5, help="taps a second (default 5)")
    ap.add_argument("--timeout", type=float, default=600, help="how long to wait for the last rating (default 600)")
    ap.add_argument("--health-every", type=float, default=60, metavar="S",
                    help="play the broker health timer on the commune broker this often; 0: no timer (default 60)")
    args = ap.parse_args()
    if args.cut_s < 1 or args.count < 10 or args.rate <= 0:
        ap.error("--cut-s at least 1, --count at least 10, --rate above 0")
    t0 = time.monotonic()
    print(f"bridge cut for {args.cut_s:.0f} s while a kiosk taps {args.count} at {args.rate}/s ...", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bridge-"))
    got = bridged_outage(tmp, cut_s=args.cut_s, count=args.count, rate=args.rate, timeout=args.timeout,
                         health_every_s=args.health_every or None)
    ok = got["stored"] == got["created"] and got["doubled"] == 0
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept for a look: {tmp} (logs of the kiosk and the collector in {tmp / 'w'})")
    print(f"created {got['created']}, stored {got['stored']}, counted twice {got['doubled']}; the last stored "
          f"{got['drained_after_link_s']} s after the link came back ({time.monotonic() - t0:.0f} s in all); "
          f"the health timer restarted a hung broker {got['hung_broker_restarts']} time(s)")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in got.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

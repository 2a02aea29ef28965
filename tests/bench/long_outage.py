"""Benchmark: a kiosk back after a week offline. A script, not a test.

    .venv/bin/python tests/bench/long_outage.py

The scenario of tests/e2e/test_long_outage.py (which checks that every rating arrives, in order, once):
a simulated kiosk whose outbox holds 50,000 ratings spread over seven days reconnects to a fresh
Mosquitto and a collector on SQLite, while a citizen taps 200 more at 10 a second. It times how long
until the backlog, then everything, is stored, and each live tap from touch to committed rating (flow
and durable outbox commit) while the backlog drains. Targets (DESIGN): a tap p95 <= 50 ms; a
100,000-rating backlog drains in under 10 s. Exits 1 if a rating is missing, duplicated or out of order.
Last line: RESULT backlog=50000 backlog_stored_s=.. all_stored_s=.. tap_p50_ms=.. tap_p95_ms=.. tap_max_ms=..
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e.test_long_outage import BACKLOG, LIVE_TAPS, week_offline  # noqa: E402


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    try:
        run = week_offline(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    created, in_backlog = run["created"], set(run["backlog_ids"])
    ok = (run["taps"] == LIVE_TAPS and len(created) == len(set(created)) == BACKLOG + LIVE_TAPS
          and sorted(run["stored"]) == sorted(created) and run["rollup"] == len(created)
          and [i for i in run["arrivals"] if i in in_backlog] == run["backlog_ids"])
    print(f"bench: {len(run['stored'])} of {len(created)} ratings stored, rollup {run['rollup']}, "
          f"{'in order, each once' if ok else 'NOT ALL, ONCE AND IN ORDER'}")
    print(f"RESULT backlog={BACKLOG} backlog_stored_s={run['backlog_s']:.1f} all_stored_s={run['drain_s']:.1f} "
          f"tap_p50_ms={run['tap_p50_ms']} tap_p95_ms={run['tap_p95_ms']} tap_max_ms={run['tap_max_ms']} "
          f"live_taps={run['taps']}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

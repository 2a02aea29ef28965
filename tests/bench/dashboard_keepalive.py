"""Benchmark: pages on one kept-alive connection, as a browser asks for them. A script, not a test.

    .venv/bin/python tests/bench/dashboard_keepalive.py [--rounds 50]

The dashboard of tests/integration/test_dashboard_attacks.py (a real server on a free loopback port, the
sample ratings with hostile names) answers the login page and the devices page in turn on one connection,
signed in. With Nagle's algorithm on, each answer but the first waited for the client's delayed ACK
(40 ms); the test checks that the server turns it off, this script times what it gives. Target: the
median far below 40 ms (25 ms was the old test's line).
Last line: RESULT keepalive_p50_ms=.. keepalive_p95_ms=.. keepalive_max_ms=.. answers=..
"""
from __future__ import annotations

import argparse
import http.client
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collector.storage import records  # noqa: E402
from collector.storage.db import connect  # noqa: E402
from tests.integration.test_dashboard_attacks import hostile_rows, port_of, serving, session_cookie  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=50, help="login page + devices page, this many times")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-keepalive-"))
    try:
        path = work / "ratings.db"
        db = connect(f"sqlite:///{path}")
        rows = hostile_rows()
        with db.transaction():
            db.executemany(records.INSERT_RATING_SQL, rows)
            records.apply(db, records.increments(rows))
        db.close()
        with serving(path) as (_, url):
            cookie = session_cookie(url)
            conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=30)
            times, ends = [], set()
            for path_ in ["/login", "/devices"] * args.rounds:
                started = time.perf_counter()
                conn.request("GET", path_, headers={"Cookie": f"hl_session={cookie}"} if path_ != "/login" else {})
                resp = conn.getresponse()
                resp.read()
                times.append((time.perf_counter() - started) * 1000)
                if resp.status not in (200, 303):
                    print(f"bench: {path_} answered {resp.status}")
                    return 1
                ends.add(conn.sock.getsockname())
            conn.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    times.sort()
    pct = lambda q: times[min(len(times) - 1, int(len(times) * q / 100))]  # noqa: E731
    print(f"bench: {len(times)} answers on {len(ends)} connection(s)")
    print(f"RESULT keepalive_p50_ms={pct(50):.1f} keepalive_p95_ms={pct(95):.1f} keepalive_max_ms={times[-1]:.1f} "
          f"answers={len(times)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Soak: memory of a collector over 1,000,000 ratings, and of a kiosk over 10,000 taps.

    .venv/bin/python tests/bench/soak.py [--ratings 1000000] [--taps 10000]

Starts its own Mosquitto (free loopback port). Ratings are published with ``mosquitto_pub -l -q 1``
(20,000 per process, 4 processes at a time) into one collector on SQLite; the collector's resident
memory is sampled every 0.2 s. The kiosk part runs ``python -m kiosk simulate`` (the real flow,
outbox and uplink, no window) for the taps and samples it the same way. The last line is
``RESULT ratings=... collector_peak_rss_mb=... collector_rss_first10pct_mb=... stored=... kiosk_taps=...
kiosk_peak_rss_mb=... kiosk_rss_first10pct_mb=...``. It exits 1 when memory kept growing with the stream
(the collector by more than 64 MB after the first tenth, or to 300 MB; the kiosk by more than 20 MB).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.ingest import DEVICE, SITE, make_payloads  # noqa: E402
from tests.e2e import chain  # noqa: E402
from tests.servers import Mosquitto  # noqa: E402

WAVE = 4


def rss_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler:
    """Samples a process's RSS with the progress of the work, to see whether memory keeps growing."""

    def __init__(self, pid: int, progress):
        self.pid, self.progress = pid, progress
        self.samples: list[tuple[float, float]] = []  # (fraction done, MB)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.2):
            mb = rss_mb(self.pid)
            if mb:
                self.samples.append((self.progress(), mb))

    def stop(self):
        self._stop.set()
        self._t.join()

    def peak(self, upto: float = 1.01) -> float:
        return max((mb for f, mb in self.samples if f <= upto), default=0.0)


def soak_collector(work: Path, n: int) -> dict:
    payloads = make_payloads(work, n)
    broker = Mosquitto(work / "broker").start()
    db_url = f"sqlite:///{work / 'soak.db'}"
    collector = chain.start_collector(work, broker.port, db_url, client_id="soak-collector")
    stored = [0]
    try:
        chain.wait_subscribed(broker.port, db_url)
        sampler = Sampler(collector.p.pid, lambda: stored[0] / n)
        exe = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
        t0 = time.monotonic()
        pending = list(payloads)
        running: list[subprocess.Popen] = []
        from collector.storage.db import connect

        db = connect(db_url)
        last_print = 0.0
        while True:
            running = [p for p in running if p.poll() is None]
            while pending and len(running) < WAVE:
                running.append(subprocess.Popen([exe, "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                                                 "-M", "1000", "-l", "-t", f"hailong/v1/{SITE}/{DEVICE}/rating"],
                                                stdin=open(pending.pop(0), "rb")))
            stored[0] = db.scalar("SELECT COUNT(*) FROM ratings")
            now = time.monotonic()
            if now - last_print > 5:
                print(f"  collector: {stored[0]}/{n} stored, rss {rss_mb(collector.p.pid):.0f} MB, "
                      f"{now - t0:.0f} s", flush=True)
                last_print = now
            if stored[0] >= n:
                break
            if now - t0 > 900:
                raise SystemExit(f"only {stored[0]} of {n} stored after 900 s")
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        db.close()
        sampler.stop()
        return {"ratings": n, "stored": stored[0], "seconds": round(elapsed, 1),
                "collector_peak_rss_mb": round(sampler.peak(), 1),
                "collector_rss_first10pct_mb": round(sampler.peak(0.1), 1)}
    finally:
        collector.stop()
        broker.stop()


def soak_kiosk(work: Path, taps: int) -> dict:
    broker = Mosquitto(work / "kbroker").start()
    kiosk = chain.start_kiosk_sim(work, "ubnd-soak", "quay-1", broker.port, taps, rate=0)
    done = [0]
    outbox = work / "outbox-ubnd-soak-quay-1.db"

    def progress() -> float:
        return done[0] / taps

    sampler = Sampler(kiosk.p.pid, progress)
    try:
        import sqlite3

        t0 = time.monotonic()
        while kiosk.running():
            try:
                c = sqlite3.connect(outbox, timeout=1)
                done[0] = c.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
                c.close()
            except sqlite3.Error:
                pass
            if time.monotonic() - t0 > 900:
                raise SystemExit("kiosk soak did not finish in 900 s")
            time.sleep(0.5)
        sampler.stop()
        if kiosk.p.returncode != 0:
            raise SystemExit(f"kiosk simulate failed: {kiosk.tail()}")
        return {"kiosk_taps": len(chain.journal_ids(work)), "kiosk_peak_rss_mb": round(sampler.peak(), 1),
                "kiosk_rss_first10pct_mb": round(sampler.peak(0.1), 1)}
    finally:
        kiosk.stop()
        broker.stop()


def unbounded(result: dict) -> list[str]:
    """What grew with the stream: after the first tenth, memory may settle but must not keep growing."""
    problems = []
    if result["collector_peak_rss_mb"] > result["collector_rss_first10pct_mb"] + 64:
        problems.append("the collector grew by more than 64 MB after the first tenth of the ratings")
    if result["collector_peak_rss_mb"] >= 300:
        problems.append("the collector reached 300 MB")
    if result["kiosk_peak_rss_mb"] > result["kiosk_rss_first10pct_mb"] + 20:
        problems.append("the kiosk grew by more than 20 MB after the first tenth of the taps")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, default=1_000_000)
    ap.add_argument("--taps", type=int, default=10_000)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hailong-soak-"))
    try:
        print(f"soak: {args.ratings} ratings through one collector", flush=True)
        result = soak_collector(work, args.ratings)
        print(f"soak: {args.taps} taps on a simulated kiosk", flush=True)
        result.update(soak_kiosk(work, args.taps))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    problems = unbounded(result)
    for problem in problems:
        print(f"soak: NOT BOUNDED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

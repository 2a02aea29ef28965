"""Bench: a province back from a day-long outage. N kiosks, each holding R ratings no collector has
receipted, reconnect at once; how long until every rating is committed and receipted.

    python tests/bench/province_reconnect.py                       # 2,000 kiosks x 300, SQLite
    python tests/bench/province_reconnect.py --kiosks 200 --per-kiosk 300 --db postgres

One Mosquitto (plain MQTT on 127.0.0.1, persistence on, the limits the generated config sets) and one
real ``python -m collector run`` process. The collector's session exists before the outage (it is
started once, then stopped). The kiosks are simulated, many per process on one selector loop (as in
tests/bench/fleet_push.py): each holds its R ratings as contract v2 payloads numbered 1..R in an epoch
of its own, subscribes to its receipt topic, sends all of them (100 in flight, as the uplink's
largest window) and forgets each one only when a receipt names it; it sends again as the uplink does:
everything unreceipted when no receipt at all came for 90 s (doubling), and while receipts come only
what a later-sent receipted one overtook by 90 s. Reported: seconds from the first connect
until the last receipt, until the database held every rating, ratings stored (must be N x R, each
once: the hourly rollup must say the same), copies the collector recognised as already stored, and
the broker's and the collector's peak memory. The last line is ``RESULT ...``.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PREFIX = "hailong/v1"
RESEND_S = 90.0
WINDOW = 100


class SimKiosk:
    """A kiosk's uplink without a screen: R ratings waiting, kept until their receipts come."""

    def __init__(self, site: str, device: str, port: int, per_kiosk: int):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.site, self.device, self.port = site, device, port
        self.epoch = str(uuid.uuid4())
        ts = "2026-12-06T03:00:00.000Z"
        self.payloads = {}
        for seq in range(1, per_kiosk + 1):
            self.payloads[seq] = json.dumps({
                "v": 2, "id": str(uuid.uuid4()), "site": site, "device": device, "ts": ts, "rating": 1 + seq % 5,
                "scale": 5, "reason": None, "lang": "vi", "officer": None, "service": None, "flags": [],
                "epoch": self.epoch, "seq": seq, "boot": "outage", "mono_ms": seq * 1000, "clock": "synced",
                "request": None, "dossier": None, "ticket": None}, separators=(",", ":")).encode()
        self.waiting = set(self.payloads)  # not receipted yet
        self.queue: list[int] = []          # to send, oldest first
        self.inflight = 0
        self.sent_at: dict[int, float] = {}
        self.connected = False
        self.done_at: float | None = None
        self.last_receipt = time.monotonic()
        self.quiet_every = RESEND_S
        self.next_check = time.monotonic() + RESEND_S
        self.newest_receipted_sent = 0.0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{site}--{device}", protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(WINDOW)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    def connect(self) -> None:
        self.client.connect("127.0.0.1", self.port, keepalive=60)

    def _on_connect(self, client, _u, _f, reason_code, _p):
        if reason_code.is_failure:
            return
        self.connected = True
        now = time.monotonic()  # as the uplink: the wait for receipts starts afresh with the connection
        self.last_receipt, self.quiet_every, self.next_check = now, RESEND_S, now + RESEND_S
        client.subscribe(f"{PREFIX}/{self.site}/{self.device}/receipt", qos=1)
        self.queue = sorted(self.waiting)  # a new connection sends every unreceipted rating again

    def _on_publish(self, *_):
        self.inflight -= 1

    def _on_message(self, _c, _u, msg):
        body = json.loads(msg.payload)
        if body.get("epoch") != self.epoch:
            return
        for first, last in body["seqs"]:
            done = self.waiting.intersection(range(first, last + 1))
            if done:
                self.newest_receipted_sent = max(self.newest_receipted_sent, max(self.sent_at.get(s, 0) for s in done))
            self.waiting.difference_update(done)
        self.last_receipt, self.quiet_every = time.monotonic(), RESEND_S
        if not self.waiting and self.done_at is None:
            self.done_at = time.monotonic()

    def pump(self, now: float) -> None:
        """Keep up to WINDOW in flight; resend what waited RESEND_S without a receipt."""
        if not self.connected:
            return
        while self.queue and self.inflight < WINDOW:
            seq = self.queue.pop(0)
            if seq not in self.waiting:
                continue
            self.client.publish(f"{PREFIX}/{self.site}/{self.device}/rating", self.payloads[seq], qos=1)
            self.inflight += 1
            self.sent_at[seq] = now
        if not self.queue and self.waiting and now >= self.next_check:
            if now - self.last_receipt >= self.quiet_every:  # no receipt at all: everything, backing off
                cutoff, self.quiet_every = now, min(self.quiet_every * 2, 3600.0)
            else:  # receipts come: only what a later one overtook
                cutoff = self.newest_receipted_sent - RESEND_S
            self.next_check = now + RESEND_S
            self.queue = sorted(s for s in self.waiting if self.sent_at.get(s, now) < cutoff)


def worker(args) -> int:
    """One process of kiosks; progress as JSON lines on stdout."""
    import paho.mqtt.client as mqtt

    names = [line.split("/") for line in Path(args.devices).read_text().split()]
    kiosks = [SimKiosk(s, d, args.port, args.per_kiosk) for s, d in names]
    print(json.dumps({"ready": len(kiosks)}), flush=True)
    sys.stdin.readline()  # everyone connects at the same moment
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    waiting = list(kiosks)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    next_misc = next_report = 0.0
    while not stop.is_set():
        for k in waiting[:25]:  # a few connects per turn: the broker's listen backlog is short
            try:
                k.connect()
            except OSError:
                continue
            sel.register(k.client.socket(), selectors.EVENT_READ, k)
            waiting.remove(k)
        for skey, _ in sel.select(timeout=0.01):
            k = skey.data
            if k.client.loop_read(100) != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS:
                k.connected = False
        now = time.monotonic()
        for k in kiosks:
            k.pump(now)
            if k.client.want_write():
                k.client.loop_write()
        if now >= next_misc:
            next_misc = now + 1.0
            for k in kiosks:
                k.client.loop_misc()
        if now >= next_report:
            next_report = now + 0.5
            done = [k.done_at for k in kiosks if k.done_at is not None]
            print(json.dumps({"connected": sum(k.connected for k in kiosks), "done": len(done),
                              "last_done_s": max(done) - t0 if done else None,
                              "waiting": sum(len(k.waiting) for k in kiosks)}), flush=True)
    return 0


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiosks", type=int, default=2000)
    ap.add_argument("--per-kiosk", type=int, default=300)
    ap.add_argument("--workers", type=int, default=4, help="processes holding the simulated kiosks (default 4)")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--devices", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    from collector.storage.db import connect
    from tests.bench.fleet_push import raise_fd_limit
    from tests.e2e import chain
    from tests.servers import Mosquitto, Postgres

    n, per = args.kiosks, args.per_kiosk
    raise_fd_limit(n + 500)
    work = Path(tempfile.mkdtemp(prefix="hailong-reconnect-"))
    broker = Mosquitto(work / "broker").start()
    pg = Postgres(work / "pg").start() if args.db == "postgres" else None
    db_url = pg.fresh_database("reconnect") if pg else f"sqlite:///{work / 'ratings.db'}"
    procs: list[subprocess.Popen] = []
    collector = None
    try:
        collector = chain.start_collector(work, broker.port, db_url)
        chain.wait_subscribed(broker.port, db_url)
        collector.stop()  # its session stays on the broker; the collector comes back with the kiosks
        names = [f"xa-{i // 10:04d}/quay-{i % 10:02d}" for i in range(n)]
        for w in range(args.workers):
            part = work / f"devices-{w}.txt"
            part.write_text("\n".join(names[w::args.workers]))
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", "--devices", str(part),
                                           "--port", str(broker.port), "--per-kiosk", str(per)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                          env={**os.environ, "PYTHONPATH": str(ROOT)}))
        last = [{} for _ in procs]
        for i, p in enumerate(procs):
            json.loads(p.stdout.readline())  # payloads built
        print(f"{n} kiosks x {per} unreceipted ratings ready in {args.workers} processes; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)

        def read(i: int, p: subprocess.Popen) -> None:
            for line in p.stdout:
                last[i] = json.loads(line)

        for i, p in enumerate(procs):
            threading.Thread(target=read, args=(i, p), daemon=True).start()
        collector.start()
        t0 = time.monotonic()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        peak_broker = peak_collector = 0.0
        stored_at = None
        total = n * per
        next_say = 0.0
        while True:
            now = time.monotonic() - t0
            peak_broker = max(peak_broker, rss_mib(broker.proc.pid))
            peak_collector = max(peak_collector, rss_mib(collector.p.pid))
            done = sum(x.get("done", 0) for x in last)
            if stored_at is None and now >= next_say - 0.5:
                db = connect(db_url)
                try:
                    stored = int(db.scalar("SELECT COUNT(*) FROM ratings") or 0)
                finally:
                    db.close()
                if stored >= total:
                    stored_at = now
            if now >= next_say:
                next_say = now + 5
                print(f"  {now:6.1f} s: connected {sum(x.get('connected', 0) for x in last)}, kiosks done "
                      f"{done}/{n}, ratings waiting {sum(x.get('waiting', total) for x in last)}", flush=True)
            if done == n:
                break
            if now > args.timeout:
                raise SystemExit(f"province_reconnect: only {done} of {n} kiosks fully receipted after {now:.0f} s")
            time.sleep(0.2)
        last_receipt = max(x["last_done_s"] for x in last if x.get("last_done_s") is not None)
        db = connect(db_url)
        try:
            stored = int(db.scalar("SELECT COUNT(*) FROM ratings"))
            distinct = int(db.scalar("SELECT COUNT(DISTINCT id) FROM ratings"))
            rollup = int(db.scalar("SELECT COALESCE(SUM(n), 0) FROM rollup_hour"))
        finally:
            db.close()
        stored_at = stored_at if stored_at is not None else time.monotonic() - t0
        log = [ln for ln in collector.tail(20000).splitlines() if "duplicates=" in ln]
        dups = log[-1].split("duplicates=")[1].split()[0] if log else "?"
        print(f"every rating committed after {stored_at:.1f} s, the last receipt after {last_receipt:.1f} s; "
              f"stored {stored} ({distinct} distinct, hourly rollup {rollup}) of {total}; copies recognised "
              f"as stored {dups}; broker peak {peak_broker:.0f} MiB, collector peak {peak_collector:.0f} MiB; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        ok = stored == distinct == rollup == total
        print(f"RESULT kiosks={n} per_kiosk={per} db={args.db} last_receipt_s={last_receipt:.1f} "
              f"stored_s={stored_at:.1f} lost={total - distinct} doubled={rollup - distinct} "
              f"broker_peak_mib={peak_broker:.0f} collector_peak_mib={peak_collector:.0f}", flush=True)
        return 0 if ok else 1
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if collector is not None:
            collector.stop()
        broker.stop()
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Bench: one signed config pushed to N connected kiosks; how long until every kiosk runs it.

One Mosquitto (plain MQTT on 127.0.0.1, no TLS, anonymous: the broker's work per message is the same
and TLS would add only the handshakes done before the push) and one real collector process (SQLite).
N simulated kiosks, spread over a few processes, each holding many paho clients on one selector
loop: every kiosk subscribes to its config topic, publishes a retained v2 status at connect and
every --status-every seconds (staggered), and the processes together send a v2 rating stream of
--ratings-per-s. A config that arrives goes through kiosk/config_apply.py's ConfigTaker, as on a real
kiosk: signature, device and schema checked, kiosk.yaml replaced (the one before kept), a
config_applied event sent, a status with the new hash published at once. Kiosk folders live on
/dev/shm (tmpfs) unless --homes says otherwise: the bench measures the fleet, not this disk.

Then the province changes the reason list in defaults.yaml and runs the real
`python -m broker fleet push DIR` (check, sign, publish retained). Reported: seconds until the
collector's devices table shows every kiosk on its new hash (also from the push's end, and until the
collector recorded every desired hash from the retained configs), collector CPU and memory, broker
memory, and the load average (the machine is shared).

    python tests/bench/fleet_push.py --kiosks 200
    python tests/bench/fleet_push.py --kiosks 5000
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
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
PER_SITE = 10
OLD_REASON, NEW_REASON = "'Chờ lâu'", "'Phải chờ quá lâu'"


# ------------------------------------------------------------------------------------------ kiosks
class SimKiosk:
    """One kiosk's MQTT side without a screen or an outbox: statuses, events and ratings as the real
    uplink sends them, and pushed configs taken by the real ConfigTaker."""

    def __init__(self, site: str, device: str, home: Path, key, port: int):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from broker.contract import config_topic
        from config.loader import file_hash
        from kiosk.config_apply import ConfigTaker

        self.site, self.device, self.port = site, device, port
        self.taker = ConfigTaker(home / "kiosk.yaml", site, device, [key], PREFIX, rollback_after_s=300)
        self.config_hash = file_hash(self.taker.path)
        self.epoch, self.boot, self.seq = str(uuid.uuid4()), uuid.uuid4().hex, 0
        self.t0 = time.monotonic()
        self.last_rating = None
        self.connected = False
        self.connections = self.applied = self.refused = 0
        self.topic = config_topic(site, device, PREFIX)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{site}--{device}", protocol=mqtt.MQTTv5)
        self.client.will_set(f"{PREFIX}/{site}/{device}/status", self._status("offline"), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _durable(self) -> dict:
        self.seq += 1
        return {"epoch": self.epoch, "seq": self.seq, "boot": self.boot,
                "mono_ms": int((time.monotonic() - self.t0) * 1000), "clock": "synced"}

    def _status(self, state: str = "online") -> bytes:
        from broker.contract import StatusV2, utcnow

        return StatusV2(site=self.site, device=self.device, state=state, ts=utcnow(), app_version="bench",
                        outbox_depth=0, last_rating_ts=self.last_rating, config_hash=self.config_hash,
                        boot=self.boot, mono_ms=int((time.monotonic() - self.t0) * 1000), clock="synced",
                        epoch=self.epoch, seq_last=self.seq, config_error=self.taker.config_error).encode()

    def status(self) -> None:
        self.client.publish(f"{PREFIX}/{self.site}/{self.device}/status", self._status(), qos=1, retain=True)

    def rating(self, rnd: random.Random) -> None:
        from broker.contract import RatingV2, utcnow

        self.last_rating = utcnow()
        msg = RatingV2(id=str(uuid.uuid4()), site=self.site, device=self.device, ts=self.last_rating,
                       rating=rnd.randint(1, 5), scale=5, lang="vi", **self._durable())
        self.client.publish(f"{PREFIX}/{self.site}/{self.device}/rating", msg.encode(), qos=1)

    def connect(self) -> None:
        self.client.connect("127.0.0.1", self.port, keepalive=60)

    def _on_connect(self, client, _u, _f, reason_code, _p):
        if reason_code.is_failure:
            return
        self.connected = True
        self.connections += 1
        client.subscribe(self.topic, qos=1)
        self.status()

    def _on_message(self, _c, _u, msg):
        from broker.contract import Event, utcnow
        from config.loader import file_hash

        out = self.taker.offer(msg.topic, msg.payload, time.monotonic())
        if out.event is None:
            return
        if out.event == "config_applied":
            # Runs at once; the broker settings did not change, so the open connection confirms it.
            self.taker.running(self.connections, reconnects=False)
            self.taker.connected(self.connections)
            self.config_hash = file_hash(self.taker.path)
            self.applied += 1
        else:
            self.refused += 1
        event = Event(id=str(uuid.uuid4()), site=self.site, device=self.device, ts=utcnow(), type=out.event,
                      config_hash=out.config_hash, detail=" ".join(out.detail.split())[:500] or None,
                      **self._durable())
        self.client.publish(f"{PREFIX}/{self.site}/{self.device}/event", event.encode(), qos=1)
        self.status()


def worker(args) -> int:
    """One process of kiosks: ``--devices`` lists site/device per line; progress as JSON lines."""
    import paho.mqtt.client as mqtt

    from broker.fleet import load_public

    homes = Path(args.homes)
    key = load_public(homes / "fleet.pub")
    names = [line.split("/") for line in Path(args.devices).read_text().split()]
    kiosks = [SimKiosk(s, d, homes / s / d, key, args.port) for s, d in names]
    rnd = random.Random(args.seed)
    sel = selectors.DefaultSelector()
    waiting = list(kiosks)
    status_due = {id(k): time.monotonic() + rnd.uniform(0, args.status_every) for k in kiosks}
    rating_gap = 1.0 / args.ratings_per_s if args.ratings_per_s > 0 else None
    next_rating = time.monotonic()
    next_misc = next_report = 0.0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        now = time.monotonic()
        for k in waiting[:25]:  # a few connects per turn: the broker's listen backlog is short
            try:
                k.connect()
            except OSError:
                continue
            sel.register(k.client.socket(), selectors.EVENT_READ, k)
            waiting.remove(k)
        for skey, _ in sel.select(timeout=0.02 if waiting else 0.1):
            k = skey.data
            if k.client.loop_read(100) != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS:
                k.connected = False
            if k.client.want_write():
                k.client.loop_write()
        now = time.monotonic()
        if rating_gap is not None:
            while next_rating <= now:
                k = kiosks[rnd.randrange(len(kiosks))]
                if k.connected:
                    k.rating(rnd)
                next_rating += rating_gap
        if now >= next_misc:  # keepalives, statuses due, queued writes
            next_misc = now + 1.0
            for k in kiosks:
                if k.connected and status_due[id(k)] <= now:
                    k.status()
                    status_due[id(k)] = now + args.status_every
                k.client.loop_misc()
                if k.client.want_write():
                    k.client.loop_write()
        if now >= next_report:
            next_report = now + 1.0
            print(json.dumps({"connected": sum(k.connected for k in kiosks), "applied": sum(k.applied for k in kiosks),
                              "refused": sum(k.refused for k in kiosks), "n": len(kiosks)}), flush=True)
    for k in kiosks:
        k.client.disconnect()
    return 0


class Workers:
    def __init__(self, procs: list[subprocess.Popen]):
        self.procs = procs
        self.last = [{} for _ in procs]
        for i, p in enumerate(procs):
            threading.Thread(target=self._read, args=(i, p), daemon=True).start()

    def _read(self, i: int, p: subprocess.Popen) -> None:
        for line in p.stdout:
            try:
                self.last[i] = json.loads(line)
            except ValueError:
                sys.stderr.write(line)

    def total(self, field: str) -> int:
        return sum(x.get(field, 0) for x in self.last)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


# ------------------------------------------------------------------------------------------ set-up
def raise_fd_limit(need: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < need:
        sys.exit(f"fleet_push: {need} open files needed, the hard limit is {hard}; raise it (ulimit -Hn, "
                 f"/etc/security/limits.conf) or use fewer --kiosks")
    return want


def make_fleet(folder: Path, homes: Path, port: int, n: int):
    """The fleet folder (defaults, one file per device, push.yaml, key) and each kiosk's folder with the
    merged kiosk.yaml it runs now, as enrolment leaves it."""
    from broker import fleet
    from broker import fleet_check

    keys = folder.parent / "keys"
    fleet.keygen(keys)
    (folder / "devices").mkdir(parents=True)
    (folder / "defaults.yaml").write_text(
        f"broker: {{host: 127.0.0.1, port: {port}, keepalive_s: 60}}\nfleet: {{public_key: fleet.pub}}\n"
        f"status_interval_s: 60\noutbox: {{path: outbox.db}}\n"
        f"followup:\n  reasons:\n    - {{key: waiting, texts: {{vi: {OLD_REASON}, en: 'Long wait'}}}}\n",
        encoding="utf-8")
    (folder / "push.yaml").write_text(f"kind: fleet\nkey: {keys / 'fleet.key'}\n"
                                      f"broker: {{host: 127.0.0.1, port: {port}}}\ntimeout_s: 600\n", encoding="utf-8")
    names = [(f"xa-{i // PER_SITE + 1:04d}", f"quay-{i % PER_SITE + 1:02d}") for i in range(n)]
    for site, device in names:
        d = folder / "devices" / site
        d.mkdir(exist_ok=True)
        (d / f"{device}.yaml").write_text("", encoding="utf-8")
    homes.mkdir(parents=True)
    shutil.copy(keys / "fleet.pub", homes / "fleet.pub")
    good, problems = fleet_check.check(folder)
    if problems:
        sys.exit("\n".join(problems[:5]))
    for m in good:
        home = homes / m.site / m.device
        home.mkdir(parents=True)
        shutil.copy(keys / "fleet.pub", home / "fleet.pub")
        (home / "kiosk.yaml").write_text(m.yaml_text(), encoding="utf-8")
    return names


def new_hashes(folder: Path) -> dict[tuple[str, str], str]:
    from broker import fleet_check

    good, _ = fleet_check.check(folder)
    return {(m.site, m.device): m.sha256()[:12] for m in good}


def db_counts(db_path: Path, expected: dict) -> tuple[int, int, int]:
    """(kiosks on their new hash, kiosks with a status, desired hashes recorded), read-only."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT site, device, config_hash FROM devices").fetchall()
        desired = conn.execute("SELECT site, device, config_hash FROM fleet_configs").fetchall()
    except sqlite3.OperationalError:
        return 0, 0, 0
    finally:
        conn.close()
    on_new = sum(1 for s, d, h in rows if expected.get((s, d)) == h)
    recorded = sum(1 for s, d, h in desired if expected.get((s, d)) == h)
    return on_new, len(rows), recorded


def mib(pid: int, field: str = "rss") -> float:
    import psutil

    return getattr(psutil.Process(pid).memory_info(), field) / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiosks", type=int, default=5000)
    p.add_argument("--procs", type=int, default=4, help="kiosk processes (default 4)")
    p.add_argument("--status-every", type=float, default=60.0, help="seconds between a kiosk's statuses")
    p.add_argument("--ratings-per-s", type=float, default=20.0, help="the rating stream of the whole fleet")
    p.add_argument("--homes", type=Path, help="where kiosk folders go (default: a folder in /dev/shm)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds of waiting")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--devices", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    import psutil

    from tests.servers import Mosquitto, free_port

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("fleet_push: stopped"))  # the clean-up below still runs

    limit = raise_fd_limit(args.kiosks * 2 + 1000)
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    homes = args.homes or Path(tempfile.mkdtemp(prefix="fleet-bench-homes-", dir=shm))
    if args.homes:
        homes.mkdir(parents=True, exist_ok=True)
    homes = homes / "kiosks"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    print(f"fleet_push: {args.kiosks} kiosks in {args.procs} processes, status every {args.status_every:g} s, "
          f"{args.ratings_per_s:g} ratings/s; open-file limit {limit}; work {work}, kiosks in {homes}", flush=True)
    t = time.monotonic()
    root = work / "fleet"
    names = make_fleet(root, homes, port, args.kiosks)
    print(f"set-up: fleet folder and {len(names)} kiosk folders in {time.monotonic() - t:.1f} s", flush=True)
    broker = Mosquitto(work / "broker", port=port, extra_conf="max_connections -1\npersistence false\n").start()
    db_path = work / "ratings.db"
    (work / "collector.yaml").write_text(
        f"kind: collector\nbroker: {{host: 127.0.0.1, port: {port}, client_id: bench-collector}}\n"
        f"database: {{url: 'sqlite:///{db_path}'}}\nlog_interval_s: 10\n", encoding="utf-8")
    collector = subprocess.Popen([sys.executable, "-m", "collector", "run", "--config", str(work / "collector.yaml")],
                                 cwd=work, env=env, stdout=open(work / "collector.log", "wb"), stderr=subprocess.STDOUT)
    workers = None
    try:
        deadline = time.monotonic() + 60
        while "subscribed:" not in (work / "collector.log").read_text(errors="replace"):
            if time.monotonic() > deadline or collector.poll() is not None:
                raise SystemExit("the collector did not subscribe: " + (work / "collector.log").read_text()[-2000:])
            time.sleep(0.2)
        procs = []
        for i in range(args.procs):
            part = work / f"devices-{i}.txt"
            part.write_text("\n".join(f"{s}/{d}" for s, d in names[i::args.procs]), encoding="utf-8")
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", "--devices", str(part), "--homes", str(homes), "--port",
                 str(port), "--status-every", str(args.status_every), "--seed", str(i),
                 "--ratings-per-s", str(args.ratings_per_s / args.procs)],
                cwd=work, env=env, stdout=subprocess.PIPE, text=True))
        workers = Workers(procs)
        t = time.monotonic()
        old = new_hashes(root)
        while True:
            on_old, _, _ = db_counts(db_path, old)
            if workers.total("connected") >= args.kiosks and on_old >= args.kiosks:
                break
            if time.monotonic() - t > args.timeout:
                raise SystemExit(f"only {workers.total('connected')} kiosks connected, {on_old} stored")
            time.sleep(1)
        print(f"connected: {args.kiosks} kiosks online and stored by the collector in {time.monotonic() - t:.1f} s",
              flush=True)
        time.sleep(5)  # steady state: statuses and ratings flowing

        col, brk = psutil.Process(collector.pid), psutil.Process(broker.proc.pid)
        defaults = root / "defaults.yaml"
        defaults.write_text(defaults.read_text(encoding="utf-8").replace(OLD_REASON, f"{NEW_REASON}"),
                            encoding="utf-8")
        expected = new_hashes(root)
        kiosk_procs = [psutil.Process(w.pid) for w in workers.procs]
        busy = lambda procs: sum(c.user + c.system for c in (q.cpu_times() for q in procs))  # noqa: E731
        cpu0, brk0, kio0, t0 = col.cpu_times(), busy([brk]), busy(kiosk_procs), time.monotonic()
        load0 = os.getloadavg()
        push_log = work / "push.log"  # a file, not a pipe: it prints a line per kiosk
        push = subprocess.Popen([sys.executable, "-m", "broker", "fleet", "push", str(root)], cwd=work, env=env,
                                stdout=open(push_log, "wb"), stderr=subprocess.STDOUT)
        pushed_at = first_at = recorded_at = None
        peak_col = peak_brk = 0.0
        while True:
            time.sleep(0.5)
            now = time.monotonic() - t0
            if pushed_at is None and push.poll() is not None:
                pushed_at = now
                if push.returncode != 0:
                    raise SystemExit(f"fleet push failed: {push_log.read_text(errors='replace')[-2000:]}")
            on_new, _, recorded = db_counts(db_path, expected)
            peak_col, peak_brk = max(peak_col, mib(collector.pid)), max(peak_brk, mib(broker.proc.pid))
            if on_new and first_at is None:
                first_at = now
            if recorded >= args.kiosks and recorded_at is None:
                recorded_at = now
            if on_new >= args.kiosks and pushed_at is not None and recorded_at is not None:
                all_at = now
                break
            if now > args.timeout:
                raise SystemExit(f"after {now:.0f} s only {on_new} of {args.kiosks} kiosks on the new config "
                                 f"(applied by the kiosks: {workers.total('applied')}, refused: "
                                 f"{workers.total('refused')})")
        cpu1, brk_cpu, kio_cpu = col.cpu_times(), busy([brk]) - brk0, busy(kiosk_procs) - kio0
        col_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        load1 = os.getloadavg()
        time.sleep(1.5)  # the kiosk processes report their counts once a second
        applied, refused = workers.total("applied"), workers.total("refused")
        result = {
            "kiosks": args.kiosks, "all_applied_s": round(all_at, 1), "push_command_s": round(pushed_at, 1),
            "first_applied_s": round(first_at, 1), "desired_recorded_s": round(recorded_at, 1),
            "applied_by_kiosks": applied, "refused_by_kiosks": refused,
            "collector_cpu_s": round(col_cpu, 1), "collector_cpu_pct": round(100 * col_cpu / all_at),
            "collector_rss_mib": round(peak_col), "broker_rss_mib": round(peak_brk),
            "broker_cpu_s": round(brk_cpu, 1), "kiosk_processes_cpu_s": round(kio_cpu, 1),
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in load1],
        }
        print(f"push: `fleet push` checked, signed and published {args.kiosks} configs in {pushed_at:.1f} s; "
              f"first kiosk on the new config at {first_at:.1f} s; ALL {args.kiosks} applied (statuses stored by "
              f"the collector) {all_at:.1f} s after the push started; desired hashes recorded from the retained "
              f"configs at {recorded_at:.1f} s")
        print(f"collector: {col_cpu:.1f} s CPU over those {all_at:.1f} s ({result['collector_cpu_pct']}% of a core), "
              f"peak RSS {peak_col:.0f} MiB; broker {brk_cpu:.1f} s CPU, peak RSS {peak_brk:.0f} MiB; the simulated "
              f"kiosks {kio_cpu:.1f} s CPU (on real kiosks each does its share on its own CPU); kiosks applied "
              f"{applied}, refused {refused}")
        print(f"load average (1/5/15 min) before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
              f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} on {os.cpu_count()} cores")
        print("RESULT " + json.dumps(result), flush=True)
        return 0 if applied == args.kiosks and refused == 0 else 1
    finally:
        if workers is not None:
            workers.stop()
        collector.terminate()
        try:
            collector.wait(30)
        except subprocess.TimeoutExpired:
            collector.kill()
        broker.stop()
        shutil.rmtree(homes.parent if not args.homes else homes, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

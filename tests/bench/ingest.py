"""Collector throughput: ratings per second into SQLite and PostgreSQL through a real Mosquitto.

    .venv/bin/python tests/bench/ingest.py [--count N] [--repeat R] [--prefill M]

Starts its own Mosquitto and PostgreSQL on free ports. The publisher is ``mosquitto_pub -l -q 1``,
one process per 20,000 ratings (one per line, unique ids), so the figures measure the collector, not
a Python publisher. (One ``mosquitto_pub -l`` fed 100,000 lines from a file exits having sent only
about 35,000 of them, with status 0: hence the chunks.) Phases: the broker alone (``mosquitto_sub`` receiving the same stream), a live
stream into SQLite, a live stream into PostgreSQL, the same with two collectors in one shared
group (scale-out), contract v2 ratings from 20 kiosks (epoch, seq, boot time) into SQLite and
PostgreSQL with receipts (the collector publishes one per kiosk and epoch after each commit), and a
backlog: a collector whose persistent session already exists is started after N ratings were
published, and timed until all are stored.
The live SQLite and PostgreSQL phases run ``--repeat`` times (default 3), each into a fresh database,
and report the median. ``--prefill M`` first stores M ratings in the SQLite database of each live
run, to measure ingest into a database that is no longer small.
The last line is ``RESULT sqlite_per_s=... postgres_per_s=... broker_raw_per_s=... broker_raw_v2_per_s=...
v2_receipts_sqlite_per_s=... v2_receipts_postgres_per_s=... backlog_100k_s=...``, and the lines before it
each figure as a share of the broker's raw rate for the same stream, measured in the same run (the v2
stream comes from 20 publishers at once, with wider payloads, so it has a baseline of its own).
``--only v2`` runs the two baselines and the v2 phases alone.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collector.storage.db import connect  # noqa: E402
from tests.integration.test_collector_support import CollectorProc  # noqa: E402
from tests.servers import Mosquitto, Postgres  # noqa: E402

SITE, DEVICE = "ubnd-bench", "quay-01"


def say(text: str) -> None:
    print(text, flush=True)


CHUNK = 20_000


def now_ts() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def rating_json(i: int, device: str, ts: str) -> str:
    """The i-th rating of a stream: a new id, ratings and officers cycling."""
    return json.dumps({"v": 1, "id": str(uuid.uuid4()), "site": SITE, "device": device, "ts": ts,
                       "rating": 1 + i % 5, "scale": 5, "reason": None, "lang": "vi",
                       "officer": f"officer {i % 13}", "service": "ho-tich", "flags": []}, separators=(",", ":"))


V2_KIOSKS = 20


def v2_status(device: str, epoch: str) -> str:
    """The live status a kiosk sends when it connects, before its backlog: it places the boot on real time
    (its monotonic clock, 10^9 ms now, is past every rating's: they were tapped before it)."""
    return json.dumps({"v": 2, "site": SITE, "device": device, "state": "online", "ts": now_ts(), "app_version": "bench",
                       "outbox_depth": 0, "last_rating_ts": None, "config_hash": None, "boot": "bench",
                       "mono_ms": 10**9, "clock": "synced", "epoch": epoch, "seq_last": 0}, separators=(",", ":"))


V2_EPOCHS: dict[str, str] = {}


def make_v2_payloads(folder: Path, n: int) -> list[tuple[Path, str]]:
    """n contract v2 ratings from V2_KIOSKS kiosks, each numbered 1, 2, ... in an epoch of its own."""
    ts, per = now_ts(), -(-n // V2_KIOSKS)
    out = []
    for k in range(V2_KIOSKS):
        device = f"v2-{k:02d}"
        epoch = V2_EPOCHS.setdefault(device, str(uuid.uuid4()))
        lines = []
        for seq in range(1, min(per, n - k * per) + 1):
            body = json.loads(rating_json(seq, device, ts))
            body.update(v=2, epoch=epoch, seq=seq, boot="bench", mono_ms=seq * 1000, clock="synced",
                        request=None, dossier=None, ticket=None)
            lines.append(json.dumps(body, separators=(",", ":")) + "\n")
        out.append((folder / f"v2-{device}.jsonl", device))
        out[-1][0].write_text("".join(lines))
    return out


def make_payloads(folder: Path, n: int) -> list[Path]:
    ts = now_ts()
    lines = [rating_json(i, DEVICE, ts) + "\n" for i in range(n)]
    files = []
    for k in range(0, n, CHUNK):
        files.append(folder / f"ratings-{k // CHUNK}.jsonl")
        files[-1].write_text("".join(lines[k:k + CHUNK]))
    return files


class publish:
    """mosquitto_pub processes publishing every chunk file with QoS 1, in parallel."""

    def __init__(self, port: int, prefix: str, payloads: list):
        """``payloads``: files of one device's ratings, as paths (DEVICE) or (path, device) pairs."""
        exe = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
        files = [f if isinstance(f, tuple) else (f, DEVICE) for f in payloads]
        self.procs = [subprocess.Popen([exe, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-M", "1000", "-l",
                                        "-t", f"{prefix}/{SITE}/{device}/rating"], stdin=open(f, "rb"))
                      for f, device in files]

    def wait(self, timeout: float = 300) -> None:
        for p in self.procs:
            p.wait(timeout)


def prefill(path: Path, m: int) -> None:
    """Store m ratings of another device straight through the collector's own Store."""
    from collector.ingest.ingest import Message, classify
    from collector.ingest.store import Store

    store = Store(connect(f"sqlite:///{path}"))
    topic = f"bench/v1/{SITE}/prefill/rating".encode()
    ts = now_ts()
    t0 = last = time.monotonic()
    for k in range(0, m, 2000):
        msgs = [Message(topic, rating_json(i, "prefill", ts).encode(), 1, 1, False, time.time())
                for i in range(k, min(k + 2000, m))]
        store.write(classify(msgs, "bench/v1"))
        if time.monotonic() - last >= 5:
            say(f"  prefill: {k + len(msgs)}/{m} ratings after {time.monotonic() - t0:.0f} s")
            last = time.monotonic()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.close()
    say(f"  prefill: {m} ratings stored in {time.monotonic() - t0:.0f} s")


def count(url: str, where: str = "") -> int:
    try:
        db = connect(url, migrate=False)
    except Exception:
        return 0
    try:
        return db.scalar(f"SELECT COUNT(*) FROM ratings {where}") or 0
    except Exception:
        return 0
    finally:
        db.close()


FIRST_ROW: dict[str, float] = {}  # label -> seconds from t0 to the first stored row


def wait_stored(url: str, n: int, t0: float, label: str, timeout: float = 300, where: str = "") -> float:
    last = time.monotonic()
    while True:
        got = count(url, where)
        now = time.monotonic()
        if got and label not in FIRST_ROW:
            FIRST_ROW[label] = now - t0
        if got >= n:
            return now - t0
        if now - t0 > timeout:
            raise SystemExit(f"{label}: only {got} of {n} stored after {timeout} s")
        if now - last >= 2:
            say(f"  {label}: {got}/{n} stored after {now - t0:.1f} s")
            last = now
        time.sleep(0.05)


def broker_raw(broker: Mosquitto, payloads: list, n: int, prefix: str = "raw/v1") -> float:
    """The broker alone: one ``mosquitto_sub -q 1`` receiving the same stream from the same publishers."""
    exe = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
    sub = subprocess.Popen([exe, "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-C", str(n),
                            "-t", f"{prefix}/{SITE}/+/rating"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    t0 = time.monotonic()
    pub = publish(broker.port, prefix, payloads)
    sub.wait(300)
    dt = time.monotonic() - t0
    pub.wait(60)
    return n / dt


def live(broker: Mosquitto, work: Path, url: str, payloads: list, n: int, label: str,
         where: str = f"WHERE device = '{DEVICE}'", receipts: bool = True) -> float:
    slug = label.replace(" ", "-")
    prefix = f"{slug}/v1"  # a stopped run's session must not queue the next run's stream
    col = CollectorProc(work, broker.port, url, client_id=f"bench-{slug}", prefix=prefix, max_size=2000,
                        max_wait_ms=200)
    if not receipts:
        col.config.write_text(col.config.read_text() + "receipts: false\n")
    col.start()
    try:
        if any(isinstance(f, tuple) for f in payloads):  # v2 kiosks say they are online first, as they do
            exe = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
            for device, epoch in V2_EPOCHS.items():
                subprocess.run([exe, "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t",
                                f"{prefix}/{SITE}/{device}/status", "-m", v2_status(device, epoch)], check=True)
            time.sleep(0.5)
        t0 = time.monotonic()
        pub = publish(broker.port, prefix, payloads)
        dt = wait_stored(url, n, t0, label, where=where)
        pub.wait(60)
        logged = [ln for ln in col.log_text().splitlines() if 'received=' in ln]
        say(f"  {label}: {n} stored in {dt:.2f} s" +
            (f"; collector log: {logged[-1].split(' INFO ')[-1]}" if logged else ""))
        return n / dt
    finally:
        col.stop()


def median_of_runs(repeat: int, name: str, database, detail: str, run) -> float:
    """Run a live phase ``repeat`` times, each into database(k), and return the median rate."""
    runs = []
    for k in range(repeat):
        runs.append(run(database(k), f"{name} run {k + 1}"))
        say(f"{name} run {k + 1}: {runs[-1]:.0f}/s{detail}")
    rate = statistics.median(runs)
    say(f"{name}: median {rate:.0f}/s of {', '.join(f'{r:.0f}' for r in runs)}")
    return rate


def shared(broker: Mosquitto, work: Path, url: str, payloads: list[Path], n: int, members: int) -> float:
    """Scale-out: several collectors in one shared-subscription group, one database."""
    prefix = "shared/v1"
    cols = [CollectorProc(work, broker.port, url, client_id=f"bench-shared-{i}", prefix=prefix, share_group="bench",
                          max_size=2000, max_wait_ms=200).start() for i in range(members)]
    try:
        t0 = time.monotonic()
        pub = publish(broker.port, prefix, payloads)
        dt = wait_stored(url, n, t0, f"{members} collectors")
        pub.wait(60)
        return n / dt
    finally:
        for c in cols:
            c.stop()


def backlog(broker: Mosquitto, work: Path, url: str, payloads: list[Path], n: int) -> float:
    prefix = "backlog/v1"
    col = CollectorProc(work, broker.port, url, client_id="bench-backlog", prefix=prefix, max_size=2000,
                        max_wait_ms=200).start()
    col.stop()  # the broker now keeps a persistent session that queues everything for it
    t_pub = time.monotonic()
    publish(broker.port, prefix, payloads).wait(300)
    say(f"  backlog: {n} published into the stopped collector's queue in {time.monotonic() - t_pub:.2f} s")
    t0 = time.monotonic()
    col.start()
    try:
        return wait_stored(url, n, t0, "backlog")
    finally:
        col.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000, help="ratings per phase (default 100000)")
    ap.add_argument("--repeat", type=int, default=3, help="live runs per database, median reported (default 3)")
    ap.add_argument("--prefill", type=int, default=0, metavar="M",
                    help="store M ratings in each live SQLite database first (default 0)")
    ap.add_argument("--only", choices=("all", "v2"), default="all",
                    help="v2: only the contract v2 phases and their baseline (default all)")
    args = ap.parse_args()
    if args.repeat < 1 or args.count < 1 or args.prefill < 0:
        ap.error("--count and --repeat must be at least 1, --prefill at least 0")
    n = args.count
    work = Path(tempfile.mkdtemp(prefix="hailong-bench-"))
    payloads = make_payloads(work, n)
    broker = Mosquitto(work / "mosquitto").start()
    pg = Postgres(Path("/tmp") / f"hailong-bench-pg-{broker.port}").start()
    try:
        say(f"broker on {broker.port}, PostgreSQL on {pg.port}, {n} ratings per phase")
        raw = broker_raw(broker, payloads, n)
        say(f"broker raw (mosquitto_sub -q 1): {raw:.0f}/s")
        # The v2 stream comes from V2_KIOSKS publishers at once (one topic each), with wider payloads:
        # its own baseline is the broker delivering that same stream to one subscriber.
        v2 = make_v2_payloads(work, n)
        raw_v2 = broker_raw(broker, v2, n, "raw2/v1")
        say(f"broker raw, the v2 stream from {V2_KIOSKS} publishers (mosquitto_sub -q 1): {raw_v2:.0f}/s")
        if args.only == "v2":
            return v2_phases(broker, pg, work, v2, n, raw, raw_v2)
        if args.prefill:
            prefill(work / "prefilled.db", args.prefill)

        def sqlite_db(k: int) -> str:
            db = work / f"live-{k}.db"
            if args.prefill:
                shutil.copy(work / "prefilled.db", db)
            return f"sqlite:///{db}"

        def run(url: str, label: str) -> float:
            return live(broker, work, url, payloads, n, label)

        held = f" into a database holding {args.prefill} ratings" if args.prefill else ""
        sqlite = median_of_runs(args.repeat, "sqlite", sqlite_db, held, run)
        postgres = median_of_runs(args.repeat, "postgres", lambda k: pg.fresh_database(f"bench{k}"), "", run)
        group = shared(broker, work, pg.fresh_database("bench_shared"), payloads, n, 2)
        say(f"postgres, 2 collectors in one shared group: {group:.0f}/s")
        v2_plain, v2_sqlite, v2_pg = v2_rates(broker, pg, work, v2, n)
        drain = backlog(broker, work, f"sqlite:///{work / 'backlog.db'}", payloads, n)
        first = FIRST_ROW.get("backlog", 0.0)
        say(f"backlog of {n} drained into SQLite in {drain:.2f} s from collector start; first row after "
            f"{first:.2f} s (start-up), then {n / max(drain - first, 1e-6):.0f}/s")
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(pg.workdir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    say(f"SHARE of the broker's raw rate: sqlite {sqlite / raw:.2f}x, postgres {postgres / raw:.2f}x")
    v2_share(v2_plain, v2_sqlite, v2_pg, raw, raw_v2)
    say(f"RESULT sqlite_per_s={sqlite:.0f} postgres_per_s={postgres:.0f} broker_raw_per_s={raw:.0f} "
        f"broker_raw_v2_per_s={raw_v2:.0f} v2_receipts_sqlite_per_s={v2_sqlite:.0f} "
        f"v2_receipts_postgres_per_s={v2_pg:.0f} backlog_{n // 1000}k_s={drain:.2f}")
    return 0


V2_WHERE = "WHERE device >= 'v2-' AND device < 'v2.'"  # no '%': the PostgreSQL driver reads it


def v2_rates(broker: Mosquitto, pg: Postgres, work: Path, v2: list, n: int) -> tuple[float, float, float]:
    """Contract v2 from V2_KIOSKS kiosks: SQLite without receipts, SQLite and PostgreSQL with them."""
    v2_plain = live(broker, work, f"sqlite:///{work / 'v2-plain.db'}", v2, n, "v2 no receipts sqlite", V2_WHERE,
                    receipts=False)
    say(f"contract v2 from {V2_KIOSKS} kiosks without receipts, SQLite: {v2_plain:.0f}/s")
    v2_sqlite = live(broker, work, f"sqlite:///{work / 'v2.db'}", v2, n, "v2 receipts sqlite", V2_WHERE)
    say(f"contract v2 from {V2_KIOSKS} kiosks with receipts, SQLite: {v2_sqlite:.0f}/s")
    v2_pg = live(broker, work, pg.fresh_database("bench_v2"), v2, n, "v2 receipts postgres", V2_WHERE)
    say(f"contract v2 from {V2_KIOSKS} kiosks with receipts, PostgreSQL: {v2_pg:.0f}/s")
    return v2_plain, v2_sqlite, v2_pg


def v2_share(plain: float, sqlite: float, pg: float, raw: float, raw_v2: float) -> None:
    say(f"SHARE v2 of the broker's raw rate for the same v2 stream: without receipts sqlite {plain / raw_v2:.2f}x, "
        f"with receipts sqlite {sqlite / raw_v2:.2f}x, postgres {pg / raw_v2:.2f}x "
        f"(of the v1 stream's raw rate: {plain / raw:.2f}x, {sqlite / raw:.2f}x, {pg / raw:.2f}x)")


def v2_phases(broker: Mosquitto, pg: Postgres, work: Path, v2: list, n: int, raw: float, raw_v2: float) -> int:
    plain, sqlite, postgres = v2_rates(broker, pg, work, v2, n)
    v2_share(plain, sqlite, postgres, raw, raw_v2)
    say(f"RESULT broker_raw_per_s={raw:.0f} broker_raw_v2_per_s={raw_v2:.0f} v2_receipts_sqlite_per_s={sqlite:.0f} "
        f"v2_receipts_postgres_per_s={postgres:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

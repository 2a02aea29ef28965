"""Real processes of the chain for end-to-end tests: collectors and simulated kiosks, with their configs."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from collector.storage.db import connect

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


class Proc:
    """A child process with its log file; kill -9 and restart keep the same command."""

    def __init__(self, name: str, cmd: list[str], workdir: Path):
        self.name, self.cmd, self.workdir = name, cmd, workdir
        self.log = workdir / f"{name}.log"
        self.p: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> "Proc":
        self.p = subprocess.Popen(self.cmd, cwd=self.workdir, env=_env(), stdout=open(self.log, "ab"),
                                  stderr=subprocess.STDOUT)
        return self

    def running(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def kill9(self) -> None:
        if self.running():
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
            self.kills += 1

    def stop(self, timeout: float = 20) -> int | None:
        if self.running():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode if self.p else None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def collector_config(workdir: Path, broker_port: int, db_url: str, client_id: str = "e2e-collector",
                     share_group: str | None = None, batch: int = 2000, session_expiry_s: int | None = None) -> Path:
    path = workdir / f"{client_id}.yaml"
    sub = {k: v for k, v in (("share_group", share_group), ("session_expiry_s", session_expiry_s)) if v is not None}
    group = "subscription: {" + ", ".join(f"{k}: {v}" for k, v in sub.items()) + "}\n" if sub else ""
    path.write_text(f"kind: collector\nbroker: {{host: 127.0.0.1, port: {broker_port}, client_id: {client_id}}}\n"
                    f"{group}database: {{url: '{db_url}'}}\nbatch: {{max_size: {batch}, max_wait_ms: 100}}\n"
                    f"log_interval_s: 2\n", encoding="utf-8")
    return path


def start_collector(workdir: Path, broker_port: int, db_url: str, **kw) -> Proc:
    cfg = collector_config(workdir, broker_port, db_url, **kw)
    name = kw.get("client_id", "e2e-collector")
    return Proc(name, [PY, "-m", "collector", "run", "--config", str(cfg)], workdir).start()


def start_tls_collector(workdir: Path, collector_block: str) -> tuple[Proc, str]:
    """A collector on the TLS broker whose account ``broker add-collector`` printed (``collector_block``, its
    CA and password files copied into ``workdir``), storing into workdir/ratings.db; and that database's URL."""
    db_url = f"sqlite:///{workdir / 'ratings.db'}"
    (workdir / "collector.yaml").write_text("kind: collector\n" + collector_block
                                            + f"database: {{url: '{db_url}'}}\nlog_interval_s: 2\n")
    return Proc("collector", [PY, "-m", "collector", "run", "--config", str(workdir / "collector.yaml")],
                workdir).start(), db_url


def fleet_show(root: Path, site: str, device: str) -> str:
    """The kiosk.yaml ``config fleet show`` assembles for one device of a fleet folder."""
    shown = subprocess.run([PY, "-m", "config", "fleet", "show", str(root), site, device],
                           capture_output=True, text=True, env=_env())
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def wait_subscribed(broker_port: int, db_url: str, timeout: float = 30) -> None:
    """Block until the collector stores what is published: a probe status lands in ``devices``.

    Messages published before a collector's first subscription ever existed have nowhere to queue,
    so tests start kiosks only after this (in the field the collector's session exists long before)."""
    import paho.mqtt.client as mqtt
    from broker.contract import Status, status_topic, utcnow

    probe = Status(site="probe", device="probe", state="online", ts=utcnow(), app_version="probe", outbox_depth=0)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker_port)
    client.loop_start()

    def seen() -> bool:
        client.publish(status_topic("probe", "probe"), probe.encode(), qos=1)
        db = connect(db_url)
        try:
            return bool(db.scalar("SELECT COUNT(*) FROM devices WHERE site = 'probe'"))
        finally:
            db.close()

    try:
        if not wait_for(seen, timeout, interval=0.3):
            raise TimeoutError("the collector did not subscribe in time")
    finally:
        client.loop_stop()
        client.disconnect()


def kiosk_config(workdir: Path, site: str, device: str, broker_port: int, repeat_window_s: float = 0) -> Path:
    path = workdir / f"kiosk-{site}-{device}.yaml"
    path.write_text(f"kind: kiosk\nsite: {site}\ndevice: {device}\n"
                    f"broker: {{host: 127.0.0.1, port: {broker_port}, keepalive_s: 5}}\n"
                    f"followup:\n  reasons:\n    - {{key: waiting, texts: {{vi: 'Chờ lâu', en: 'Long wait'}}}}\n"
                    f"repeat_window_s: {repeat_window_s}\noutbox: {{path: outbox-{site}-{device}.db}}\n"
                    f"status_interval_s: 5\n", encoding="utf-8")
    return path


def start_kiosk_sim(workdir: Path, site: str, device: str, broker_port: int, count: int, rate: float,
                    extra: tuple[str, ...] = ()) -> Proc:
    cfg = kiosk_config(workdir, site, device, broker_port)
    cmd = [PY, "-m", "kiosk", "simulate", "--config", str(cfg), "--count", str(count), "--rate", str(rate),
           "--journal", *extra]
    return Proc(f"kiosk-{site}-{device}", cmd, workdir).start()


def tap_until_stored(workdir: Path, kiosk_yaml: Path, count: int, db_url: str, collector: Proc) -> list[str]:
    """Run a simulated kiosk (journal on) for ``count`` taps as fast as it can; return the ids it
    created once the database holds exactly those."""
    kiosk = Proc("kiosk", [PY, "-m", "kiosk", "simulate", "--config", str(kiosk_yaml), "--count", str(count),
                           "--rate", "0", "--journal"], workdir).start()
    try:
        kiosk.p.wait(120)
    finally:
        kiosk.stop()
    assert kiosk.p.returncode == 0, kiosk.tail()
    created = journal_ids(workdir)
    assert len(created) == count
    assert wait_for(lambda: sorted(stored_ids(db_url)) == sorted(created), 30), collector.tail()
    return created


def journal_ids(workdir: Path) -> list[str]:
    """Every rating id the simulated kiosks created, read from their outbox journals."""
    ids: list[str] = []
    for db in sorted(workdir.glob("outbox-*.db")):
        conn = sqlite3.connect(db)
        try:
            ids += [r[0] for r in conn.execute("SELECT id FROM journal ORDER BY seq")]
        finally:
            conn.close()
    return ids


def query(db_url: str, sql: str, args=()) -> list[tuple]:
    """Rows of one query, on a connection of its own."""
    db = connect(db_url)
    try:
        return db.query(sql, args)
    finally:
        db.close()


def stored_ids(db_url: str) -> list[str]:
    db = connect(db_url)
    try:
        return [r[0] for r in db.query("SELECT id FROM ratings")]
    finally:
        db.close()


def rollup_total(db_url: str) -> int:
    db = connect(db_url)
    try:
        return int(db.scalar("SELECT COALESCE(SUM(n), 0) FROM rollup_hour") or 0)
    finally:
        db.close()


def stored_seqs(db_url: str, site: str, device: str) -> list[int]:
    """The v2 sequence numbers of one kiosk's stored ratings and events together, sorted, repeats kept: a
    message stored twice under two ids shows as a repeated seq, which the id key cannot catch."""
    return sorted(s for (s,) in query(db_url, "SELECT seq FROM ratings WHERE site = ? AND device = ? AND seq IS NOT NULL "
                                              "UNION ALL SELECT seq FROM events WHERE site = ? AND device = ?",
                                      (site, device, site, device)))


def collector_totals(proc: Proc) -> dict[str, int]:
    """The collector's own running totals (received, stored, duplicates, ...) from the last line it logged;
    ``stopped: ...`` after a clean stop."""
    import re

    lines = [ln for ln in proc.tail(1_000_000).splitlines() if "received=" in ln]
    assert lines, f"the collector logged no totals:\n{proc.tail()}"
    return {k: int(v) for k, v in re.findall(r"(received|stored|duplicates|rejected|ignored)=(\d+)", lines[-1])}


def unchanged(measure):
    """A predicate for ``wait_for``: true once ``measure()`` gives the same value twice in a row."""
    last: list = []

    def check() -> bool:
        now = measure()
        same = bool(last) and last[-1] == now
        last[:] = [now]
        return same
    return check


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def audit(workdir: Path, db_url: str) -> dict:
    """``collector audit`` of this year, as a manager runs it (with the workdir's collector config), as JSON."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    year = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).year
    config = next(p for p in (workdir / "e2e-collector.yaml", workdir / "collector.yaml") if p.exists())
    out = subprocess.run([PY, "-m", "collector", "audit", "--config", str(config), "--db", db_url,
                          "--period", str(year), "--format", "json"], cwd=workdir, capture_output=True, text=True,
                         timeout=120, env=_env())
    assert out.returncode in (0, 1), out.stdout[-2000:] + out.stderr
    return json.loads(out.stdout)


def outbox_numbered(outbox: Path) -> int:
    """How many messages (ratings and events) a kiosk's outbox numbered in its epoch."""
    conn = sqlite3.connect(outbox)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'seq_last'").fetchone()[0])
    finally:
        conn.close()


def assert_audit_whole(workdir: Path, db_url: str, site: str, device: str, outbox: Path | list[Path],
                       lost: int = 0, timeout: float = 30) -> dict:
    """created = received + reported lost: the audit's figures for one device id against the kiosk's own
    numbering (its outbox's seq_last; the sum over several outboxes, e.g. two kiosks sharing the id),
    waiting for the last status to tell the collector the end."""
    numbered = sum(outbox_numbered(o) for o in (outbox if isinstance(outbox, list) else [outbox]))

    def row() -> dict:
        found = [d for d in audit(workdir, db_url)["devices"] if (d["site"], d["device"]) == (site, device)]
        return found[0] if found else {}
    assert wait_for(lambda: row().get("created") == numbered, timeout), (numbered, row())
    got = row()
    assert (got["received"], got["missing"]) == (numbered - lost, lost), (numbered, lost, got)
    return got


def journal_ids_of(outbox: Path) -> list[str]:
    """The ids one kiosk's outbox journal holds (its ratings and events), in the order made; [] before it exists."""
    conn = sqlite3.connect(outbox)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM journal ORDER BY seq")]
    except sqlite3.Error:
        return []
    finally:
        conn.close()

"""Shared pieces of the collector tests (no tests here): a real collector process, a QoS 1 publisher
that resends what the broker did not acknowledge, rating payloads and database counts."""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import Rating, encode, utcnow
from collector.storage.db import connect

PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count()


def unique(name: str) -> str:
    return f"{name}{os.getpid()}x{next(_ids)}"


def _collector_cmd() -> list[str]:
    try:
        whole_cli = importlib.util.find_spec("collector.web.server") is not None
    except ModuleNotFoundError:
        whole_cli = False
    if whole_cli:
        return [PY, "-m", "collector", "run"]
    # The dashboard package is not in this tree yet: run the same subcommand without the dispatcher.
    return [PY, "-c", "import argparse,sys; from collector.ingest import service as s; p=argparse.ArgumentParser(); "
                      "s.add_arguments(p); sys.exit(s.main(p.parse_args()))"]


class CollectorProc:
    """``python -m collector run`` as a real process, restartable, killable with SIGKILL."""

    def __init__(self, workdir: Path, port: int, db_url: str, client_id: str | None = None,
                 prefix: str = "hailong/v1", share_group: str | None = None, max_size: int = 500,
                 max_wait_ms: int = 50, session_expiry_s: int = 3600, protocol: str = "5"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client_id = client_id or unique("col")
        self.db_url = db_url
        self.config = self.workdir / f"{self.client_id}.yaml"
        group = f"subscription: {{share_group: {share_group}, session_expiry_s: {session_expiry_s}}}\n" if share_group \
            else f"subscription: {{session_expiry_s: {session_expiry_s}}}\n"
        self.config.write_text(
            f"kind: collector\nbroker: {{host: 127.0.0.1, port: {port}, client_id: {self.client_id}, "
            f"topic_prefix: {prefix}, protocol: '{protocol}'}}\n{group}database: {{url: '{db_url}'}}\n"
            f"batch: {{max_size: {max_size}, max_wait_ms: {max_wait_ms}}}\nlog_interval_s: 1\n", encoding="utf-8")
        self.log = self.workdir / f"{self.client_id}.log"
        self.stats_file = self.workdir / f"{self.client_id}.stats.json"
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str) -> "CollectorProc":
        self.proc = subprocess.Popen([*_collector_cmd(), "--config", str(self.config), "--stats-file",
                                      str(self.stats_file), *extra], cwd=ROOT, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        self.wait_log("connected to broker", timeout=15)
        return self

    def wait_log(self, text: str, timeout: float = 15, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count(text) >= count:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"collector exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the collector log after {timeout}s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("collector did not stop within 15 s of SIGTERM")
        return self.proc.returncode

    def stats(self) -> dict:
        return json.loads(self.stats_file.read_text())

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def rating_payloads(n: int, site: str = "ubnd-test", device: str = "quay-01") -> list[bytes]:
    now = utcnow()
    return [encode(Rating(id=str(uuid.uuid4()), site=site, device=device, ts=now, rating=1 + i % 5, scale=5,
                          lang="vi", officer=f"officer {i % 7}", service="ho-tich")) for i in range(n)]


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):  # published while disconnected: resent with its chunk
        return False


class Publisher(threading.Thread):
    """Publishes payloads with QoS 1 in chunks and resends a chunk the broker did not fully acknowledge
    (as a kiosk does after a broken connection): every payload reaches the broker at least once."""

    def __init__(self, port: int, topic: str, payloads: list[bytes], chunk: int = 500, pause_s: float = 0.0):
        super().__init__(daemon=True)
        self.port, self.topic, self.payloads, self.chunk, self.pause_s = port, topic, payloads, chunk, pause_s
        self.sent = 0  # payloads acknowledged by the broker
        self.resends = 0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # surfaced by join_ok
            self.error = exc

    def _client(self) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("pub"), protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        while True:
            try:
                c.connect("127.0.0.1", self.port)
                break
            except OSError:
                time.sleep(0.2)
        c.loop_start()
        return c

    def _run(self) -> None:
        client = self._client()
        deadline = time.monotonic() + 120
        i = 0
        while i < len(self.payloads):
            part = self.payloads[i:i + self.chunk]
            infos = [client.publish(self.topic, p, qos=1) for p in part]
            end = time.monotonic() + 10
            while time.monotonic() < end and not all(_acked(x) for x in infos):
                time.sleep(0.01)
            if all(_acked(x) for x in infos):
                i += len(part)
                self.sent = i
                if self.pause_s:
                    time.sleep(self.pause_s)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"publisher stuck at {i}")
            self.resends += 1
            client.loop_stop()
            client.disconnect()
            client = self._client()
        client.disconnect()
        client.loop_stop()

    def join_ok(self, timeout: float = 120) -> None:
        self.join(timeout)
        assert not self.is_alive(), "publisher did not finish"
        if self.error:
            raise self.error


def counts(db_url: str) -> dict:
    db = connect(db_url, migrate=False)
    try:
        return {"ratings": db.scalar("SELECT COUNT(*) FROM ratings"),
                "distinct": db.scalar("SELECT COUNT(DISTINCT id) FROM ratings"),
                "rollup": db.scalar("SELECT COALESCE(SUM(n), 0) FROM rollup_hour") or 0,
                # rejected messages: a stored reject counts its repeats (collector/ingest/rejects.py)
                "rejects": int(db.scalar("SELECT COALESCE(SUM(repeats), 0) FROM rejects") or 0)}
    finally:
        db.close()


def wait_count(db_url: str, n: int, timeout: float = 60, table: str = "ratings") -> int:
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        try:
            got = counts(db_url)[table]
        except Exception:  # SQLite file not created yet
            got = -1
        if got >= n:
            return got
        time.sleep(0.2)
    return got

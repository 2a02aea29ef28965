"""Real servers for tests: Mosquitto and PostgreSQL on free loopback ports, in temporary folders."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# Headless Chromium for the dashboard tests: no sandbox (root in a container), no GPU, nothing fetched.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Mosquitto:
    """A Mosquitto broker with persistence in its own folder; restartable on the same port."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "", conf_file: Path | None = None):
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(self.exe):
            raise RuntimeError("mosquitto is not installed: run `make setup` (apt-get install mosquitto)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "mosquitto.log"
        if conf_file is None:
            conf_file = self.workdir / "mosquitto.conf"
            user = "user root\n" if os.geteuid() == 0 else ""
            conf_file.write_text(
                f"{user}listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                f"persistence true\npersistence_location {self.workdir}/\n"
                f"max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 100\n"
                f"log_dest stdout\nlog_type error\nlog_type warning\n{extra_conf}\n")
        self.conf = conf_file

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Mosquitto":
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-2000:]}")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    exe = shutil.which(name)
    if not exe:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make setup` (apt-get install postgresql)")
    return exe


class Postgres:
    """A throwaway PostgreSQL cluster; as root it runs as the 'postgres' user, as PostgreSQL demands."""

    def __init__(self, workdir: Path, port: int | None = None, durable: bool = False):
        self.workdir = Path(workdir)
        # Fast by default (tests that never crash the server); durable when a test kills it.
        self.durable = durable
        self.data = self.workdir / "pgdata"
        self.port = port or free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        out = subprocess.run([*self.as_user, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed: {out.stderr.strip()[-1500:]} "
                               f"(the folder must be reachable by the postgres user: use one under /tmp)")

    def start(self) -> "Postgres":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.workdir, "postgres", "postgres")
            os.chmod(self.workdir, 0o755)
            # the folder chain must be traversable by the postgres user
            for parent in self.workdir.parents:
                if str(parent).startswith("/tmp/") or str(parent) == "/tmp":
                    continue
                try:
                    os.chmod(parent, os.stat(parent).st_mode | 0o011)
                except OSError:
                    pass
        if not self.data.exists():
            self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--locale=C")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.workdir} "
                f"-c max_connections=100")
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.workdir / "pg.log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def fresh_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

"""Run Mosquitto on a broker folder in the foreground, and reload it after an account change."""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from .errors import SetupError

PID_FILE = "mosquitto.pid"


def mosquitto_exe() -> str:
    exe = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                                             if os.path.exists(p)), None)
    if not exe:
        raise SetupError("Mosquitto is not installed: run `sudo apt-get install mosquitto` "
                         "(or try things out with `python -m broker embedded`)")
    return exe


def run(folder: Path) -> None:
    """Replace this process with Mosquitto: the pid recorded is Mosquitto's own, and signals
    from systemd or Ctrl-C reach it directly."""
    folder = Path(folder).resolve()
    conf = folder / "mosquitto.conf"
    if not conf.exists():
        raise SetupError(f"{conf} does not exist; run `python -m broker init --dir {folder}` first")
    exe = mosquitto_exe()
    (folder / PID_FILE).write_text(f"{os.getpid()}\n")
    os.execv(exe, [exe, "-c", str(conf)])


def running_pid(folder: Path) -> int | None:
    """The pid recorded by `run`, if that process is still a Mosquitto."""
    try:
        pid = int((Path(folder) / PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"mosquitto" in cmdline else None


def reload(folder: Path) -> str:
    """SIGHUP makes Mosquitto re-read the password file and the ACL without dropping clients."""
    pid = running_pid(folder)
    if pid is None:
        return ("if Mosquitto already runs on this folder, reload it: "
                "`sudo systemctl reload hailong-broker` or `kill -HUP <pid of mosquitto>`")
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        return f"could not reload Mosquitto (pid {pid}: {exc.strerror}); run `kill -HUP {pid}` as its user"
    return f"reloaded the running Mosquitto (pid {pid})"

"""Changing a RUNNING broker: accounts through the dynamic-security control topic, retained messages cleared.

The plugin reads its file only at start (a SIGHUP does not re-read it), so add/remove also send
the change to a running Mosquitto. The tooling logs in as the folder's admin account through a
Unix socket inside the broker folder (``data/`` belongs to the broker's user, mode 0700), so the
control topic is never reachable from the network.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .acl import ADMIN_CLIENT_ID, CONTROL_TOPIC
from .errors import SetupError

SOCKET = "data/mosquitto.sock"
ADMIN = "broker-admin"
TIMEOUT_S = 5.0


class NotRunning(Exception):
    """Nothing answers on the folder's socket: Mosquitto is not running on this folder."""


def admin_password(folder: Path) -> str:
    path = Path(folder) / "secrets" / f"{ADMIN}.pass"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SetupError(f"{path} is missing; run `python -m broker init --dir {folder}` again, "
                         f"then restart Mosquitto") from None
    except OSError as exc:
        raise SetupError(f"cannot read {path} ({exc.strerror}): run this command as root or as the folder's owner") from None


class Control:
    """One admin session on the broker running on ``folder``."""

    def __init__(self, folder: Path, password: str, timeout_s: float = TIMEOUT_S):
        self.path = Path(folder) / SOCKET
        self.timeout_s = timeout_s
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=ADMIN_CLIENT_ID, protocol=mqtt.MQTTv5, transport="unix")
        self.c.username_pw_set(ADMIN, password)
        self._connected = threading.Event()
        self._refused: str | None = None
        self._responses: dict[str, dict] = {}
        self.retained: set[str] = set()  # topics seen with a retained, non-empty message
        self._got = threading.Condition()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, props):
        if reason_code.is_failure:
            self._refused = str(reason_code)
        self._connected.set()

    def _on_message(self, client, userdata, msg):
        if msg.topic != f"{CONTROL_TOPIC}/response":
            if msg.retain and msg.payload:
                self.retained.add(msg.topic)
            return
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        with self._got:
            for r in body.get("responses", []):
                self._responses[r.get("correlationData", "")] = r
            self._got.notify_all()

    def __enter__(self) -> "Control":
        if not self.path.exists():
            raise NotRunning()
        try:
            self.c.connect(str(self.path))
        except PermissionError:
            raise SetupError(f"cannot open {self.path}: run this command as root or as the broker's user") from None
        except OSError:  # a socket file left by a broker that is gone
            raise NotRunning() from None
        self.c.loop_start()
        if not self._connected.wait(self.timeout_s) or self._refused:
            self.close()
            raise SetupError(f"the running Mosquitto refused the admin account ({self._refused or 'no answer'}); "
                             f"restart it so it reads {Path(self.path).parent / 'dynsec.json'} again")
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe(f"{CONTROL_TOPIC}/response", qos=1)
        if not done.wait(self.timeout_s):
            self.close()
            raise SetupError("the running Mosquitto did not confirm the admin subscription; restart it")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def run(self, commands: list[dict]) -> list[dict]:
        """Send plugin commands; returns each one's response (``error`` set when it failed)."""
        tagged = [{**cmd, "correlationData": uuid.uuid4().hex} for cmd in commands]
        self.c.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1).wait_for_publish(TIMEOUT_S)
        deadline = time.monotonic() + TIMEOUT_S
        keys = [cmd["correlationData"] for cmd in tagged]
        with self._got:
            while not all(k in self._responses for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SetupError("the running Mosquitto did not answer the account change; restart it so it "
                                     "reads the accounts from its file")
                self._got.wait(left)
            return [self._responses.pop(k) for k in keys]

    def find_retained(self, filters: list[str], settle_s: float = 0.5) -> set[str]:
        """Topics under ``filters`` holding a retained message (the broker sends them on subscribe)."""
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe([(f, 1) for f in filters])
        done.wait(TIMEOUT_S)
        time.sleep(settle_s)
        self.c.unsubscribe(filters)
        return set(self.retained)

    def clear_retained(self, topics: list[str]) -> None:
        """An empty retained message removes what the broker keeps on a topic."""
        infos = [self.c.publish(t, b"", qos=1, retain=True) for t in topics]
        for info in infos:
            info.wait_for_publish(TIMEOUT_S)


def account_commands(username: str, password: str | None, role: dict, textname: str) -> list[dict]:
    """Replace one account: the old client is deleted first, which also disconnects it."""
    cmds = [{"command": "deleteClient", "username": username},
            {"command": "deleteRole", "rolename": role["rolename"]}]
    if password is not None:
        cmds += [{"command": "createRole", **role},
                 {"command": "createClient", "username": username, "password": password, "textname": textname,
                  "roles": [{"rolename": role["rolename"]}]}]
    return cmds


def failures(responses: list[dict]) -> list[str]:
    """Errors that matter: deleting what does not exist yet is expected when an account is new."""
    return [f"{r.get('command')}: {r['error']}" for r in responses
            if r.get("error") and not (r.get("command", "").startswith("delete") and "not found" in r["error"])]

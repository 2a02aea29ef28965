"""The state file of Mosquitto's dynamic-security plugin, written from our own state.

The plugin (shipped with Mosquitto 2.0 as ``mosquitto_dynamic_security.so``) authenticates every
client and checks publish, delivery AND subscribe against per-account roles. It reads this file
only when Mosquitto starts; changes to a running broker go through its control topic
(see ``broker/control.py``), and the plugin then saves the file itself in the same format.
"""
from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

from . import acl
from .errors import SetupError

PLUGIN_NAME = "mosquitto_dynamic_security.so"
DYNSEC_FILE = "data/dynsec.json"  # data/ belongs to the broker's user: the plugin saves next to it
KNOWN_PLUGIN_GLOBS = (
    "/usr/lib/*-linux-gnu/" + PLUGIN_NAME,      # Debian, Ubuntu, Raspberry Pi OS
    "/usr/lib/" + PLUGIN_NAME,
    "/usr/lib64/" + PLUGIN_NAME,                # Fedora, RHEL
    "/usr/local/lib/" + PLUGIN_NAME,            # built from source
    "/usr/local/lib64/" + PLUGIN_NAME,
    "/opt/homebrew/lib/" + PLUGIN_NAME,
    "/usr/local/opt/mosquitto/lib/" + PLUGIN_NAME,
)


def _from_dpkg() -> list[str]:
    if not shutil.which("dpkg"):
        return []
    try:
        out = subprocess.run(["dpkg", "-L", "mosquitto"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().endswith("/" + PLUGIN_NAME)]


def plugin_path() -> Path:
    """Where this machine's Mosquitto keeps the dynamic-security plugin."""
    override = os.environ.get("HAILONG_DYNSEC_PLUGIN")
    candidates = [override] if override else _from_dpkg() + sorted(p for g in KNOWN_PLUGIN_GLOBS for p in glob.glob(g))
    for c in candidates:
        if c and os.path.isfile(c):
            return Path(c)
    where = f"HAILONG_DYNSEC_PLUGIN={override} does not exist" if override else \
        "looked in `dpkg -L mosquitto` and " + ", ".join(KNOWN_PLUGIN_GLOBS)
    raise SetupError(f"Mosquitto's dynamic-security plugin {PLUGIN_NAME} was not found ({where}); install "
                     f"Mosquitto 2.0 or later (`sudo apt-get install mosquitto`), or set HAILONG_DYNSEC_PLUGIN "
                     f"to the plugin's path")


def password_fields(hashed: str) -> dict:
    """``$7$<iterations>$<salt>$<hash>`` (Mosquitto's password-file format) as the plugin's three fields."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7" or len(base64.b64decode(salt)) != 12 or len(base64.b64decode(digest)) != 64:
            raise ValueError
        return {"salt": salt, "password": digest, "iterations": int(iterations)}
    except ValueError:
        raise SetupError("an account's password hash in state.json is not PBKDF2-SHA512 with a 12-byte salt; "
                         "rotate it with add-device/add-collector") from None


def role(account: acl.Account, prefix: str) -> dict:
    """One role per account, named after it; every rule allows, anything unlisted is refused."""
    return {"rolename": account.username,
            "acls": [{"acltype": r.acltype, "topic": r.topic, "priority": 0, "allow": True}
                     for r in acl.rules(account, prefix)]}


def client(account: acl.Account, hashed: str) -> dict:
    label = f"{account.kind} {account.site}/{account.device}" if account.kind == "device" else account.kind
    pinned = {"clientid": acl.ADMIN_CLIENT_ID} if account.kind == "admin" else {}
    return {"username": account.username, "textname": label, **password_fields(hashed), **pinned,
            "roles": [{"rolename": account.username}]}


def render(accounts: list[tuple[acl.Account, str]], prefix: str) -> dict:
    """The plugin's whole state: ``accounts`` pairs each account with its password hash."""
    ordered = sorted(accounts, key=lambda a: a[0].username)
    return {
        # Nothing is allowed by default, not even receiving: each right comes from a role.
        "defaultACLAccess": {acl.PUBLISH: False, acl.RECEIVE: False, "subscribe": False, "unsubscribe": True},
        "clients": [client(a, h) for a, h in ordered],
        "groups": [],
        "roles": [role(a, prefix) for a, _ in ordered],
    }


def to_json(state: dict) -> str:
    return json.dumps(state, indent=2) + "\n"

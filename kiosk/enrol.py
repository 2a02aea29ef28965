"""``python -m kiosk enrol kiosk.tar``: set up a new kiosk from the bundle the province made.

The bundle (``python -m broker add-device ... --enrol-bundle``) holds kiosk.yaml, the CA, the
account's password file (and client certificate), fleet.pub and identity.json. Only those plain files
are taken (no paths, no links, nothing large), secrets are written readable by their owner only, an
existing kiosk.yaml is kept as kiosk.yaml.before-enrol, the config is checked like `python -m config
check` does, and a connection to the broker is tried so the person at the counter knows at once.
"""
from __future__ import annotations

import json
import os
import re
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MAX_MEMBER_BYTES = 1 << 20
_ACCOUNT_FILE = re.compile(r"^[a-z0-9][a-z0-9-]*--[a-z0-9][a-z0-9-]*\.(pass|crt|key)$")
_FIXED = ("kiosk.yaml", "ca.crt", "fleet.pub", "identity.json")


class BundleError(Exception):
    """A bundle that cannot be used; the message says why and what to do."""


@dataclass
class Enrolled:
    folder: Path
    site: str
    device: str
    written: list[str] = field(default_factory=list)
    kept: str | None = None            # the previous kiosk.yaml, moved aside
    broker: str = "not tried"          # "connected" or why not


def read_bundle(path: Path) -> dict[str, bytes]:
    try:
        tar = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{path}: not an enrolment bundle ({exc}); make one with "
                          f"`python -m broker add-device SITE DEVICE --enrol-bundle kiosk.tar`") from None
    files: dict[str, bytes] = {}
    with tar:
        for m in tar.getmembers():
            name = m.name
            if not m.isfile() or "/" in name or name in (".", "..") or not (name in _FIXED or _ACCOUNT_FILE.match(name)):
                raise BundleError(f"{path}: unexpected entry {name!r}; a bundle holds only plain files "
                                  f"({', '.join(_FIXED)} and the account's .pass/.crt/.key)")
            if m.size > MAX_MEMBER_BYTES:
                raise BundleError(f"{path}: {name} is {m.size} bytes, too large for a bundle file")
            files[name] = tar.extractfile(m).read()
    for needed in ("kiosk.yaml", "identity.json"):
        if needed not in files:
            raise BundleError(f"{path}: {needed} is missing; make the bundle again")
    return files


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install(bundle: Path, folder: Path) -> Enrolled:
    files = read_bundle(bundle)
    try:
        ident = json.loads(files["identity.json"])
        site, device = ident["site"], ident["device"]
    except (ValueError, KeyError, TypeError):
        raise BundleError(f"{bundle}: identity.json is damaged; make the bundle again") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = Enrolled(folder, site, device)
    target = folder / "kiosk.yaml"
    if target.exists():
        kept = folder / "kiosk.yaml.before-enrol"
        os.replace(target, kept)
        done.kept = str(kept)
    for name, data in files.items():
        secret = name.endswith((".pass", ".key"))
        _write(folder / name, data, 0o600 if secret else 0o644)
        done.written.append(name)
    return done


def check_broker(cfg, timeout_s: float = 10.0) -> str:
    """Open one MQTT connection with the kiosk's own settings: "connected" or why not."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from broker.mqtt_client import apply_connection, protocol_of

    b = cfg.broker
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=b.client_id or f"enrol-{cfg.site}-{cfg.device}"[:64],
                         protocol=protocol_of(b))
    state: dict = {}
    client.on_connect = lambda _c, _u, _f, rc, _p: state.setdefault("rc", rc)
    try:
        apply_connection(client, b)
        client.connect(b.host, b.port, keepalive=b.keepalive_s)
    except Exception as exc:  # DNS, refused, TLS: all mean the same to the person at the counter
        return f"cannot reach {b.host}:{b.port}: {type(exc).__name__}: {exc}"
    deadline = time.monotonic() + timeout_s
    while "rc" not in state and time.monotonic() < deadline:
        if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
            break
    client.disconnect()
    rc = state.get("rc")
    if rc is None:
        return f"no answer from {b.host}:{b.port} within {timeout_s:.0f} s"
    return "connected" if not rc.is_failure else f"the broker refused this kiosk's account: {rc}"

"""A Mosquitto bridge: a commune broker forwards its kiosks' topics to the provincial broker.

The snippet goes into <folder>/conf.d/, which mosquitto.conf includes. Up go ratings, statuses and
events; down come the collectors' receipts and time. With a persistent bridge session (cleansession
false) and persistence on, messages published while the uplink is down wait in the commune broker's
queue (and receipts in the province broker's) and leave when it returns. The bridge is a forwarding
hop, not a durable one: a kiosk keeps each rating until its receipt comes back down, and sends it
again otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from broker.contract import is_slug

from .errors import SetupError
from .files import chown_to, write_file
from .state import load_state


@dataclass
class BridgeSpec:
    name: str
    remote_host: str
    prefix: str
    remote_port: int = 8883
    ca: Path | None = None
    username: str | None = None
    password: str | None = None
    qos: int = 1
    sites: tuple[str, ...] = ()  # only these sites' topics (the remote account's --sites); empty: all

    @classmethod
    def from_config(cls, b, prefix: str) -> "BridgeSpec":
        try:
            password = b.password.resolve() if b.password else None
        except ValueError as exc:
            raise SetupError(f"bridge {b.name}: {exc}") from None
        return cls(b.name, b.remote_host, prefix, b.remote_port, b.ca, b.username, password, b.qos, tuple(b.sites))


def render(spec: BridgeSpec, client_id: str) -> str:
    lines = [
        f"# bridge {spec.name}: ratings, statuses and events go out to {spec.remote_host}:{spec.remote_port}, "
        "receipts and time come in",
        f"connection {spec.name}",
        f"address {spec.remote_host}:{spec.remote_port}",
        *[f"topic {spec.prefix}/{site}/+/{kind} out {spec.qos}" for site in spec.sites or ("+",)
          for kind in ("rating", "status", "event")],
        *[f"topic {spec.prefix}/{site}/+/receipt in {spec.qos}" for site in spec.sites or ("+",)],
        f"topic {spec.prefix}/time in 0",
        "cleansession false",  # the remote keeps our session; our side queues while the link is down
        f"remote_clientid {client_id}",
        f"local_clientid {client_id}-local",
        "bridge_protocol_version mqttv311",
        "try_private false",  # the remote may not be Mosquitto (EMQX in a province)
        "restart_timeout 5 30",  # back within half a minute of the link (backoff between 5 and 30 s)
        "start_type automatic",
        "notifications false",  # status is already in the contract's retained status topics
        "queue_qos0_messages false",
    ]
    if spec.username:
        lines.append(f"remote_username {spec.username}")
    if spec.password:
        lines.append(f"remote_password {spec.password}")
    if spec.ca:
        lines.append(f"bridge_cafile {Path(spec.ca).resolve()}")
    elif spec.remote_port != 1883:
        # no CA given: trust the system's CAs (a provincial broker with a public certificate)
        lines.append("bridge_capath /etc/ssl/certs")
    return "\n".join(lines) + "\n"


def write_bridge(folder: Path, spec: BridgeSpec) -> Path:
    folder = Path(folder).resolve()
    if not is_slug(spec.name):
        raise SetupError(f"bridge name {spec.name!r} is not a slug: use lower-case letters, digits and '-'")
    bad = [s for s in spec.sites if not is_slug(s)]
    if bad:
        raise SetupError(f"bridge {spec.name}: site {bad[0]!r} is not a slug: use lower-case letters, digits and '-'")
    if spec.ca is not None and not Path(spec.ca).exists():
        raise SetupError(f"CA file {spec.ca} does not exist; copy the provincial broker's ca.crt here first")
    state = load_state(folder)
    host = state.settings.hostnames[0].replace(".", "-")
    path = folder / "conf.d" / f"bridge-{spec.name}.conf"
    write_file(path, render(spec, f"bridge-{spec.name}-{host}"[:64]), 0o600)  # may hold a password
    chown_to(state.settings.run_as, path)
    return path


def read_password_file(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SetupError(f"cannot read the password file {path}: {exc.strerror}") from None

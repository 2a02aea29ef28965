"""Signed configs for a fleet of kiosks: the province's Ed25519 key, signing, checking, pushing.

The province keeps the private key (``fleet.key``) on the machine that pushes; kiosks hold only
the public key (``fleet.pub``). A pushed config is the device's whole merged kiosk.yaml in a
``ConfigPush`` message, retained on the device's ``config`` topic, so a kiosk that is offline
during a push finds it when it returns. The signature covers site, device, time and the YAML's
SHA-256, so a config cannot be replayed onto another device.
"""
from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.contract import ConfigPush, utcnow

PRIVATE_NAME, PUBLIC_NAME = "fleet.key", "fleet.pub"


class FleetKeyError(Exception):
    """A key that cannot be made, read or used; the message says which file and what to do."""


class ConfigRefused(Exception):
    """A pushed config the kiosk must not apply. ``reason`` is short and machine-readable."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(folder: Path, force: bool = False) -> tuple[Path, Path]:
    """Write fleet.key (private, mode 0600) and fleet.pub into ``folder``; never overwrite a key
    unless ``force`` (every kiosk would then refuse configs until it gets the new public key)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    if priv_path.exists() and not force:
        raise FleetKeyError(f"{priv_path} exists; kiosks trust its public key. Pass --force to replace it "
                            f"(then give every kiosk the new {PUBLIC_NAME})")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv_path, pub_path


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise FleetKeyError(f"{path}: no such key file; make one with `python -m broker fleet keygen`") from None
    except (OSError, ValueError, TypeError) as exc:
        raise FleetKeyError(f"{path}: not a fleet private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise FleetKeyError(f"{path}: not an Ed25519 key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except FileNotFoundError:
        raise FleetKeyError(f"{path}: no such public key file (fleet.pub from the province)") from None
    except (OSError, ValueError) as exc:
        raise FleetKeyError(f"{path}: not a fleet public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise FleetKeyError(f"{path}: not an Ed25519 public key")
    return key


def sign(yaml_text: str, site: str, device: str, key: Ed25519PrivateKey, ts: datetime | None = None) -> ConfigPush:
    digest = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
    unsigned = ConfigPush(site=site, device=device, ts=ts or utcnow(), yaml=yaml_text, sha256=digest,
                          key_id=key_id(key.public_key()), sig="AA==")
    sig = base64.b64encode(key.sign(unsigned.signed_bytes())).decode("ascii")
    return unsigned.model_copy(update={"sig": sig})


def verify(push: ConfigPush, site: str, device: str, keys: Iterable[Ed25519PublicKey]) -> None:
    """Raise ConfigRefused unless the push is for this device, intact and signed by a trusted key."""
    if (push.site, push.device) != (site, device):
        raise ConfigRefused("wrong_device", f"config is for {push.site}/{push.device}, this kiosk is {site}/{device}")
    if hashlib.sha256(push.yaml.encode("utf-8")).hexdigest() != push.sha256:
        raise ConfigRefused("bad_hash", "the YAML does not match its SHA-256")
    try:
        sig = base64.b64decode(push.sig, validate=True)
    except ValueError:
        raise ConfigRefused("bad_signature", "signature is not base64") from None
    for key in keys:
        if key_id(key) != push.key_id:
            continue
        try:
            key.verify(sig, push.signed_bytes())
            return
        except InvalidSignature:
            raise ConfigRefused("bad_signature", "the signature does not match the fleet key") from None
    raise ConfigRefused("unknown_key", f"signed with key {push.key_id}, which this kiosk does not trust")


def publish_configs(pushes: list[ConfigPush], conn, client_id: str | None = None,
                    timeout_s: float = 30.0, progress=lambda done, total: None,
                    reasons: dict[str, str] | None = None) -> list[str]:
    """Publish each push retained at QoS 1 and wait for every PUBACK. Returns the topics the broker
    did not confirm (empty when all were accepted); ``reasons`` (when given) gets why, by topic: the
    PUBACK's reason code, or how the connection ended (Mosquitto closes it on a message above its
    message_size_limit)."""
    import time

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from broker.contract import config_topic, encode
    from broker.mqtt_client import apply_connection, protocol_of

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or conn.client_id or "",
                         protocol=protocol_of(conn))
    apply_connection(client, conn)
    client.max_inflight_messages_set(50)
    state = {"connected": None, "acked": set(), "failed": {}, "closed": None}

    def on_connect(_c, _u, _f, reason_code, _p):
        state["connected"] = not reason_code.is_failure
        if reason_code.is_failure:
            state["refused"] = str(reason_code)

    def on_publish(_c, _u, mid, reason_code, _p):
        if reason_code.is_failure:
            state["failed"][mid] = str(reason_code)
        else:
            state["acked"].add(mid)

    def on_disconnect(_c, _u, _f, reason_code, _p):
        state["closed"] = str(reason_code)

    client.on_connect, client.on_publish, client.on_disconnect = on_connect, on_publish, on_disconnect
    client.connect(conn.host, conn.port, keepalive=conn.keepalive_s)
    deadline = time.monotonic() + timeout_s
    while state["connected"] is None and time.monotonic() < deadline:
        client.loop(0.1)
    if not state["connected"]:
        raise ConnectionError(f"broker {conn.host}:{conn.port} refused or did not answer: "
                              f"{state.get('refused', 'no CONNACK')}")
    mids: dict[int, str] = {}
    for push in pushes:
        topic = config_topic(push.site, push.device, conn.topic_prefix)
        info = client.publish(topic, encode(push), qos=1, retain=True)
        mids[info.mid] = topic
        client.loop(0)
    last = -1
    while (len(state["acked"]) + len(state["failed"]) < len(mids) and state["closed"] is None
           and time.monotonic() < deadline):
        client.loop(0.1)
        done = len(state["acked"])
        if done != last:
            progress(done, len(mids))
            last = done
    if state["closed"] is None:
        client.disconnect()
        client.loop(0.1)
    missing = sorted(topic for mid, topic in mids.items() if mid not in state["acked"])
    if reasons is not None:
        for mid, topic in mids.items():
            if mid in state["failed"]:
                reasons[topic] = f"refused: {state['failed'][mid]}"
            elif mid not in state["acked"]:
                reasons[topic] = (f"the broker closed the connection ({state['closed']})" if state["closed"]
                                  else "no answer in time")
    return missing

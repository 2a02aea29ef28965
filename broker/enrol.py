"""Enrolment bundles: everything a new kiosk needs in one file, made where the accounts are kept.

``python -m broker add-device SITE DEVICE --enrol-bundle kiosk.tar`` writes a tar holding the
kiosk's identity and a ready kiosk.yaml (broker address, its own account, TLS, the fleet's public
key), the CA certificate, the account's password file (and client certificate, when the broker asks
for one) and fleet.pub. On the device ``python -m kiosk enrol kiosk.tar`` puts them in place and
checks them. The tar holds a password: carry it like one (a USB stick handed over, not e-mail).
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import yaml

from .errors import SetupError

IDENTITY = "identity.json"
# Only these names may be in a bundle (and the account's own .pass/.crt/.key): the kiosk refuses others.
FIXED_NAMES = ("kiosk.yaml", "ca.crt", "fleet.pub", IDENTITY)


def kiosk_yaml(site: str, device: str, broker_block: str, fleet_pub: bool) -> str:
    block = yaml.safe_load(broker_block)
    cfg = {"kind": "kiosk", "site": site, "device": device, **block, "outbox": {"path": "/var/lib/hailong-kiosk/outbox.db"}}
    if fleet_pub:
        cfg["fleet"] = {"public_key": "fleet.pub"}
    head = (f"# kiosk.yaml of {site}/{device}, written by `python -m broker add-device --enrol-bundle`.\n"
            f"# Faces, languages and reasons come from the fleet's pushed config (or edit them here).\n")
    return head + yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)


def make_bundle(folder: Path, site: str, device: str, issued, out: Path, fleet_pub: Path | None = None) -> Path:
    """Write the bundle for an account ``issued`` by setup.add_device."""
    folder = Path(folder).resolve()
    username = issued.username
    block = "\n".join(line for line in issued.yaml_block.splitlines() if not line.startswith("#")) + "\n"
    files: dict[str, tuple[bytes, int]] = {
        "kiosk.yaml": (kiosk_yaml(site, device, block, fleet_pub is not None).encode("utf-8"), 0o644),
        f"{username}.pass": (Path(issued.password_file).read_bytes(), 0o600),
        IDENTITY: (json.dumps({"site": site, "device": device, "username": username,
                               "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode(), 0o644),
    }
    conn = yaml.safe_load(block)["broker"]
    if "tls" in conn:
        files["ca.crt"] = ((folder / "certs" / "ca.crt").read_bytes(), 0o644)
        for ext, mode in (("crt", 0o644), ("key", 0o600)):
            if conn["tls"].get("cert" if ext == "crt" else "key"):
                files[f"{username}.{ext}"] = ((folder / "clients" / f"{username}.{ext}").read_bytes(), mode)
    if fleet_pub is not None:
        try:
            files["fleet.pub"] = (Path(fleet_pub).read_bytes(), 0o644)
        except OSError as exc:
            raise SetupError(f"--fleet-pub {fleet_pub}: {exc.strerror}; give the fleet.pub made by "
                             f"`python -m broker fleet keygen`") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    tmp.chmod(0o600)
    tmp.replace(out)
    return out

"""``python -m kiosk enrol kiosk.tar``: set up a new kiosk from the bundle the province made.

The bundle (``python -m broker add-device ... --enrol-bundle``) holds kiosk.yaml, the CA, the
account's password file (and client certificate), fleet.pub and identity.json. Only those plain files
are taken (no paths, no links, nothing large), secrets are written readable by their owner only, an
existing kiosk.yaml is kept as kiosk.yaml.before-enrol, the config is checked like `python -m config
check` does, and a connection to the broker is tried so the person at the counter knows at once.

The same files may come as the text of the enrolment QR code (``--enrol-qr``), scanned by a tablet or
a phone and saved to a file or piped in. A code that carries only the CA's fingerprint is completed
with a CA file given by the technician (or already in the folder), taken only if its fingerprint
matches: nothing is downloaded, so a wrong network cannot slip in another CA.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from broker.enrol import QR_PREFIX, ca_fingerprint, province_fingerprint  # the enrolment QR code's format

MAX_MEMBER_BYTES = 1 << 20
_ACCOUNT_FILE = re.compile(r"^[a-z0-9][a-z0-9-]*--[a-z0-9][a-z0-9-]*\.(pass|crt|key)$")
_FIXED = ("kiosk.yaml", "ca.crt", "fleet.pub", "pin.key", "identity.json")
MAX_QR_TEXT = 8000   # a QR code holds at most 4,296 alphanumeric characters


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
    province: str = ""                 # the province code (CA and fleet key) the clerk compares


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


def _check_names(source, names) -> None:
    for name in names:
        if "/" in name or name in (".", "..") or not (name in _FIXED or _ACCOUNT_FILE.match(name)):
            raise BundleError(f"{source}: unexpected entry {name!r}; enrolment carries only plain files "
                              f"({', '.join(_FIXED)} and the account's .pass/.crt/.key)")


def read_qr_text(text: str, source: str = "QR code", folder: Path | None = None,
                 ca: Path | None = None) -> dict[str, bytes]:
    """The files carried by the text of an enrolment QR code (whitespace and case do not matter)."""
    packed = "".join(text.split()).upper()
    if not packed.startswith(QR_PREFIX):
        raise BundleError(f"{source}: not the text of an enrolment QR code (it starts with {QR_PREFIX}); "
                          f"make one with `python -m broker add-device SITE DEVICE --enrol-qr kiosk.png`")
    data = packed[len(QR_PREFIX):]
    try:
        raw = zlib.decompressobj().decompress(base64.b32decode(data + "=" * (-len(data) % 8)), MAX_MEMBER_BYTES)
        body = json.loads(raw)
        carried = {str(k): str(v).encode("utf-8") for k, v in body["f"].items()}
    except (binascii.Error, ValueError, zlib.error, KeyError, TypeError, AttributeError):
        raise BundleError(f"{source}: the QR code's text is damaged or incomplete; scan it again "
                          f"(all of it, from {QR_PREFIX} to the end)") from None
    _check_names(source, carried)
    for needed in ("kiosk.yaml", "identity.json"):
        if needed not in carried:
            raise BundleError(f"{source}: {needed} is missing; make the QR code again")
    want = body.get("ca_sha256")
    if want and "ca.crt" not in carried:
        carried["ca.crt"] = _ca_by_fingerprint(str(want).lower(), source, folder, ca)
    return carried


def _ca_by_fingerprint(want: str, source: str, folder: Path | None, ca: Path | None) -> bytes:
    """The QR code names the CA by its SHA-256: take the given file (or the folder's ca.crt) if it matches."""
    candidates = [Path(ca)] if ca else ([Path(folder) / "ca.crt"] if folder else [])
    for path in candidates:
        try:
            pem = path.read_bytes()
            if ca_fingerprint(pem) == want:
                return pem
        except OSError as exc:
            if ca:
                raise BundleError(f"--ca {ca}: {exc.strerror}") from None
            continue
        except ValueError:
            if ca:
                raise BundleError(f"--ca {ca}: not a PEM certificate") from None
            continue
        if ca:
            raise BundleError(f"--ca {ca}: this is not the CA the QR code names (SHA-256 {want}); "
                              f"ask the province for its ca.crt") from None
    raise BundleError(f"{source}: this QR code carries only the CA's fingerprint (SHA-256 {want}); give the "
                      f"province's ca.crt with --ca FILE (it is checked against the fingerprint)")


def read_source(source: Path, folder: Path | None = None, ca: Path | None = None) -> dict[str, bytes]:
    """A bundle (.tar), a file holding a QR code's text, or ``-``: that text on standard input."""
    if str(source) == "-":  # piped in; or typed by a USB QR reader (it types the text, then Enter)
        text = sys.stdin.readline(MAX_QR_TEXT) if sys.stdin.isatty() else sys.stdin.read(MAX_QR_TEXT)
        return read_qr_text(text, "standard input", folder, ca)
    try:
        with open(source, "rb") as f:
            head = f.read(MAX_QR_TEXT + 1)
    except OSError as exc:
        raise BundleError(f"{source}: {exc.strerror}") from None
    if head.lstrip()[:len(QR_PREFIX)].upper() == QR_PREFIX.encode():
        if len(head) > MAX_QR_TEXT:
            raise BundleError(f"{source}: too long for the text of a QR code")
        return read_qr_text(head.decode("ascii", "replace"), str(source), folder, ca)
    if not tarfile.is_tarfile(source):
        raise BundleError(f"{source}: neither an enrolment bundle (.tar) nor the text of an enrolment QR code "
                          f"(it starts with {QR_PREFIX}); make one with `python -m broker add-device SITE DEVICE "
                          f"--enrol-bundle kiosk.tar` or `--enrol-qr kiosk.png`")
    return read_bundle(source)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install(bundle: Path, folder: Path, ca: Path | None = None, new_province: bool = False) -> Enrolled:
    """Put the files of a bundle or a QR code's text (see read_source) in ``folder``. A kiosk already
    enrolled keeps trusting its province: a bundle with another CA or fleet key is refused unless
    ``new_province`` (a substituted sheet must not move a kiosk to someone else's broker)."""
    files = read_source(bundle, folder, ca)
    for name in ("ca.crt", "fleet.pub"):
        try:
            had = (Path(folder) / name).read_bytes()
        except OSError:
            continue
        if name in files and files[name].strip() != had.strip() and not new_province:
            raise BundleError(f"{bundle}: {name} khác với của tỉnh mà máy đang tin: mã này không phải của tỉnh? Nếu tỉnh "
                              f"đổi khóa thật, chạy lại với --new-province / this code carries another {name} than the "
                              f"province this kiosk trusts; if the province really changed it, add --new-province")
    try:
        ident = json.loads(files["identity.json"])
        site, device = ident["site"], ident["device"]
    except (ValueError, KeyError, TypeError):
        raise BundleError(f"{bundle}: identity.json is damaged; make the bundle again") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = Enrolled(folder, site, device, province=province_fingerprint(files.get("ca.crt"), files.get("fleet.pub")))
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

"""Enrolment bundles: everything a new kiosk needs in one file, made where the accounts are kept.

``python -m broker add-device SITE DEVICE --enrol-bundle kiosk.tar`` writes a tar holding the
kiosk's identity and a ready kiosk.yaml (broker address, its own account, TLS, the fleet's public
key), the CA certificate, the account's password file (and client certificate, when the broker asks
for one) and fleet.pub. On the device ``python -m kiosk enrol kiosk.tar`` puts them in place and
checks them. The tar holds a password: carry it like one (a USB stick handed over, not e-mail).

``--enrol-qr OUT.png|OUT.svg|OUT.html`` carries the same files in a QR code, for a tablet or a
technician's phone: ``HLK1:`` then the zlib-compressed JSON of the files in unpadded base32, which QR
codes store in their compact alphanumeric mode and which survives retyping, upper or lower case and
line breaks. When the CA certificate would make the code too dense to print and scan, the code carries
its SHA-256 fingerprint instead; the kiosk then takes the CA from a file the technician gives (or one
already in its folder) only if the fingerprint matches, and downloads nothing.
"""
from __future__ import annotations

import base64
import html
import io
import json
import tarfile
import time
import zlib
from pathlib import Path

import yaml

from .errors import SetupError

IDENTITY = "identity.json"
# Only these names may be in a bundle (and the account's own .pass/.crt/.key): the kiosk refuses others.
FIXED_NAMES = ("kiosk.yaml", "ca.crt", "fleet.pub", "pin.key", IDENTITY)
ACCOUNT_FILES = (".pass", ".crt", ".key")  # <user name><suffix>: the account's password and client certificate
QR_PREFIX = "HLK1:"
QR_MAX_VERSION = 25   # 117 x 117 modules: about 0.7 mm each on an 8 cm square, easy for a phone camera
QR_ERROR = "l"        # at least 7 % error correction; segno raises it when the same size allows more
QR_FORMATS = (".png", ".svg", ".html")


def delivered_names(username: str) -> tuple[str, ...]:
    """The files an enrolled kiosk has beside its kiosk.yaml (at most these: a bundle may hold fewer), by the
    names its config uses. A pushed config naming another file is refused by `fleet check` (config/fleet.py)."""
    return (*FIXED_NAMES, *(username + suffix for suffix in ACCOUNT_FILES))


OUTBOX = "/var/lib/hailong-kiosk/outbox.db"  # in the kiosk user's home (docs/kiosk-raspberry-pi.md)


def kiosk_yaml(site: str, device: str, broker_block: str, fleet_pub: bool, tech_pin_hash: str | None = None,
               pin_key: bool = False, outbox: str = OUTBOX) -> str:
    block = yaml.safe_load(broker_block)
    cfg = {"kind": "kiosk", "site": site, "device": device, **block, "outbox": {"path": outbox}}
    if fleet_pub:
        cfg["fleet"] = {"public_key": "fleet.pub"}
    if tech_pin_hash:  # the technician PIN of step 4 of docs/enrol.md, as a hash only
        cfg["technician"] = {"pin_hash": tech_pin_hash}
    if pin_key:
        cfg["duty"] = {"pin_key": {"file": "pin.key"}}
    head = (f"# kiosk.yaml of {site}/{device}, written by `python -m broker add-device --enrol-bundle`.\n"
            f"# Faces, languages and reasons come from the fleet's pushed config (or edit them here).\n")
    return head + yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)


def check_tech_pin(tech_pin_hash: str | None, pin_key: Path | None) -> None:
    """The technician PIN's hash and the PIN key it may need, refused here rather than on the kiosk."""
    from config.pins import hash_key_id, is_pin_hash, key_id, read_pin_key

    if tech_pin_hash is not None and not is_pin_hash(tech_pin_hash):
        raise SetupError("--tech-pin-hash: not a PIN hash; make one with `python -m config hash-pin --key pin.key` "
                         "/ không phải mã băm PIN")
    key = None
    if pin_key is not None:
        try:
            key = read_pin_key(Path(pin_key).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SetupError(f"--pin-key {pin_key}: {exc.strerror}") from None
        except ValueError as exc:
            raise SetupError(f"--pin-key {pin_key}: {exc}") from None
    wanted = hash_key_id(tech_pin_hash) if tech_pin_hash else None
    if wanted and (key is None or key_id(key) != wanted):
        raise SetupError(f"--tech-pin-hash was made with PIN key {wanted}: give that key with --pin-key "
                         f"/ mã băm cần khóa PIN {wanted}: thêm --pin-key")


def bundle_files(folder: Path, site: str, device: str, issued, fleet_pub: Path | None = None, *,
                 tech_pin_hash: str | None = None, pin_key: Path | None = None,
                 outbox: str | None = None) -> dict[str, tuple[bytes, int]]:
    """Every file a new kiosk needs, by name, with the mode it is written with."""
    check_tech_pin(tech_pin_hash, pin_key)
    folder = Path(folder).resolve()
    username = issued.username
    block = "\n".join(line for line in issued.yaml_block.splitlines() if not line.startswith("#")) + "\n"
    files: dict[str, tuple[bytes, int]] = {
        "kiosk.yaml": (kiosk_yaml(site, device, block, fleet_pub is not None, tech_pin_hash,
                                  pin_key is not None, outbox or OUTBOX).encode("utf-8"), 0o644),
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
    if pin_key is not None:  # the officers' and technician's keyed PIN hashes are checked with it
        files["pin.key"] = (Path(pin_key).read_bytes(), 0o600)
    if fleet_pub is not None:
        try:
            files["fleet.pub"] = (Path(fleet_pub).read_bytes(), 0o644)
        except OSError as exc:
            raise SetupError(f"--fleet-pub {fleet_pub}: {exc.strerror}; give the fleet.pub made by "
                             f"`python -m broker fleet keygen`") from None
    return files


def make_bundle(folder: Path, site: str, device: str, issued, out: Path, fleet_pub: Path | None = None,
                **extras) -> Path:
    """Write the bundle for an account ``issued`` by setup.add_device (``extras``: see bundle_files)."""
    files = bundle_files(folder, site, device, issued, fleet_pub, **extras)
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


# ---------------------------------------------------------------- the QR code
def ca_fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate (DER), as `openssl x509 -noout -fingerprint -sha256` shows it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


def province_fingerprint(ca_pem: bytes | None, fleet_pub: bytes | None) -> str:
    """The short code that says which province a bundle trusts (its CA and its fleet key): printed by
    add-device and on the sheet, shown by `kiosk enrol`. The clerk compares it with the code the province
    gave in its letter or by phone: a substituted sheet or bundle shows another code."""
    import hashlib

    ca = ca_fingerprint(ca_pem) if ca_pem else ""
    pub = fleet_pub.decode("utf-8", "replace").strip() if fleet_pub else ""
    digest = hashlib.sha256(f"hailong-enrol\n{ca}\n{pub}".encode()).hexdigest()[:16].upper()
    return "-".join(digest[i:i + 4] for i in range(0, 16, 4))


def qr_text(files: dict[str, bytes], with_ca: bool = True) -> str:
    """The text a QR code carries: ``HLK1:`` + base32(zlib(JSON)). Comments of kiosk.yaml are left out."""
    body: dict = {"f": {}}
    for name, data in files.items():
        text = data.decode("utf-8")
        if name == "kiosk.yaml":
            text = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
        if name == "ca.crt" and not with_ca:
            body["ca_sha256"] = ca_fingerprint(data)
            continue
        body["f"][name] = text
    packed = zlib.compress(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 9)
    return QR_PREFIX + base64.b32encode(packed).decode("ascii").rstrip("=")


def qr_code(text: str, max_version: int = QR_MAX_VERSION):
    """A segno QR code of ``text``, or None when it needs more than ``max_version``."""
    import segno

    try:
        code = segno.make(text, error=QR_ERROR, micro=False)
    except segno.DataOverflowError:
        return None
    return code if code.version <= max_version else None


def make_qr(folder: Path, site: str, device: str, issued, out: Path, fleet_pub: Path | None = None,
            max_version: int = QR_MAX_VERSION, **extras) -> tuple[Path, bool]:
    """Write the enrolment QR code as .png, .svg or a printable .html page. Returns the path and
    whether the CA certificate itself is in it (else only its fingerprint)."""
    out = Path(out)
    if out.suffix.lower() not in QR_FORMATS:
        raise SetupError(f"--enrol-qr {out}: write .png, .svg or .html (a printable page)")
    files = {name: data for name, (data, _mode) in bundle_files(folder, site, device, issued, fleet_pub,
                                                                 **extras).items()}
    if any(name.endswith((".crt", ".key")) and name != "ca.crt" for name in files):
        raise SetupError("--enrol-qr: a client certificate and its key do not fit a QR code; "
                         "use --enrol-bundle for accounts made with --client-cert")
    with_ca = "ca.crt" in files
    code = qr_code(qr_text(files, with_ca), max_version)
    if code is None and with_ca:
        with_ca = False
        code = qr_code(qr_text(files, with_ca=False), max_version)
    if code is None:
        raise SetupError(f"--enrol-qr: {site}/{device}'s files do not fit a printable QR code; use --enrol-bundle")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    if out.suffix.lower() == ".html":
        tmp.write_text(qr_page(code, site, device, files, with_ca), encoding="utf-8")
    else:
        code.save(str(tmp), scale=8 if out.suffix.lower() == ".png" else 4, border=4)
    tmp.chmod(0o600)
    tmp.replace(out)
    return out, with_ca


def qr_page(code, site: str, device: str, files: dict[str, bytes], with_ca: bool) -> str:
    """One printable A4 page: the code, whose kiosk it is, and what to do with it (Vietnamese, English)."""
    conn = yaml.safe_load(files["kiosk.yaml"])["broker"]
    svg = code.svg_inline(scale=4, border=4, omitsize=True)
    esc = html.escape
    ca_line = ("" if with_ca else
               f"<p class=ca>CA: SHA-256 {esc(ca_fingerprint(files['ca.crt']))}<br>"
               "Mã này không chứa chứng chỉ CA: chép tệp <code>ca.crt</code> của tỉnh vào máy rồi chạy lệnh với "
               "<code>--ca ca.crt</code>. / This code holds only the CA's fingerprint: give the province's "
               "<code>ca.crt</code> with <code>--ca ca.crt</code>.</p>")
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Đăng ký máy {esc(site)}/{esc(device)}</title>
<style>
@page {{ size: A4; margin: 15mm }}
body {{ font-family: "DejaVu Sans", Arial, sans-serif; max-width: 180mm; margin: 0 auto; color: #111 }}
h1 {{ font-size: 20pt; margin: 0 0 2mm }} h2 {{ font-size: 13pt; margin: 5mm 0 1mm }}
.who {{ font-size: 14pt }} .qr svg {{ width: 90mm; height: 90mm; display: block; margin: 4mm auto }}
.warn {{ border: 2px solid #c0392b; padding: 2mm 3mm; font-weight: bold }}
code {{ background: #eee; padding: 0 1mm }} ol {{ margin: 1mm 0 }} .ca {{ font-size: 9pt }}
</style></head><body>
<h1>Đăng ký máy đánh giá / Kiosk enrolment</h1>
<p class=who>Đơn vị / site: <b>{esc(site)}</b> &nbsp; Quầy / device: <b>{esc(device)}</b><br>
Máy chủ / broker: {esc(str(conn.get("host")))}:{esc(str(conn.get("port")))}<br>
Mã tỉnh / province code: <b>{esc(province_fingerprint(files.get("ca.crt"), files.get("fleet.pub")))}</b>
(so với mã tỉnh báo qua công văn hoặc điện thoại / compare with the code the province gave in its letter or by phone)</p>
<div class=qr>{svg}</div>
<p class=warn>Mã này chứa mật khẩu của máy: giữ kín, hủy tờ giấy sau khi đăng ký xong.<br>
This code holds the kiosk's password: keep it locked away, destroy the sheet once the kiosk is enrolled.</p>
{ca_line}
<h2>Tại quầy</h2>
<ol><li>Cắm đầu đọc mã QR USB vào máy, chạy <code>sudo hailong-kiosk enrol - --dir /etc/hailong</code> rồi quét mã;
chờ dòng <code>sẵn sàng / ready</code>.</li>
<li>Chạy <code>sudo systemctl restart hailong-kiosk</code>.</li></ol>
<h2>At the counter</h2>
<ol><li>Plug a USB QR reader into the kiosk, run <code>sudo hailong-kiosk enrol - --dir /etc/hailong</code> and scan the
code; wait for <code>ready</code>.</li>
<li>Run <code>sudo systemctl restart hailong-kiosk</code>.</li></ol>
</body></html>
"""

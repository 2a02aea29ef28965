"""A private CA for one broker, its server certificate, and optional client certificates."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import SetupError
from .files import write_file


def _key() -> ec.EllipticCurvePrivateKey:
    # P-256: small, fast on a Raspberry Pi, accepted by OpenSSL in Mosquitto and Python.
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hailong feedback"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


# A kiosk without a battery-backed clock boots after a power cut at some date in the past (often
# 1970 or the image's build date) and may stay there until NTP answers. Certificates valid from
# long ago let it open TLS anyway; the expiry still counts from today.
VALID_FROM = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the earliest a clock without a battery can say


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(VALID_FROM)
            .not_valid_after(now + timedelta(days=days)))


def save_key(key, path: Path) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_file(path, pem, 0o600)


def save_cert(cert: x509.Certificate, path: Path) -> None:
    write_file(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def load_pair(cert_path: Path, key_path: Path):
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read the CA {cert_path}: {exc}; restore it or run init in an empty folder") from None
    return cert, key


def make_ca(cert_path: Path, key_path: Path, days: int = 3650) -> None:
    key = _key()
    name = _name("hailong feedback broker CA")
    cert = (_builder(name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    save_key(key, key_path)
    save_cert(cert, cert_path)


def _san(hostnames: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            entries.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(entries)


def _leaf(ca_cert_path: Path, ca_key_path: Path, cn: str, days: int, usage, san=None):
    ca_cert, ca_key = load_pair(ca_cert_path, ca_key_path)
    key = _key()
    b = (_builder(_name(cn), ca_cert.subject, key.public_key(), days)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if san is not None:
        b = b.add_extension(san, critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


def make_server_cert(ca_cert: Path, ca_key: Path, cert_path: Path, key_path: Path,
                     hostnames: list[str], days: int) -> None:
    """Server certificate whose SANs are exactly the names and addresses kiosks use."""
    cert, key = _leaf(ca_cert, ca_key, hostnames[0], days, ExtendedKeyUsageOID.SERVER_AUTH, _san(hostnames))
    save_key(key, key_path)
    save_cert(cert, cert_path)


def make_client_cert(ca_cert: Path, ca_key: Path, cert_path: Path, key_path: Path, username: str, days: int) -> None:
    cert, key = _leaf(ca_cert, ca_key, username, days, ExtendedKeyUsageOID.CLIENT_AUTH)
    save_key(key, key_path)
    save_cert(cert, cert_path)


def serial_of(cert_path: Path) -> int | None:
    """The serial number of an issued certificate, to revoke it; None when there is none."""
    try:
        return x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).serial_number
    except (OSError, ValueError):
        return None


def write_crl(ca_cert: Path, ca_key: Path, serials: list[int], path: Path, days: int = 3650) -> None:
    """The CA's revocation list: Mosquitto refuses these client certificates during the handshake.
    ``last_update`` is now, so after a reload OpenSSL prefers this list to the one it held."""
    cert, key = load_pair(ca_cert, ca_key)
    now = datetime.now(timezone.utc)
    b = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
         .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=days)))
    for serial in sorted(set(serials)):
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(now - timedelta(minutes=5)).build())
    write_file(path, b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM), 0o644)


def server_cert_names(cert_path: Path) -> set[str]:
    """The SANs of an existing server certificate, to decide whether it must be re-issued."""
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return set()
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | \
           {str(v) for v in san.get_values_for_type(x509.IPAddress)}

"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1 that demands STARTTLS and AUTH LOGIN,
with a throw-away self-signed certificate, keeping every message it accepts."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "hailong", "mail-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Inbox:
    def __init__(self):
        self.raw: list = []  # (envelope recipients, message bytes, over TLS, login)
        self._parsed: list = []

    @property
    def messages(self) -> list:
        """(envelope recipients, parsed message, over TLS, login), parsed when read (the server thread
        only stores bytes, so a benchmark measures the sender, not the parser)."""
        for rcpt, data, tls, login in self.raw[len(self._parsed):]:
            self._parsed.append((rcpt, message_from_bytes(data, policy=policy.default), tls, login))
        return list(self._parsed)

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if session.auth_data else None
        self.raw.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content, bool(session.ssl), login))
        return "250 Message accepted for delivery"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = mechanism == "LOGIN" and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class SmtpServer:
    """Start/stop on a fixed port, so a test can let a client fail first and start the server later."""

    def __init__(self, folder: Path, port: int | None = None):
        self.port = port or free_port()
        self.cert, key = make_cert(folder)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(str(self.cert), str(key))
        self.inbox = Inbox()
        self.controller = None

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, tls_context=self.tls,
                                     require_starttls=True, authenticator=_auth, auth_required=True,
                                     auth_require_tls=True, auth_exclude_mechanism=["PLAIN"])
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def smtp_config(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "security": "starttls", "username": USER,
                "password": {"env": "HAILONG_TEST_SMTP_PASSWORD"}, "sender": "Hài lòng <hailong@example.vn>",
                "ca": str(self.cert), "timeout_s": 5}

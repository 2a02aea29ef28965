"""Password hashes, ACL rules and certificates, checked without a broker."""
from __future__ import annotations

import base64
import ipaddress
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from broker import acl, certs, passwords


def test_a_hash_has_mosquittos_pbkdf2_sha512_layout():
    h = passwords.hash_password("s3cret")
    empty, kind, iterations, salt, digest = h.split("$")
    assert (empty, kind, iterations) == ("", "7", "101")
    assert len(base64.b64decode(salt)) == 12 and len(base64.b64decode(digest)) == 64
    assert passwords.verify("s3cret", h) and not passwords.verify("s3cret!", h)


def test_two_hashes_of_one_password_differ_by_salt():
    assert passwords.hash_password("x") != passwords.hash_password("x")


@pytest.mark.skipif(not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd not installed")
def test_a_hash_written_by_mosquitto_passwd_verifies_here(tmp_path):
    f = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(f), "kiosk", "hunter2"], check=True, capture_output=True)
    user, hashed = f.read_text().strip().split(":", 1)
    assert user == "kiosk" and passwords.verify("hunter2", hashed)
    assert hashed.split("$")[:3] == passwords.hash_password("hunter2").split("$")[:3]


def test_the_password_file_is_sorted_and_private(tmp_path):
    path = tmp_path / "passwd"
    passwords.write_password_file(path, {"b": "$7$h2", "a": "$7$h1"})
    assert path.read_text() == "a:$7$h1\nb:$7$h2\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_new_passwords_are_long_and_random():
    a, b = passwords.new_password(), passwords.new_password()
    assert a != b and len(a) >= 32 and ":" not in a


def test_a_kiosk_may_write_only_its_own_two_topics():
    rules = acl.rules(acl.Account("tan-lap--quay-1", "device", "tan-lap", "quay-1"), "hailong/v1")
    assert rules == ["topic write hailong/v1/tan-lap/quay-1/rating", "topic write hailong/v1/tan-lap/quay-1/status"]


def test_a_collector_reads_everything_under_the_prefix_and_writes_nothing():
    assert acl.rules(acl.Account("collector-main", "collector"), "x/v1") == ["topic read x/v1/#"]


def test_the_acl_has_one_user_block_per_account_and_no_rules_for_anonymous():
    text = acl.render([acl.Account("b--d", "device", "b", "d"), acl.Account("collector-c", "collector")], "p/v1")
    rule_lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert rule_lines[0] == "user b--d"  # nothing before the first user line applies to anonymous clients
    assert rule_lines.count("user collector-c") == 1 and "topic read p/v1/#" in rule_lines


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("ca")
    certs.make_ca(d / "ca.crt", d / "ca.key")
    return d


def test_the_server_certificate_names_every_host_and_address(ca):
    certs.make_server_cert(ca / "ca.crt", ca / "ca.key", ca / "s.crt", ca / "s.key",
                           ["broker.tan-lap.local", "192.0.2.10", "::1"], days=30)
    cert = x509.load_pem_x509_certificate((ca / "s.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.tan-lap.local"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("::1")]
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    ca_cert = x509.load_pem_x509_certificate((ca / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    assert (ca / "s.key").stat().st_mode & 0o777 == 0o600 and (ca / "ca.key").stat().st_mode & 0o777 == 0o600
    assert certs.server_cert_names(ca / "s.crt") == {"broker.tan-lap.local", "192.0.2.10", "::1"}


def test_a_client_certificate_is_signed_by_the_ca_for_client_auth(ca):
    certs.make_client_cert(ca / "ca.crt", ca / "ca.key", ca / "c.crt", ca / "c.key", "tan-lap--quay-1", days=30)
    cert = x509.load_pem_x509_certificate((ca / "c.crt").read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate((ca / "ca.crt").read_bytes()))
    assert cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "tan-lap--quay-1"
    assert ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

"""Password hashes, ACL rules and certificates, checked without a broker."""
from __future__ import annotations

import base64
import datetime
import ipaddress
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from broker import acl, certs, dynsec, passwords
from broker.errors import SetupError


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


def test_new_passwords_are_long_and_random():
    a, b = passwords.new_password(), passwords.new_password()
    assert a != b and len(a) >= 32 and ":" not in a


def rule_pairs(kind: str, **kw) -> set[tuple[str, str]]:
    return {(r.acltype, r.topic) for r in acl.rules(acl.Account("u", kind, **kw), "p/v1")}


def test_a_kiosk_publishes_its_own_topics_and_subscribes_only_to_its_inbound_ones():
    assert rule_pairs("device", site="s", device="d") == {
        ("publishClientSend", "p/v1/s/d/rating"), ("publishClientSend", "p/v1/s/d/status"),
        ("publishClientSend", "p/v1/s/d/event"),
        ("subscribePattern", "p/v1/s/d/request"), ("publishClientReceive", "p/v1/s/d/request"),
        ("subscribePattern", "p/v1/s/d/config"), ("publishClientReceive", "p/v1/s/d/config"),
        ("subscribePattern", "p/v1/s/d/receipt"), ("publishClientReceive", "p/v1/s/d/receipt"),
        ("subscribePattern", "p/v1/time"), ("publishClientReceive", "p/v1/time")}


def test_a_collector_subscribes_plain_or_shared_and_publishes_only_the_time_and_receipts():
    rules = rule_pairs("collector")
    assert {t for a, t in rules if a == "subscribePattern"} == {
        f for k in ("rating", "status", "event") for f in (f"p/v1/+/+/{k}", f"$share/+/p/v1/+/+/{k}")} | {"p/v1/+/+/config"}
    # it reads the retained configs (the desired config of each kiosk) and cannot publish one
    assert ("publishClientReceive", "p/v1/+/+/config") in rules
    assert {r for r in rules if r[0] == "publishClientSend"} == {("publishClientSend", "p/v1/time"),
                                                                ("publishClientSend", "p/v1/+/+/receipt")}


def test_desk_fleet_and_bridge_rights():
    assert rule_pairs("desk", site="s") == {("publishClientSend", "p/v1/s/+/request")}
    assert rule_pairs("fleet") == {("publishClientSend", "p/v1/+/+/config"), ("subscribePattern", "p/v1/+/+/status"),
                                   ("publishClientReceive", "p/v1/+/+/status")}
    # a bridge carries ratings, statuses and events up, receipts and the time down: no config, request or receipt
    assert rule_pairs("bridge") == {
        ("publishClientSend", "p/v1/+/+/rating"), ("publishClientSend", "p/v1/+/+/status"),
        ("publishClientSend", "p/v1/+/+/event"),
        ("subscribePattern", "p/v1/+/+/receipt"), ("publishClientReceive", "p/v1/+/+/receipt"),
        ("subscribePattern", "p/v1/time"), ("publishClientReceive", "p/v1/time")}
    # a bridge given its sites speaks for those communes only
    assert {t for a, t in rule_pairs("bridge", site="xa-a,xa-b") if a == "publishClientSend"} == {
        f"p/v1/{s}/+/{k}" for s in ("xa-a", "xa-b") for k in ("rating", "status", "event")}
    only_collectors_say_stored = [k for k in acl.KINDS if k != "admin" and any(
        a == "publishClientSend" and t.endswith("/receipt") for a, t in rule_pairs(k, site="s", device="d"))]
    assert only_collectors_say_stored == ["collector"]
    with pytest.raises(ValueError):
        acl.rules(acl.Account("u", "superuser"), "p/v1")


def test_the_plugin_state_holds_our_hash_and_one_role_per_account():
    h = passwords.hash_password("pw")
    state = dynsec.render([(acl.Account("s--d", "device", "s", "d"), h)], "p/v1")
    (client,) = state["clients"]
    assert client["roles"] == [{"rolename": "s--d"}] and client["iterations"] == 101
    assert passwords.verify("pw", f"$7${client['iterations']}${client['salt']}${client['password']}")
    assert {a["allow"] for r in state["roles"] for a in r["acls"]} == {True}
    assert not any(state["defaultACLAccess"][k] for k in ("publishClientSend", "publishClientReceive", "subscribe"))


def test_a_missing_plugin_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HAILONG_DYNSEC_PLUGIN", str(tmp_path / "nowhere.so"))
    with pytest.raises(SetupError, match="install Mosquitto 2.0 or later"):
        dynsec.plugin_path()


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


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl not installed")
def test_a_kiosk_whose_clock_is_years_behind_still_accepts_the_certificates(ca):
    """No real-time clock after a power cut: the kiosk may think it is 1970 until NTP answers."""
    certs.make_server_cert(ca / "ca.crt", ca / "ca.key", ca / "old.crt", ca / "old.key", ["127.0.0.1"], days=30)
    certs.make_client_cert(ca / "ca.crt", ca / "ca.key", ca / "oldc.crt", ca / "oldc.key", "s--d", days=30)
    for leaf, purpose in (("old.crt", "sslserver"), ("oldc.crt", "sslclient")):
        for when in ("1970-01-01", "2001-03-01", "2019-06-30"):
            at = str(int(datetime.datetime.fromisoformat(when + "T00:00:00+00:00").timestamp()))
            out = subprocess.run(["openssl", "verify", "-attime", at, "-purpose", purpose, "-CAfile",
                                  str(ca / "ca.crt"), str(ca / leaf)], capture_output=True, text=True)
            assert out.returncode == 0 and ": OK" in out.stdout, f"{leaf} at {when}: {out.stdout}{out.stderr}"
    # the expiry still counts from today: a clock far ahead is refused
    out = subprocess.run(["openssl", "verify", "-attime", str(4102444800), "-CAfile", str(ca / "ca.crt"),
                          str(ca / "old.crt")], capture_output=True, text=True)
    assert out.returncode != 0 and "expired" in out.stdout + out.stderr


def test_replacing_an_account_on_a_running_broker_deletes_first_and_ignores_what_was_not_there():
    from broker import control
    role = dynsec.role(acl.Account("s--d", "device", "s", "d"), "p/v1")
    cmds = control.account_commands("s--d", "pw", role, "device s/d")
    assert [c["command"] for c in cmds] == ["deleteClient", "deleteRole", "createRole", "createClient"]
    assert cmds[3]["roles"] == [{"rolename": "s--d"}] and cmds[2]["acls"] == role["acls"]
    assert [c["command"] for c in control.account_commands("s--d", None, role, "")] == ["deleteClient", "deleteRole"]
    assert control.failures([{"command": "deleteClient", "error": "Client not found"},
                             {"command": "createClient", "error": "Role not found"},
                             {"command": "createRole"}]) == ["createClient: Role not found"]


def test_the_plugin_is_found_by_dpkg_or_the_known_folders_and_missing_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.delenv("HAILONG_DYNSEC_PLUGIN", raising=False)
    fake = tmp_path / "lib" / dynsec.PLUGIN_NAME
    fake.parent.mkdir()
    fake.write_bytes(b"")
    monkeypatch.setattr(dynsec, "_from_dpkg", lambda: [])
    monkeypatch.setattr(dynsec, "KNOWN_PLUGIN_GLOBS", (str(tmp_path / "*" / dynsec.PLUGIN_NAME),))
    assert dynsec.plugin_path() == fake
    monkeypatch.setattr(dynsec, "_from_dpkg", lambda: [str(fake)])
    monkeypatch.setattr(dynsec, "KNOWN_PLUGIN_GLOBS", ())
    assert dynsec.plugin_path() == fake
    monkeypatch.setattr(dynsec, "_from_dpkg", lambda: [])
    with pytest.raises(SetupError, match="dpkg -L mosquitto.*apt-get install mosquitto"):
        dynsec.plugin_path()

"""init / add-device / remove-device / bridge: the files written, idempotence, and one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from broker import bridge, dynsec, passwords, runner, setup
from broker.__main__ import main
from broker.errors import SetupError
from config.broker import BrokerConfig
from config.common import BrokerConnection

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "etc"
    assert main(["init", "--dir", str(d), "--tls-port", "18883", "--local-port", "11883"]) == 0
    return d


def conf_lines(folder: Path) -> list[str]:
    return [l for l in (folder / "mosquitto.conf").read_text().splitlines() if l and not l.startswith("#")]


def plugin_state(folder: Path) -> dict:
    return json.loads((folder / "data" / "dynsec.json").read_text())


def clients(folder: Path) -> dict[str, dict]:
    return {c["username"]: c for c in plugin_state(folder)["clients"]}


def acls(folder: Path, user: str) -> list[tuple[str, str]]:
    role = next(r for r in plugin_state(folder)["roles"] if r["rolename"] == user)
    return [(a["acltype"], a["topic"]) for a in role["acls"]]


def verifies(password: str, client: dict) -> bool:
    return passwords.verify(password, f"$7${client['iterations']}${client['salt']}${client['password']}")


def test_init_writes_a_locked_down_persistent_tls_setup(folder):
    lines = conf_lines(folder)
    d = folder.resolve()
    for expected in ("allow_anonymous false", f"plugin {dynsec.plugin_path()}", "persistence true",
                     f"plugin_opt_config_file {d}/data/dynsec.json", "listener 18883 0.0.0.0", "listener 11883 127.0.0.1",
                     f"listener 0 {d}/data/mosquitto.sock", "max_queued_messages 0", "max_inflight_messages 100",
                     "persistent_client_expiration 30d", f"certfile {d}/certs/server.crt", "require_certificate false"):
        assert expected in lines
    assert "password_file" not in "".join(lines) and "acl_file" not in "".join(lines)  # acl_file never checks SUBSCRIBE
    # every network listener binds the client id to the user name; the control socket does not, so that
    # the admin account (pinned to a client id no network listener lets it present) logs in only there
    listeners = [l for l in lines if l.startswith("listener ")]
    assert len(listeners) == 3 and listeners[-1].startswith("listener 0 ")
    assert lines.count("use_username_as_clientid true") == 2
    state = json.loads((folder / "data" / "dynsec.json").read_text())
    pinned = {c["username"]: c.get("clientid") for c in state["clients"]}
    assert pinned.pop("broker-admin") == "broker-admin.socket" and not any(pinned.values())
    assert "use_identity_as_username true" not in lines
    for secret in ("certs/ca.key", "certs/server.key", "data/dynsec.json", "state.json", "secrets/broker-admin.pass"):
        assert (folder / secret).stat().st_mode & 0o777 == 0o600, secret
    assert plugin_state(folder)["defaultACLAccess"] == {"publishClientSend": False, "publishClientReceive": False,
                                                        "subscribe": False, "unsubscribe": True}


def test_with_client_certificates_the_certificate_names_the_account(tmp_path):
    cfg = BrokerConfig.model_validate({"listeners": {"tls": {"port": 9883, "require_client_cert": True}}})
    setup.init(tmp_path / "b", cfg)
    lines = conf_lines(tmp_path / "b")
    tls = lines[lines.index("listener 9883 0.0.0.0"):]
    assert "require_certificate true" in tls and "use_identity_as_username true" in tls
    assert f"crlfile {(tmp_path / 'b').resolve()}/certs/crl.pem" in tls and (tmp_path / "b" / "certs" / "crl.pem").exists()


def test_a_rotated_or_removed_client_certificate_goes_on_the_revocation_list(folder):
    from cryptography import x509
    setup.add_device(folder, "tan-lap", "quay-1", client_cert=True)
    first = x509.load_pem_x509_certificate((folder / "clients" / "tan-lap--quay-1.crt").read_bytes()).serial_number
    setup.add_device(folder, "tan-lap", "quay-1", client_cert=True)
    second = x509.load_pem_x509_certificate((folder / "clients" / "tan-lap--quay-1.crt").read_bytes()).serial_number
    crl = lambda: {r.serial_number for r in x509.load_pem_x509_crl((folder / "certs" / "crl.pem").read_bytes())}
    assert crl() == {first}
    setup.remove(folder, "tan-lap--quay-1")
    assert crl() == {first, second}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root decides who Mosquitto runs as")
def test_as_root_the_config_names_a_user_that_can_read_the_files(folder):
    users = [l for l in conf_lines(folder) if l.startswith("user ")]
    assert users in (["user root"], ["user mosquitto"])
    if users == ["user mosquitto"]:
        import pwd
        assert pwd.getpwuid((folder / "data" / "dynsec.json").stat().st_uid).pw_name == "mosquitto"


def test_limits_and_ports_come_from_broker_yaml(tmp_path):
    cfg = BrokerConfig.model_validate({"listeners": {"tls": {"port": 9883}}, "limits": {"max_queued_messages": 5000}})
    setup.init(tmp_path / "b", cfg)
    lines = conf_lines(tmp_path / "b")
    assert "listener 9883 0.0.0.0" in lines and "max_queued_messages 5000" in lines
    assert not any(l.startswith("listener 1883") for l in lines)  # no plain listener unless asked


def test_the_broker_takes_the_largest_config_the_contract_allows(tmp_path):
    from broker.contract import MAX_CONFIG_PAYLOAD_BYTES
    from config.loader import ConfigError, load

    setup.init(tmp_path / "b", BrokerConfig())
    assert f"message_size_limit {MAX_CONFIG_PAYLOAD_BYTES}" in conf_lines(tmp_path / "b")
    # the old default, 8192, refused every config of a ward with 35 officers: now a mistake with its reason
    old = tmp_path / "broker.yaml"
    old.write_text("kind: broker\nlimits:\n  message_size_limit: 8192\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(old)
    assert err.value.problems[0].startswith("broker.yaml:3: limits.message_size_limit: ")
    assert f"use at least {MAX_CONFIG_PAYLOAD_BYTES}" in err.value.problems[0]


def test_add_device_prints_a_block_that_validates_and_a_private_password_file(folder, tmp_path):
    issued = setup.add_device(folder, "tan-lap", "quay-1")
    block = yaml.safe_load(issued.yaml_block)["broker"]
    conn = BrokerConnection.model_validate(block, context={"base_dir": tmp_path})
    assert (conn.host, conn.port, conn.username, conn.topic_prefix) == ("localhost", 18883, "tan-lap--quay-1", "hailong/v1")
    assert conn.tls.ca == tmp_path / "ca.crt" and conn.password.file == tmp_path / "tan-lap--quay-1.pass"
    assert issued.password_file == folder.resolve() / "secrets" / "tan-lap--quay-1.pass"
    assert issued.password_file.stat().st_mode & 0o777 == 0o600
    password = issued.password_file.read_text().strip()
    assert verifies(password, clients(folder)["tan-lap--quay-1"])
    assert ("publishClientSend", "hailong/v1/tan-lap/quay-1/rating") in acls(folder, "tan-lap--quay-1")
    assert "not running" in issued.note


def test_adding_a_device_again_rotates_its_password_and_keeps_one_entry(folder):
    first = setup.add_device(folder, "tan-lap", "quay-1").password_file.read_text()
    second = setup.add_device(folder, "tan-lap", "quay-1").password_file.read_text()
    assert first != second
    devices = [c for c in plugin_state(folder)["clients"] if c["username"] == "tan-lap--quay-1"]
    assert len(devices) == 1 and verifies(second.strip(), devices[0]) and not verifies(first.strip(), devices[0])


def test_remove_device_revokes_and_is_idempotent(folder):
    setup.add_device(folder, "tan-lap", "quay-1")
    setup.add_device(folder, "tan-lap", "quay-2")
    assert setup.remove(folder, "tan-lap--quay-1").existed is True
    assert setup.remove(folder, "tan-lap--quay-1").existed is False
    assert "tan-lap--quay-1" not in (folder / "data" / "dynsec.json").read_text()
    assert "tan-lap--quay-2" in clients(folder)
    assert not (folder / "secrets" / "tan-lap--quay-1.pass").exists()
    # the broker is down: its retained messages are cleared when `run` starts it
    assert "hailong/v1/tan-lap/quay-1/status" in setup.accounts(folder).retained_to_clear


def test_the_tooling_account_cannot_be_removed(folder):
    with pytest.raises(SetupError, match="cannot be removed"):
        setup.remove(folder, "broker-admin")


def test_init_again_keeps_the_ca_and_the_accounts(folder):
    setup.add_device(folder, "tan-lap", "quay-1")
    ca = (folder / "certs" / "ca.crt").read_bytes()
    before = clients(folder)
    assert main(["init", "--dir", str(folder), "--tls-port", "18883", "--local-port", "11883"]) == 0
    assert (folder / "certs" / "ca.crt").read_bytes() == ca and clients(folder) == before


def test_a_client_certificate_is_issued_on_request_and_named_in_the_block(folder, tmp_path):
    issued = setup.add_device(folder, "tan-lap", "quay-1", client_cert=True)
    conn = BrokerConnection.model_validate(yaml.safe_load(issued.yaml_block)["broker"], context={"base_dir": tmp_path})
    assert conn.tls.cert == tmp_path / "tan-lap--quay-1.crt"
    assert (folder / "clients" / "tan-lap--quay-1.key").stat().st_mode & 0o777 == 0o600


def test_a_collector_subscribes_to_what_kiosks_send_and_publishes_only_the_time_and_receipts(folder):
    issued = setup.add_collector(folder, "main")
    assert issued.username == "collector-main"
    rules = acls(folder, "collector-main")
    assert ("subscribePattern", "$share/+/hailong/v1/+/+/rating") in rules
    assert sorted(r for r in rules if r[0] == "publishClientSend") == [("publishClientSend", "hailong/v1/+/+/receipt"),
                                                                         ("publishClientSend", "hailong/v1/time")]


def test_desk_and_fleet_accounts_get_their_own_names_and_rights(folder):
    assert setup.add_desk(folder, "tan-lap", "front").username == "desk-tan-lap--front"
    assert setup.add_fleet(folder, "main").username == "fleet-main"
    assert acls(folder, "desk-tan-lap--front") == [("publishClientSend", "hailong/v1/tan-lap/+/request")]
    assert ("publishClientSend", "hailong/v1/+/+/config") in acls(folder, "fleet-main")


def test_two_accounts_cannot_share_a_user_name(folder):
    setup.add_device(folder, "a--b", "c")
    with pytest.raises(SetupError, match="already taken"):
        setup.add_device(folder, "a", "b--c")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "broker", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args, needle", [
    (["add-device", "tan-lap", "quay-1", "--dir", "/nonexistent/broker"], "run `python -m broker init --dir"),
    (["init", "--dir", "/tmp", "--config", "/nonexistent/broker.yaml"], "copy config/examples/broker.yaml"),
])
def test_mistakes_are_one_line_without_a_traceback(args, needle):
    out = cli(*args)
    assert out.returncode == 2 and needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_a_bad_slug_names_the_field_and_the_fix(folder):
    out = cli("add-device", "Tan Lap", "quay-1", "--dir", str(folder))
    assert out.returncode == 2 and out.stderr.startswith("error: site 'Tan Lap' is not a slug")


def test_add_device_from_the_cli_prints_yaml_and_a_reload_hint(folder):
    out = cli("add-device", "tan-lap", "quay-1", "--dir", str(folder))
    assert out.returncode == 0 and "not running on this folder; it loads the accounts when it starts" in out.stderr
    assert yaml.safe_load(out.stdout)["broker"]["username"] == "tan-lap--quay-1"
    listing = cli("list", "--dir", str(folder)).stdout
    assert "tan-lap--quay-1" in listing and "tan-lap/quay-1" in listing


def test_every_subcommand_has_help():
    for cmd in ("init", "add-device", "remove-device", "add-collector", "add-desk", "add-fleet", "remove-account",
                "clear-retained", "list", "run", "embedded", "bridge"):
        out = cli(cmd, "--help")
        assert out.returncode == 0 and "usage:" in out.stdout, cmd


def test_run_without_mosquitto_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    monkeypatch.setattr(runner.os.path, "exists", lambda p: False)
    with pytest.raises(SetupError, match="sudo apt-get install mosquitto"):
        runner.mosquitto_exe()


def test_a_bridge_sends_ratings_out_and_takes_receipts_in_at_qos1_with_a_persistent_session(folder, tmp_path):
    ca = tmp_path / "province-ca.crt"
    ca.write_text("-")
    (tmp_path / "pw").write_text("s3cret\n")
    assert main(["bridge", "--dir", str(folder), "--name", "to-province", "--remote-host", "mqtt.example.org",
                 "--ca", str(ca), "--username", "bridge-tan-lap", "--password-file", str(tmp_path / "pw")]) == 0
    path = folder / "conf.d" / "bridge-to-province.conf"
    lines = path.read_text().splitlines()
    for expected in ("connection to-province", "address mqtt.example.org:8883", "topic hailong/v1/+/+/rating out 1",
                     "topic hailong/v1/+/+/status out 1", "topic hailong/v1/+/+/event out 1",
                     "topic hailong/v1/+/+/receipt in 1", "topic hailong/v1/time in 0",
                     "cleansession false", "remote_username bridge-tan-lap", "remote_password s3cret",
                     f"bridge_cafile {ca}"):
        assert expected in lines
    assert path.stat().st_mode & 0o777 == 0o600


def test_bridges_listed_in_broker_yaml_are_written_by_init(tmp_path):
    (tmp_path / "pw").write_text("x\n")
    cfg = BrokerConfig.model_validate({"bridges": [{"name": "up", "remote_host": "h", "remote_port": 1883,
                                                    "username": "u", "password": {"file": str(tmp_path / "pw")}}]})
    setup.init(tmp_path / "b", cfg)
    text = (tmp_path / "b" / "conf.d" / "bridge-up.conf").read_text()
    assert "address h:1883" in text and "bridge_capath" not in text  # plain port: no TLS


def test_init_on_a_folder_from_the_password_file_days_moves_the_accounts_and_says_restart(folder):
    setup.add_device(folder, "tan-lap", "quay-1")
    (folder / "passwd").write_text("tan-lap--quay-1:$7$101$x$y\n")  # what earlier versions wrote
    (folder / "acl").write_text("user tan-lap--quay-1\n")
    (folder / "mosquitto.conf").write_text(f"password_file {folder}/passwd\nacl_file {folder}/acl\n")
    with pytest.raises(SetupError, match="earlier version"):  # its broker still needs passwd and acl
        setup.add_device(folder, "tan-lap", "quay-2")
    assert (folder / "passwd").exists() and (folder / "acl").exists()
    notes = setup.init(folder, BrokerConfig.model_validate({"listeners": {"tls": {"port": 18883}}}))
    assert any("restart Mosquitto now" in n for n in notes)
    assert not (folder / "passwd").exists() and not (folder / "acl").exists()
    assert "tan-lap--quay-1" in clients(folder)

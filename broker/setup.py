"""init / add / remove / list: everything that writes the broker folder.

Layout of a broker folder:
  mosquitto.conf  state.json  mosquitto.pid (while `run` is up)
  certs/ca.crt ca.key server.crt server.key   clients/<user>.crt .key
  secrets/<user>.pass   conf.d/ (bridges)
  data/ (persistence, dynsec.json: accounts and rights, mosquitto.sock: the tooling's control socket)
"""
from __future__ import annotations

import ipaddress
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

import yaml

from broker.contract import is_slug
from config.broker import BrokerConfig

from . import acl, bridge, certs, control, dynsec, mosquitto_conf, passwords, runner
from .errors import SetupError
from .files import chown_to, traversable_by, write_file
from .state import AccountRecord, Settings, State, load_state, save_state


def device_username(site: str, device: str) -> str:
    return f"{site}--{device}"


def desk_username(site: str, name: str) -> str:
    return f"desk-{site}--{name}"  # like a device name with a prefix; a clash is refused by _issue


def fleet_username(name: str) -> str:
    return f"fleet-{name}"


def device_topics(prefix: str, site: str, device: str) -> list[str]:
    """Every topic of one device, for clearing what the broker retains there."""
    return [f"{prefix}/{site}/{device}/{k}" for k in ("rating", "status", "event", "request", "config")]


def _check_slug(what: str, value: str) -> None:
    if not is_slug(value):
        raise SetupError(f"{what} {value!r} is not a slug: use lower-case letters, digits and '-' (like 'tan-lap')")


def _run_as(folder: Path, requested: str | None) -> tuple[str | None, str | None]:
    """The `user` line for mosquitto.conf, and a note for the person when it had to be root."""
    if os.geteuid() != 0:
        return None, None  # Mosquitto keeps the invoking user; it only switches when started as root
    if requested:
        try:
            pwd.getpwnam(requested)
        except KeyError:
            raise SetupError(f"--user {requested}: no such system user; create it or pass --user root") from None
        if requested != "root" and not traversable_by(requested, folder):
            raise SetupError(f"--user {requested} cannot reach {folder}; pick a folder it can open (e.g. /etc/hailong-broker) or pass --user root")
        return requested, None
    if traversable_by("mosquitto", folder):
        return "mosquitto", None
    return "root", (f"note: the 'mosquitto' user cannot reach {folder}, so the broker will run as root "
                    f"(`user root`); use a folder like /etc/hailong-broker to run it unprivileged")


def init(folder: Path, cfg: BrokerConfig, tls_port: int | None = None, local_port: int | None = None,
         user: str | None = None) -> list[str]:
    """Write (or refresh) a complete Mosquitto set-up; keeps the CA and all accounts. Returns notes."""
    folder = Path(folder).resolve()
    notes: list[str] = []
    folder.mkdir(parents=True, exist_ok=True)
    for sub, mode in (("certs", 0o755), ("clients", 0o700), ("secrets", 0o700), ("data", 0o700), ("conf.d", 0o755)):
        (folder / sub).mkdir(exist_ok=True)
        os.chmod(folder / sub, mode)
    run_as, note = _run_as(folder, user)
    if note:
        notes.append(note)
    lst = cfg.listeners
    settings = Settings(
        topic_prefix=cfg.topic_prefix, hostnames=list(cfg.hostnames),
        tls_port=(tls_port or lst.tls.port) if lst.tls else tls_port,
        local_port=(local_port or lst.local.port) if lst.local else local_port,
        tls_bind=lst.tls.bind if lst.tls else "0.0.0.0",
        local_bind=lst.local.bind if lst.local else "127.0.0.1",
        require_client_cert=bool(lst.tls and lst.tls.require_client_cert),
        cert_days=cfg.cert_days, run_as=run_as)
    if settings.tls_port and settings.tls_port == settings.local_port:
        raise SetupError(f"the TLS and local listeners both use port {settings.tls_port}; give them different ports")

    accounts = {}
    if (folder / "state.json").exists():
        old = load_state(folder)
        if old.settings.topic_prefix != settings.topic_prefix:
            raise SetupError(f"{folder} was set up for prefix {old.settings.topic_prefix!r}, not {settings.topic_prefix!r}; "
                             f"use a new folder for a new prefix")
        accounts = old.accounts
        pending, revoked = old.retained_to_clear, old.revoked_serials
    else:
        pending, revoked = [], []
    state = State(settings, accounts, pending, revoked)
    if control.ADMIN not in state.accounts:  # the tooling's own account, used only through the socket
        password = passwords.new_password()
        state.accounts[control.ADMIN] = AccountRecord("admin", passwords.hash_password(password))
        write_file(folder / "secrets" / f"{control.ADMIN}.pass", password + "\n", 0o600)

    c = folder / "certs"
    if not (c / "ca.crt").exists():  # never replace a CA: every kiosk trusts it
        certs.make_ca(c / "ca.crt", c / "ca.key")
        notes.append(f"created a new CA: {c / 'ca.crt'} (copy it to each kiosk; keep ca.key secret)")
    if not (c / "server.crt").exists() or certs.server_cert_names(c / "server.crt") != _normal(settings.hostnames):
        certs.make_server_cert(c / "ca.crt", c / "ca.key", c / "server.crt", c / "server.key",
                               settings.hostnames, settings.cert_days)
        notes.append(f"issued the server certificate for {', '.join(settings.hostnames)}")
    if (folder / "passwd").exists() or (folder / "acl").exists():
        notes.append("accounts and rights moved from passwd/acl to the dynamic-security plugin "
                     f"({folder / dynsec.DYNSEC_FILE}): restart Mosquitto now")
    save_state(folder, state)
    write_file(folder / "mosquitto.conf",
               mosquitto_conf.render(folder, settings, cfg.limits, cfg.persistence, dynsec.plugin_path()), 0o644)
    regenerate(folder, state)
    for b in cfg.bridges:  # bridges listed in broker.yaml are written with the rest
        bridge.write_bridge(folder, bridge.BridgeSpec.from_config(b, settings.topic_prefix))
    return notes


def _normal(hostnames: list[str]) -> set[str]:
    out = set()
    for h in hostnames:
        try:
            out.add(str(ipaddress.ip_address(h)))
        except ValueError:
            out.add(h)
    return out


def account_of(username: str, a: AccountRecord) -> acl.Account:
    return acl.Account(username, a.kind, a.site, a.device)


def regenerate(folder: Path, state: State) -> None:
    """The plugin's file from the state; then hand the broker's files to its user."""
    folder = Path(folder)
    pairs = [(account_of(u, a), a.hash) for u, a in state.accounts.items()]
    plugin_file = folder / dynsec.DYNSEC_FILE
    write_file(plugin_file, dynsec.to_json(dynsec.render(pairs, state.settings.topic_prefix)), 0o600)
    for old in ("passwd", "acl"):  # what earlier versions gave Mosquitto; it held hashes
        (folder / old).unlink(missing_ok=True)
    c = folder / "certs"
    if (c / "ca.key").exists():
        certs.write_crl(c / "ca.crt", c / "ca.key", [int(h, 16) for h in state.revoked_serials], c / "crl.pem")
    conf_d = folder / "conf.d"
    chown_to(state.settings.run_as, plugin_file, folder / "certs" / "server.key",
             folder / "data", conf_d, *conf_d.glob("*.conf"))


def apply_running(folder: Path, state: State, commands: list[dict]) -> str:
    """Send account changes to a Mosquitto running on the folder and clear pending retained
    messages; a note for the person either way."""
    folder = Path(folder)
    try:
        with control.Control(folder, control.admin_password(folder)) as c:
            errors = control.failures(c.run(commands)) if commands else []
            if errors:
                raise SetupError(f"the running Mosquitto refused the change ({'; '.join(errors)}); restart it "
                                 f"so it reads {folder / dynsec.DYNSEC_FILE}")
            cleared = list(state.retained_to_clear)
            if cleared:
                c.clear_retained(cleared)
                state.retained_to_clear = []
                save_state(folder, state)
    except control.NotRunning:
        note = "Mosquitto is not running on this folder; it loads the accounts when it starts"
        if state.retained_to_clear:
            note += f" (and `run` clears {len(state.retained_to_clear)} retained message(s) of removed devices)"
        return note
    done = "applied to the running Mosquitto (no restart needed)"
    return done + (f"; cleared {len(cleared)} retained topic(s)" if cleared else "")


def check_layout(folder: Path) -> None:
    """Refuse to change accounts in a folder whose mosquitto.conf still reads passwd/acl: the new
    accounts would not reach that broker, and it could not restart without those files."""
    conf = folder / "mosquitto.conf"
    if conf.exists() and "plugin_opt_config_file" not in conf.read_text(encoding="utf-8"):
        raise SetupError(f"{conf} was written by an earlier version (password file and ACL); run "
                         f"`python -m broker init --dir {folder}` with the same --config first, then restart Mosquitto")


@dataclass
class Issued:
    username: str
    password_file: Path
    yaml_block: str
    note: str = ""  # whether a running broker took the change


def _issue(folder: Path, username: str, record_kind: str, site=None, device=None, client_cert=False) -> Issued:
    folder = Path(folder).resolve()
    state = load_state(folder)
    check_layout(folder)
    existing = state.accounts.get(username)
    if existing and (existing.kind, existing.site, existing.device) != (record_kind, site, device):
        raise SetupError(f"user name {username!r} is already taken by a {existing.kind}; choose another name")
    client_cert = client_cert or state.settings.require_client_cert
    revoked = _revoke_cert(folder, state, username)  # a rotated account's old certificate stops working
    password = passwords.new_password()  # adding again rotates the password
    state.accounts[username] = AccountRecord(record_kind, passwords.hash_password(password), site, device, client_cert)
    pass_file = folder / "secrets" / f"{username}.pass"
    write_file(pass_file, password + "\n", 0o600)
    if revoked and not client_cert:  # revoked above and not replaced: do not leave it lying around
        for ext in ("crt", "key"):
            (folder / "clients" / f"{username}.{ext}").unlink(missing_ok=True)
    if client_cert:
        certs.make_client_cert(folder / "certs" / "ca.crt", folder / "certs" / "ca.key",
                               folder / "clients" / f"{username}.crt", folder / "clients" / f"{username}.key",
                               username, state.settings.cert_days)
    save_state(folder, state)
    regenerate(folder, state)
    account = account_of(username, state.accounts[username])
    client = dynsec.client(account, state.accounts[username].hash)
    note = apply_running(folder, state, control.account_commands(
        username, password, dynsec.role(account, state.settings.topic_prefix), client["textname"]))
    if revoked and state.settings.require_client_cert:
        note += "; " + _crl_note(folder)
    return Issued(username, pass_file, connection_block(folder, state.settings, username, client_cert), note)


def connection_block(folder: Path, s: Settings, username: str, client_cert: bool) -> str:
    """The `broker:` block for kiosk.yaml / collector.yaml; paths are next to that YAML file."""
    conn: dict = {"host": s.hostnames[0]}
    copies = [folder / "secrets" / f"{username}.pass"]
    if s.tls_port:
        conn["port"] = s.tls_port
        conn["tls"] = {"ca": "ca.crt"}
        copies.insert(0, folder / "certs" / "ca.crt")
        if client_cert:
            conn["tls"] |= {"cert": f"{username}.crt", "key": f"{username}.key"}
            copies += [folder / "clients" / f"{username}.crt", folder / "clients" / f"{username}.key"]
    else:
        conn["port"] = s.local_port
    conn |= {"username": username, "password": {"file": f"{username}.pass"}, "topic_prefix": s.topic_prefix}
    head = "# copy next to the YAML file (keep .pass and .key readable by its user only):\n"
    head += "".join(f"#   {p}\n" for p in copies)
    return head + yaml.safe_dump({"broker": conn}, sort_keys=False, default_flow_style=False)


def add_device(folder: Path, site: str, device: str, client_cert: bool = False) -> Issued:
    _check_slug("site", site)
    _check_slug("device", device)
    return _issue(folder, device_username(site, device), "device", site, device, client_cert)


def add_collector(folder: Path, name: str, client_cert: bool = False) -> Issued:
    _check_slug("collector name", name)
    return _issue(folder, f"collector-{name}", "collector", client_cert=client_cert)


def add_bridge_user(folder: Path, name: str, sites: list[str] | None = None) -> Issued:
    """An account a commune broker's bridge logs in with on this (provincial) broker; with ``sites``, it
    may carry only those sites' kiosks (a stolen bridge password then speaks for no other commune)."""
    _check_slug("bridge name", name)
    for site in sites or []:
        _check_slug("site", site)
    return _issue(folder, f"bridge-{name}", "bridge", ",".join(sorted(set(sites))) if sites else None)


def add_desk(folder: Path, site: str, name: str, client_cert: bool = False) -> Issued:
    """A desk or queue system of one site: it may send `request` to that site's kiosks only."""
    _check_slug("site", site)
    _check_slug("desk name", name)
    return _issue(folder, desk_username(site, name), "desk", site, None, client_cert)


def add_fleet(folder: Path, name: str, client_cert: bool = False) -> Issued:
    """The fleet tool: sends every kiosk its (retained, signed) config and reads their status."""
    _check_slug("fleet name", name)
    return _issue(folder, fleet_username(name), "fleet", client_cert=client_cert)


def _revoke_cert(folder: Path, state: State, username: str) -> bool:
    """Put the account's current client certificate (if any) on the revocation list."""
    serial = certs.serial_of(folder / "clients" / f"{username}.crt")
    if serial is None:
        return False
    if f"{serial:x}" not in state.revoked_serials:
        state.revoked_serials.append(f"{serial:x}")
    return True


def _crl_note(folder: Path) -> str:
    """The TLS listener re-reads certs/crl.pem on SIGHUP; `run` records the pid to send it."""
    return "revocation list: " + runner.reload(folder)


@dataclass
class Removed:
    existed: bool
    note: str


def remove(folder: Path, username: str) -> Removed:
    """Revoke an account (and disconnect it); for a device, also clear what the broker retains on
    its topics. Removing twice is not an error."""
    folder = Path(folder).resolve()
    state = load_state(folder)
    check_layout(folder)
    if username == control.ADMIN:
        raise SetupError(f"{username} is the set-up tooling's own account; it cannot be removed")
    record = state.accounts.pop(username, None)
    if record is None:
        return Removed(False, apply_running(folder, state, []))
    if record.kind == "device":
        for t in device_topics(state.settings.topic_prefix, record.site, record.device):
            if t not in state.retained_to_clear:
                state.retained_to_clear.append(t)
    revoked = _revoke_cert(folder, state, username)
    save_state(folder, state)
    regenerate(folder, state)
    for p in (folder / "secrets" / f"{username}.pass", folder / "clients" / f"{username}.crt",
              folder / "clients" / f"{username}.key"):
        p.unlink(missing_ok=True)
    note = apply_running(folder, state, control.account_commands(username, None, {"rolename": username}, ""))
    if revoked and state.settings.require_client_cert:
        note += "; " + _crl_note(folder)
    return Removed(True, note)


def accounts(folder: Path) -> State:
    return load_state(Path(folder).resolve())

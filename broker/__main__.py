"""python -m broker: the wire contract and the Mosquitto set-up."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hailong_unshadow import unshadow

unshadow(__package__, __file__)  # first, before anything of our own is imported

from . import fleet_cli, contract
from .errors import SetupError

EPILOG = """examples:
  python -m broker init --dir /etc/hailong-broker --config broker.yaml
  python -m broker add-device tan-lap quay-1 --dir /etc/hailong-broker
  python -m broker add-collector main --dir /etc/hailong-broker
  python -m broker add-desk tan-lap front --dir /etc/hailong-broker
  python -m broker add-fleet main --dir /etc/hailong-broker
  python -m broker run --dir /etc/hailong-broker
  python -m broker embedded --port 1883"""


def _dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, type=Path, help="the broker folder (written by init)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m broker", description="Wire contract and broker tooling.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("schema", help="print the JSON Schema of wire contract v1",
                   description="Print the JSON Schema of wire contract v1.")

    p = sub.add_parser("init", help="write a Mosquitto set-up (TLS, passwords, ACL, persistence) into a folder",
                       description="Write mosquitto.conf, a CA and server certificate, the password file and the "
                                   "ACL into DIR. Running it again keeps the CA and every account.")
    _dir(p)
    p.add_argument("--config", type=Path, help="broker.yaml (default: built-in defaults)")
    p.add_argument("--tls-port", type=int, help="override listeners.tls.port")
    p.add_argument("--local-port", type=int, help="add or override the plain listener on loopback")
    p.add_argument("--user", help="system user Mosquitto runs as when started by root (default: mosquitto "
                                  "if it can reach DIR, else root)")

    p = sub.add_parser("add-device", help="create or rotate a kiosk's credentials",
                       description="Create (or, if it exists, rotate) the credentials of one kiosk; it may publish "
                                   "only on <prefix>/SITE/DEVICE/rating|status|event and subscribe only to "
                                   "<prefix>/SITE/DEVICE/request|config. Prints the broker: block for kiosk.yaml; "
                                   "a running broker takes the change at once.")
    p.add_argument("site")
    p.add_argument("device")
    _dir(p)
    p.add_argument("--client-cert", action="store_true", help="also issue a client certificate signed by the CA")
    p.add_argument("--enrol-bundle", type=Path, metavar="OUT.tar",
                   help="also write one file with everything the kiosk needs (kiosk.yaml, CA, password, "
                        "fleet.pub), for a USB stick; on the device: sudo hailong-kiosk enrol --dir /etc/hailong finds it. "
                        "It holds a password.")
    p.add_argument("--enrol-qr", type=Path, metavar="OUT.png|OUT.svg|OUT.html", action="append",
                   help="the same files as a QR code for a tablet or a phone to scan (.html: a printable page "
                        "with the steps; give it more than once for several forms of one code); on the device: "
                        "sudo hailong-kiosk enrol - --dir /etc/hailong, then scan it with a USB QR reader. It holds a password.")
    p.add_argument("--fleet-pub", type=Path, metavar="fleet.pub",
                   help="the fleet's public key to put in the bundle or QR code, so the kiosk takes pushed configs")
    p.add_argument("--tech-pin-hash", metavar="HASH",
                   help="the technician PIN for the bundle or QR code, as its hash only "
                        "(python -m config hash-pin --key pin.key); a push can change it later")
    p.add_argument("--outbox", metavar="PATH",
                   help="the kiosk's outbox in the bundle's kiosk.yaml (default /var/lib/hailong-kiosk/outbox.db, "
                        "in the kiosk user's home)")
    p.add_argument("--pin-key", type=Path, metavar="pin.key",
                   help="the PIN key (python -m config pin-key) the officers' and technician's PIN hashes were made "
                        "with, put in the bundle or QR code")

    p = sub.add_parser("remove-device", help="revoke a kiosk's credentials",
                       description="Revoke one kiosk's credentials, disconnect it from a running broker and clear "
                                   "the messages the broker retains on its topics (at the next start if it is down).")
    p.add_argument("site")
    p.add_argument("device")
    _dir(p)

    p = sub.add_parser("add-collector", help="create or rotate a collector's credentials (read what kiosks send)",
                       description="Create (or rotate) a collector account: it may subscribe to "
                                   "<prefix>/+/+/rating|status|event, plain or as $share/GROUP/..., and publish "
                                   "nothing. Give each collector process its own account: the client id is the "
                                   "user name.")
    p.add_argument("name")
    _dir(p)
    p.add_argument("--client-cert", action="store_true", help="also issue a client certificate signed by the CA")

    p = sub.add_parser("remove-collector", help="revoke a collector's credentials",
                       description="Revoke a collector account.")
    p.add_argument("name")
    _dir(p)

    p = sub.add_parser("add-bridge-user", help="create an account a commune broker's bridge logs in with",
                       description="On the provincial broker: an account for one commune broker's bridge. It may "
                                   "publish what kiosks send (rating, status, event) and read the collectors' "
                                   "receipts and time; with --sites, for those sites only.")
    p.add_argument("name")
    _dir(p)
    p.add_argument("--sites", metavar="SITE[,SITE...]",
                   help="the sites (centres) whose kiosks this bridge carries; the commune's `bridge` needs the same")

    p = sub.add_parser("add-desk", help="create or rotate a desk account of one site (sends requests)",
                       description="Create (or rotate) an account for a desk or queue system of SITE: it may "
                                   "publish only <prefix>/SITE/+/request.")
    p.add_argument("site")
    p.add_argument("name")
    _dir(p)
    p.add_argument("--client-cert", action="store_true", help="also issue a client certificate signed by the CA")

    p = sub.add_parser("add-fleet", help="create or rotate a fleet tool account (sends config, reads status)",
                       description="Create (or rotate) an account for the fleet tool: it may publish "
                                   "<prefix>/+/+/config and subscribe to <prefix>/+/+/status.")
    p.add_argument("name")
    _dir(p)
    p.add_argument("--client-cert", action="store_true", help="also issue a client certificate signed by the CA")

    p = sub.add_parser("remove-account", help="revoke any account by its user name",
                       description="Revoke one account (as shown by `list`) and disconnect it from a running broker.")
    p.add_argument("username")
    _dir(p)

    p = sub.add_parser("clear-retained", help="clear retained ratings, events, requests and removed devices' topics",
                       description="On the running broker, clear every retained message on <prefix>/+/+/rating|"
                                   "event|request (none of them is meant to be retained) and the topics of "
                                   "devices removed while it was down. `run` does this at every start.")
    _dir(p)
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for the broker to come up (default 0)")

    p = sub.add_parser("list", help="show the accounts of a broker folder", description="Show every account.")
    _dir(p)
    p.add_argument("--rules", action="store_true", help="also print what each account may do")

    p = sub.add_parser("run", help="run Mosquitto on the folder in the foreground",
                       description="Run `mosquitto -c DIR/mosquitto.conf` in the foreground, recording its pid "
                                   "so add/remove can reload it.")
    _dir(p)

    p = sub.add_parser("health", help="check that the running Mosquitto answers; restart it when it does not",
                       description="Open an admin session on the folder's control socket. Exit 0 when the broker "
                                   "answers, 1 when it does not answer (twice, 5 s apart), 2 when it is not running. "
                                   "With --restart-cmd, a broker that does not answer is restarted. Run it from "
                                   "docs/hailong-broker-health.timer.",
                       epilog="Example: python -m broker health --dir /etc/hailong-broker "
                              "--restart-cmd 'systemctl restart hailong-broker'")
    _dir(p)
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for an answer (default 10)")
    p.add_argument("--restart-cmd", metavar="CMD", help="a shell command that restarts the broker")

    p = sub.add_parser("embedded", help="run an embedded broker for trying things out (not for production)",
                       description="An embedded MQTT 3.1.1 broker (amqtt), anonymous, no TLS: for a demo on a "
                                   "machine without Mosquitto only.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=1883, help="port (default 1883)")

    p = sub.add_parser("bridge", help="write a bridge from this broker to a provincial broker",
                       description="Write DIR/conf.d/bridge-NAME.conf: ratings, statuses and events go out, the "
                                   "collectors' receipts and time come in, at QoS 1 with a persistent session, "
                                   "queued while the uplink is down.")
    _dir(p)
    p.add_argument("--name", required=True, help="bridge name (a slug, e.g. to-province)")
    p.add_argument("--remote-host", required=True)
    p.add_argument("--remote-port", type=int, default=8883)
    p.add_argument("--ca", type=Path, help="CA certificate of the remote broker (default: the system's CAs)")
    p.add_argument("--username", help="account on the remote broker (see add-bridge-user there)")
    p.add_argument("--password-file", type=Path, help="file holding that account's password")
    p.add_argument("--sites", metavar="SITE[,SITE...]",
                   help="only these sites' kiosks (when the remote account was made with --sites)")
    fleet_cli.add_parser(sub)
    return parser


def _health(args) -> int:
    from .health import check, restart

    health = check(args.dir, args.timeout)
    if health.state == "ok":
        print(f"máy chủ MQTT trả lời / the broker answers ({health.answer_ms:.0f} ms)")
        return 0
    if health.state == "not running":
        print(f"máy chủ MQTT không chạy / the broker is not running: {health.detail}", file=sys.stderr)
        return 2
    print(f"máy chủ MQTT không trả lời / the broker does not answer: {health.detail}", file=sys.stderr)
    if args.restart_cmd:
        code, out = restart(args.restart_cmd)
        print(f"khởi động lại / restarted with `{args.restart_cmd}`: exit {code}" + (f"\n{out}" if out else ""),
              file=sys.stderr)
    return 1


def _print_province(args) -> None:
    """The province code the clerk compares at the counter (the CA and fleet key the kiosk will trust)."""
    from .enrol import province_fingerprint

    ca = args.dir / "certs" / "ca.crt"
    code = province_fingerprint(ca.read_bytes() if ca.exists() else None,
                                args.fleet_pub.read_bytes() if args.fleet_pub else None)
    print(f"# province code / mã tỉnh: {code} (give it to the commune in your letter or by phone, not with "
          f"the sheet or stick)", file=sys.stderr)


def _print_issued(issued) -> None:
    print(f"# user {issued.username}; password saved in {issued.password_file}")
    print(issued.yaml_block.rstrip("\n"))
    print(f"# {issued.note}", file=sys.stderr)


def _load_config(path: Path | None):
    from config import ConfigError, load
    from config.broker import BrokerConfig
    if path is None:
        return BrokerConfig()
    if not path.exists():
        raise SetupError(f"{path} does not exist; copy config/examples/broker.yaml and edit it")
    try:
        return load(path, kind="broker")
    except ConfigError as exc:
        raise SetupError(str(exc)) from None


def dispatch(args: argparse.Namespace) -> int:
    from . import retained, runner, setup
    if args.command == "fleet":
        return fleet_cli.run(args)
    if args.command == "schema":
        print(json.dumps(contract.json_schema(), indent=2, ensure_ascii=False))
    elif args.command == "init":
        cfg = _load_config(args.config)
        for note in setup.init(args.dir, cfg, args.tls_port, args.local_port, args.user):
            print(note)
        print(f"wrote {args.dir.resolve() / 'mosquitto.conf'}; next: add-device, add-collector, then run")
    elif args.command == "add-device":
        if args.fleet_pub and not args.fleet_pub.is_file():
            raise SetupError(f"--fleet-pub {args.fleet_pub}: no such file; give the fleet.pub made by "
                             f"`python -m broker fleet keygen`")
        for given, flag in ((args.fleet_pub, "--fleet-pub"), (args.tech_pin_hash, "--tech-pin-hash"),
                            (args.pin_key, "--pin-key")):
            if given and not (args.enrol_bundle or args.enrol_qr):
                raise SetupError(f"{flag} goes with --enrol-bundle or --enrol-qr")
        from .enrol import check_tech_pin

        check_tech_pin(args.tech_pin_hash, args.pin_key)  # before the account is made (or its password changed)
        extras = {"tech_pin_hash": args.tech_pin_hash, "pin_key": args.pin_key, "outbox": args.outbox}
        if args.enrol_qr:
            from .enrol import QR_FORMATS

            for path in args.enrol_qr:
                if path.suffix.lower() not in QR_FORMATS:
                    raise SetupError(f"--enrol-qr {path}: write .png, .svg or .html (a printable page)")
            if args.client_cert:
                raise SetupError("--enrol-qr: a client certificate and its key do not fit a QR code; "
                                 "use --enrol-bundle with --client-cert")
        issued = setup.add_device(args.dir, args.site, args.device, args.client_cert)
        _print_issued(issued)
        if args.enrol_bundle:
            from .enrol import make_bundle

            out = make_bundle(args.dir, args.site, args.device, issued, args.enrol_bundle, args.fleet_pub, **extras)
            _print_province(args)
            print(f"# enrolment bundle: {out} (holds the password: hand it over like one); copy it to a USB stick; "
                  f"on the kiosk: sudo hailong-kiosk enrol --dir /etc/hailong", file=sys.stderr)
        for path in args.enrol_qr or ():
            from .enrol import make_qr

            out, with_ca = make_qr(args.dir, args.site, args.device, issued, path, args.fleet_pub, **extras)
            _print_province(args)
            print(f"# enrolment QR code: {out} (holds the password: print it, hand it over, destroy it after)"
                  + ("" if with_ca else "; it carries only the CA's fingerprint: give the kiosk ca.crt with --ca")
                  + "; on the kiosk: sudo hailong-kiosk enrol - --dir /etc/hailong, then scan it", file=sys.stderr)
    elif args.command == "add-collector":
        _print_issued(setup.add_collector(args.dir, args.name, args.client_cert))
    elif args.command == "add-bridge-user":
        sites = [s.strip() for s in args.sites.split(",") if s.strip()] if args.sites else None
        _print_issued(setup.add_bridge_user(args.dir, args.name, sites))
    elif args.command == "add-desk":
        _print_issued(setup.add_desk(args.dir, args.site, args.name, args.client_cert))
    elif args.command == "add-fleet":
        _print_issued(setup.add_fleet(args.dir, args.name, args.client_cert))
    elif args.command in ("remove-device", "remove-collector", "remove-account"):
        user = {"remove-device": lambda: setup.device_username(args.site, args.device),
                "remove-collector": lambda: f"collector-{args.name}",
                "remove-account": lambda: args.username}[args.command]()
        removed = setup.remove(args.dir, user)
        print(f"revoked {user}" if removed.existed else f"{user} did not exist; nothing to do")
        print(removed.note)
    elif args.command == "clear-retained":
        print(retained.clear(args.dir, args.wait))
    elif args.command == "list":
        from .acl import describe
        state = setup.accounts(args.dir)
        s = state.settings
        print(f"prefix {s.topic_prefix}; TLS port {s.tls_port or '-'}; local port {s.local_port or '-'}; "
              f"hosts {', '.join(s.hostnames)}")
        for user, a in sorted(state.accounts.items()):
            what = f"{a.site}/{a.device}" if a.kind == "device" else (a.site or "")
            print(f"{a.kind:<10} {user:<40} {what}{'  (client cert)' if a.client_cert else ''}")
            if args.rules:
                print("\n".join(f"    {line}" for line in describe(setup.account_of(user, a), s.topic_prefix).splitlines()))
        if len(state.accounts) <= 1:
            print("no accounts yet; add one with add-device SITE DEVICE")
    elif args.command == "run":
        setup.check_layout(args.dir.resolve())
        setup.regenerate(args.dir.resolve(), setup.accounts(args.dir))  # the plugin reads its file only now
        retained.clear_after_start(args.dir)
        runner.run(args.dir)
    elif args.command == "health":
        return _health(args)
    elif args.command == "embedded":
        from .embedded import serve_forever
        serve_forever(args.host, args.port)
    elif args.command == "bridge":
        from .bridge import BridgeSpec, read_password_file, write_bridge
        from .state import load_state
        if args.password_file and not args.username:
            raise SetupError("--password-file needs --username")
        prefix = load_state(args.dir.resolve()).settings.topic_prefix
        spec = BridgeSpec(args.name, args.remote_host, prefix, args.remote_port, args.ca, args.username,
                          read_password_file(args.password_file) if args.password_file else None,
                          sites=tuple(s.strip() for s in (args.sites or "").split(",") if s.strip()))
        print(f"wrote {write_bridge(args.dir, spec)}")
        print("restart Mosquitto to start the bridge (a reload does not open new bridges)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""python -m broker fleet keygen|push|status: the province's side of centrally managed kiosks."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from config.loader import ConfigError

from . import fleet, fleet_check

EPILOG = """\
A fleet folder holds defaults.yaml, sites/<site>.yaml, devices/<site>/<device>.yaml (check them with
`python -m config fleet check DIR`) and push.yaml: how the fleet account reaches the broker and where
the private key is:
    kind: fleet
    key: /etc/hailong-fleet/fleet.key
    broker: {host: mqtt.tinh.example, port: 8883, username: fleet-tinh, password: {file: /etc/hailong-fleet/fleet.pass},
             tls: {ca: /etc/hailong-fleet/ca.crt}}
    device_files: []   # files you install on every kiosk beside what enrolment gives it, e.g. [pin.key]
A push first checks every config as `config fleet check` does (schema, the files it names, its size), and
publishes nothing if one fails. A complete example folder: config/examples/fleet.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("fleet", help="sign and push kiosk configs, show the fleet's state",
                       description="Centrally managed kiosks: every device's merged kiosk.yaml is signed with "
                                   "the province's Ed25519 key and published retained on its config topic.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fs = p.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    kg = fs.add_parser("keygen", help="make the province's signing key (fleet.key) and its public half (fleet.pub)")
    kg.add_argument("--dir", type=Path, required=True, help="where to write fleet.key and fleet.pub")
    kg.add_argument("--force", action="store_true", help="replace an existing key (every kiosk then needs the new fleet.pub)")
    push = fs.add_parser("push", help="check, sign and publish every device's merged config (retained)")
    push.add_argument("folder", type=Path, metavar="DIR")
    push.add_argument("--site", help="only this site's devices")
    push.add_argument("--device", help="only this device (with --site)")
    push.add_argument("--dry-run", action="store_true", help="check and sign, print what would be pushed, publish nothing")
    push.add_argument("--settings", type=Path, help="push.yaml (default: DIR/push.yaml)")
    st = fs.add_parser("status", help="print every kiosk's retained status: applied config, errors, health")
    st.add_argument("--settings", type=Path, required=True, help="push.yaml with the broker connection")
    st.add_argument("--fleet", type=Path, help="fleet folder: also show the desired config hash per device")
    st.add_argument("--wait", type=float, default=3.0, help="seconds to collect retained statuses (default 3)")


def run(args) -> int:
    try:
        if args.fleet_command == "keygen":
            priv, pub = fleet.keygen(args.dir, force=args.force)
            print(f"wrote {priv} (keep it secret, mode 0600) and {pub} (give it to every kiosk)")
            return 0
        if args.fleet_command == "push":
            return _push(args)
        return _status(args)
    except (fleet.FleetKeyError, ConfigError) as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, OSError) as exc:
        print(f"fleet: cannot reach the broker: {exc}", file=sys.stderr)
        return 3


def _push(args) -> int:
    from broker.contract import MAX_PAYLOAD_BYTES, encode
    from config import fleet as layers

    settings = layers.load_push_settings(args.settings or args.folder / layers.PUSH_FILE)
    good, problems = fleet_check.check(args.folder, site=args.site, device_files=settings.device_files)
    if args.device:
        good = [m for m in good if m.device == args.device]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"fleet push: {len(problems)} problem(s); nothing pushed. Fix them (python -m config fleet check "
              f"{args.folder}) and push again.", file=sys.stderr)
        return 1
    if not good:
        print("fleet push: no device matches", file=sys.stderr)
        return 1
    key = fleet.load_private(settings.key)
    pushes = [fleet.sign(m.yaml_text(), m.site, m.device, key) for m in good]
    for push in pushes:
        print(f"{push.site}/{push.device}: config {push.sha256[:12]}" + (" (dry run)" if args.dry_run else ""))
    if args.dry_run:
        print(f"fleet push: {len(pushes)} config(s) checked and signed; nothing published (dry run)")
        return 0

    def progress(done: int, total: int) -> None:
        print(f"\rpublished {done}/{total}", end="", file=sys.stderr, flush=True)

    reasons: dict[str, str] = {}
    missing = fleet.publish_configs(pushes, settings.broker, timeout_s=settings.timeout_s, progress=progress,
                                    reasons=reasons)
    print(file=sys.stderr)
    if missing:
        sizes = {f"{settings.broker.topic_prefix}/{p.site}/{p.device}/config": len(encode(p)) for p in pushes}
        for topic in missing:
            print(f"not confirmed by the broker: {topic} ({sizes[topic]:,} bytes): {reasons.get(topic, '')}",
                  file=sys.stderr)
        print(f"fleet push: {len(missing)} of {len(pushes)} not confirmed", file=sys.stderr)
        # Mosquitto closes the connection on a message above its message_size_limit (MQTT 5; 3.1.1 acknowledges
        # and drops it); it answers a refused right with "Not authorized" and keeps the connection.
        big = max(sizes[t] for t in missing)
        if big > MAX_PAYLOAD_BYTES and any("too large" in r.lower() or "closed" in r for r in reasons.values()):
            print(f"fleet push: cấu hình quá lớn đối với máy chủ MQTT / too large for this broker: it closed the "
                  f"connection on a config of up to {big:,} bytes. A broker folder set up before pushed configs "
                  f"could be 64 KiB has message_size_limit 8192 in its mosquitto.conf: run `python -m broker init "
                  f"--dir ... --config broker.yaml` again there and restart the broker (docs/broker.md)",
                  file=sys.stderr)
        else:
            print("fleet push: is this account allowed to publish configs? (python -m broker add-fleet; "
                  "see docs/broker.md)", file=sys.stderr)
        return 1
    print(f"fleet push: {len(pushes)} config(s) published; kiosks apply them when they see them")
    return 0


def _status(args) -> int:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from broker.contract import ContractError, decode, subscription
    from broker.fleet_view import behind, line, table
    from broker.mqtt_client import apply_connection, protocol_of
    from config import fleet as layers

    settings = layers.load_push_settings(args.settings)
    conn = settings.broker
    desired = {}
    if args.fleet:
        good, _ = fleet_check.check(args.fleet, device_files=settings.device_files)
        desired = {(m.site, m.device): m.sha256()[:12] for m in good}
    seen: dict[tuple[str, str], object] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol_of(conn))
    apply_connection(client, conn)

    def on_message(_c, _u, msg):
        try:
            status = decode(msg.topic, msg.payload, conn.topic_prefix)
        except ContractError:
            return
        seen[(status.site, status.device)] = status

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(subscription("status", conn.topic_prefix), qos=1)
    client.connect(conn.host, conn.port, keepalive=conn.keepalive_s)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    lines = [line(*key, (lambda f, s=seen.get(key): getattr(s, f, None)), desired.get(key))
             for key in sorted(set(seen) | set(desired))]
    for text in table(lines):
        print(text)
    print(f"{len(lines)} device(s); {behind(lines)} not on the desired config" if desired else f"{len(lines)} device(s)")
    return 0

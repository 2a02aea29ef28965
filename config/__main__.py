"""python -m config check FILE...: validate kiosk.yaml, collector.yaml and broker.yaml files."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hailong_unshadow import unshadow

unshadow(__package__, __file__)  # first, before anything of our own is imported

from .loader import KINDS, ConfigError, load_checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config",
        description="Check the YAML files of the smiley feedback terminal (kiosk, collector, broker).",
        epilog="Example: python -m config check config/examples/*.yaml")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate files; prints 'ok' per file or one line per problem",
                           description="Validate YAML files and check that the files they name (CA, client "
                                       "certificate and key, password files, sounds) exist and can be read "
                                       "by this user. Exit 0 when all are valid, 1 otherwise.")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--kind", choices=sorted(KINDS), help="kind of file (default: detected from content)")
    fleet = sub.add_parser("fleet", help="check or show the merged configs of a fleet folder",
                           description="A fleet folder holds defaults.yaml, sites/<site>.yaml and "
                                       "devices/<site>/<device>.yaml; each device's config is the three merged.")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    fcheck = fleet_sub.add_parser(
        "check", help="merge and validate every device; one line per problem, naming the layer file and line "
                      "(exit 1 on any problem)",
        description="Merge and validate every device's config: its schema, the files it names (only those the "
                    "kiosk has: what enrolment gives it and push.yaml's device_files) and its size (what the "
                    "broker and the kiosk take). With --broker-dir and/or --collector, also check that the "
                    "counters of the fleet folder, the broker's device accounts and collector.yaml's sites are "
                    "the same. Exit 0 when all is well, 1 otherwise.",
        epilog="Example: python -m config fleet check /etc/hailong-fleet/fleet --broker-dir /etc/hailong-broker "
               "--collector /etc/hailong/collector.yaml")
    fcheck.add_argument("folder", metavar="DIR")
    fcheck.add_argument("--site", help="only this site's devices")
    fcheck.add_argument("--broker-dir", metavar="BROKER_DIR",
                        help="the broker folder (python -m broker init): every counter must have its device "
                             "account there, and each device's broker.username must be that account")
    fcheck.add_argument("--collector", metavar="collector.yaml",
                        help="every counter must be in its sites: hierarchy, and every counter there in the fleet")
    fshow = fleet_sub.add_parser("show", help="print one device's merged kiosk.yaml")
    fshow.add_argument("folder", metavar="DIR")
    fshow.add_argument("site", metavar="SITE")
    fshow.add_argument("device", metavar="DEVICE")
    hp = sub.add_parser("hash-pin", help="make the salted hash of an officer's PIN for the staff list",
                        description="Prints scrypt$... (scryptk$... with --key) to paste as pin_hash: in the staff "
                                    "list. The PIN is asked without echo, or read from standard input when it is "
                                    "not a terminal.")
    hp.add_argument("--stdin", action="store_true", help="read the PIN from standard input")
    hp.add_argument("--key", metavar="FILE", help="the PIN key file (python -m config pin-key) the kiosks hold: "
                                                  "without it a copied hash cannot be guessed at")
    hp.add_argument("--min-digits", type=int, default=None, metavar="N",
                    help="refuse PINs shorter than this (4 to 12, default 6)")
    pk = sub.add_parser("pin-key", help="make the PIN key officers' PIN hashes are made with",
                        description="Writes a new random PIN key (readable by its owner only). Give the same file "
                                    "to 'hash-pin --key' and to every kiosk of the staff list (duty: {pin_key: "
                                    "{file: pin.key}}); never put it in a pushed YAML file.")
    pk.add_argument("--out", required=True, metavar="FILE", help="where to write the key (never overwritten)")
    args = parser.parse_args(argv)
    if args.command == "fleet":
        return _fleet(args)
    if args.command == "hash-pin":
        return _hash_pin(args)
    if args.command == "pin-key":
        return _pin_key(args)

    failed = False
    loaded: list[tuple[str, object]] = []
    for f in args.files:
        try:
            _cfg, warnings = load_checked(f, kind=args.kind)
            loaded.append((f, _cfg))
            if getattr(_cfg, "kind", None) == "kiosk" and _cfg.voice.enabled:  # speech: every text has a clip or a voice
                from kiosk.voice import problems as voice_problems

                warnings = [*warnings, *voice_problems(_cfg, Path(f).name)]
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            for problem in warnings:
                print(problem, file=sys.stderr)
            failed = failed or bool(warnings)
            if not warnings:
                print(f"{f}: ok")
    for problem in reason_elements_problems(loaded):
        print(problem, file=sys.stderr)
        failed = True
    return 1 if failed else 0


def reason_elements_problems(loaded: list[tuple[str, object]]) -> list[str]:
    """Checked together, a kiosk.yaml and a collector.yaml must give each reason the same SIPAS element: the
    kiosk's is what its technician wrote, the collector's is what the reports group by."""
    from .loader import _node_lines, parse, read_text

    collectors = [(f, c) for f, c in loaded if getattr(c, "kind", None) == "collector"]
    out = []
    for f, cfg in loaded:
        if getattr(cfg, "kind", None) != "kiosk" or not collectors:
            continue
        lines = None
        for i, reason in enumerate(cfg.followup.reasons):
            if reason.element is None:
                continue
            for cf, ccfg in collectors:
                theirs = ccfg.labels.reason_elements.get(reason.key)
                if theirs == reason.element:
                    continue
                if lines is None:
                    lines = _node_lines(parse(read_text(Path(f)))[0])
                line = lines.get(("followup", "reasons", str(i), "element"), lines.get(("followup", "reasons", str(i)), 0))
                out.append(element_problem(Path(f).name, line, i, reason.key, reason.element, Path(cf).name, theirs))
    return out


def element_problem(file: str, line: int, i: int, key: str, ours: str, collector: str, theirs: str | None) -> str:
    said = f"is {theirs!r}" if theirs else "names none"
    return (f"{file}:{line}: followup.reasons[{i}].element: {ours!r}, but {collector} labels.reason_elements.{key} "
            f"{said}; reports group by collector.yaml's, so make them the same / yếu tố SIPAS của lý do phải giống "
            f"nhau ở hai tệp")


def _fleet_elements(good, collector_path: str) -> list[str]:
    """fleet check --collector: each reason's SIPAS element in the merged kiosk.yaml files as collector.yaml's,
    named once per layer file and line that sets it."""
    from .loader import load

    cfg = load(collector_path, kind="collector")
    out: dict[tuple, str] = {}
    for merged in good:
        for i, reason in enumerate((merged.data.get("followup") or {}).get("reasons") or []):
            ours = reason.get("element") if isinstance(reason, dict) else None
            if not ours:
                continue
            theirs = cfg.labels.reason_elements.get(reason.get("key"))
            if theirs != ours:
                file, line = merged.where(("followup", "reasons", i, "element"))
                out.setdefault((file, line), element_problem(file, line, i, reason.get("key"), ours,
                                                             Path(collector_path).name, theirs))
    return list(out.values())


def _hash_pin(args) -> int:
    import getpass

    from .pins import MIN_DIGITS, hash_pin, read_pin_key

    min_digits = MIN_DIGITS if args.min_digits is None else args.min_digits
    if not 4 <= min_digits <= 12:
        print("hash-pin: --min-digits phải từ 4 đến 12 / must be 4 to 12", file=sys.stderr)
        return 2
    key = None
    if args.key:
        try:
            with open(args.key, encoding="utf-8") as f:
                key = read_pin_key(f.read())
        except OSError as exc:
            print(f"hash-pin: không đọc được khóa PIN / cannot read the PIN key {args.key}: {exc.strerror}",
                  file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"hash-pin: {args.key}: {exc}", file=sys.stderr)
            return 1
    if args.stdin or not sys.stdin.isatty():
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass(f"PIN ({min_digits} to 12 digits): ")
        if getpass.getpass("again: ") != pin:
            print("hash-pin: the two PINs differ; nothing printed", file=sys.stderr)
            return 1
    if pin.isdigit() and len(pin) < min_digits:
        print(f"hash-pin: mã PIN phải có ít nhất {min_digits} chữ số / the PIN must have at least {min_digits} "
              f"digits (--min-digits to change it); nothing printed", file=sys.stderr)
        return 1
    try:
        print(hash_pin(pin, key=key))
    except ValueError as exc:
        print(f"hash-pin: {exc}", file=sys.stderr)
        return 1
    if key is None:
        print("hash-pin: không có khóa PIN: ai đọc được cấu hình đã gửi có thể dò mã PIN này / without a PIN "
              "key (--key), anyone who can read the pushed config can guess at this PIN", file=sys.stderr)
    return 0


def _pin_key(args) -> int:
    import os

    from .pins import new_pin_key

    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"pin-key: {args.out} đã có, không ghi đè / exists, not overwritten (every hash made with it "
              f"would stop matching)", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pin-key: không ghi được / cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(new_pin_key() + "\n")
    print(f"pin-key: đã ghi / wrote {args.out}; give it to 'hash-pin --key' and to every kiosk (duty.pin_key)")
    return 0


def _fleet(args) -> int:
    from pathlib import Path

    from . import fleet

    folder = Path(args.folder)
    try:
        if args.fleet_command == "show":
            merged = fleet.merge_device(folder, args.site, args.device)
            fleet.validate(merged)
            print(merged.yaml_text(), end="")
            return 0
        from broker import fleet_check  # measured as the broker carries a push

        good, problems = fleet_check.check(folder, site=args.site)
        if args.broker_dir:  # a broker folder written before 64 KiB configs refuses more than the contract does
            big = fleet_check.too_large_for(good, fleet_check.broker_size_limit(args.broker_dir), args.broker_dir)
            good = [m for m in good if (m.site, m.device) not in big]
            problems += list(big.values())
        disagree = _counters(args, folder) if args.broker_dir or args.collector else None
        if args.collector:  # each reason's SIPAS element as the reports group it
            problems += _fleet_elements(good, args.collector)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{folder}: {len(good)} device(s) ok, {len(problems)} problem(s)")
    if disagree is not None:
        lines, counted = disagree
        for line in lines:
            print(line, file=sys.stderr)
        if lines:
            print(f"quầy: {len(lines)} khác biệt / counters: {len(lines)} difference(s) between the places compared")
        else:
            print(f"quầy: {counted} quầy khớp nhau ở mọi nơi đã so / counters: the {counted} counters agree in "
                  f"every place compared")
    return 1 if problems or (disagree and disagree[0]) else 0


def _counters(args, folder) -> tuple[list[str], int]:
    """The differences between the fleet folder's counters and the broker's and collector.yaml's."""
    from . import counters, counters_cli

    fleet = counters.fleet_counters(folder, site=args.site)
    broker = counters_cli.broker_counters(args.broker_dir) if args.broker_dir else None
    collector, hierarchy = counters_cli.collector_counters(args.collector) if args.collector else (None, None)
    lines = counters.differences(fleet, broker, collector, hierarchy, site=args.site, fleet_dir=str(folder),
                                 broker_dir=str(args.broker_dir or "BROKER_DIR"))
    return lines, len(fleet)


if __name__ == "__main__":
    sys.exit(main())

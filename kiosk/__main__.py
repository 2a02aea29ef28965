"""Command line: ``python -m kiosk [run] --config kiosk.yaml`` opens the terminal;
``python -m kiosk simulate ...`` taps without a window; ``python -m kiosk outbox check|salvage PATH``
examines or recovers an outbox file; ``python -m kiosk voice build --config kiosk.yaml`` makes the spoken clips."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from hailong_unshadow import unshadow

unshadow(__package__, __file__)  # first, before anything of our own is imported

from .outbox_move import carry_over

COMMANDS = ("run", "simulate", "request", "outbox", "enrol", "voice")


def mqtt_url(value: str) -> tuple[str, int]:
    url = urlsplit(value)
    if url.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not url.hostname:
        raise argparse.ArgumentTypeError(f"{value!r}: write mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883")
    return url.hostname, url.port or (8883 if url.scheme in ("mqtts", "ssl") else 1883)


def size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: write WIDTHxHEIGHT, e.g. 1280x800") from None
    return w, h


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m kiosk",
        description="The smiley feedback terminal. 'run' (the default) opens the full-screen touch app; "
                    "'simulate' taps random faces without a window, through the same outbox and uplink.",
        epilog="Examples:\n  python -m kiosk --config kiosk.yaml\n"
               "  python -m kiosk run --config kiosk.yaml --windowed 1280x800\n"
               "  python -m kiosk simulate --config kiosk.yaml --count 100 --rate 5 --mqtt-url mqtt://127.0.0.1:1883",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", metavar="{run,simulate,request,outbox,enrol,voice}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", required=True, type=Path, help="the kiosk.yaml of this counter")
    common.add_argument("--mqtt-url", type=mqtt_url, metavar="mqtt://HOST:PORT",
                        help="use this broker instead of broker.host/port of the config")
    common.add_argument("--outbox", type=Path, metavar="PATH", help="outbox file instead of outbox.path")
    common.add_argument("-v", "--verbose", action="store_true", help="log more")
    run = sub.add_parser("run", parents=[common], help="open the touch app (default)",
                         description="Open the touch app, full screen unless --windowed.")
    run.add_argument("--windowed", type=size, metavar="WxH", help="a window of this size instead of full screen")
    run.add_argument("--check-only", action="store_true",
                     help="check the config as the kiosk does at start (the files it names too), print what is "
                          "wrong and exit: 0 when usable, 2 when not")
    sim = sub.add_parser("simulate", parents=[common], help="tap random faces without a window",
                         description="Tap random faces (and reasons) through the real flow, outbox and uplink; "
                                     "exit when all are tapped and the outbox has drained.")
    sim.add_argument("--count", type=int, required=True, help="how many taps in total")
    sim.add_argument("--rate", type=float, default=5.0, help="taps per second (default 5; 0 = as fast as possible)")
    sim.add_argument("--journal", action="store_true",
                     help="keep every id created in the outbox file; a restart continues the count")
    sim.add_argument("--no-wait", action="store_true", help="exit after tapping, without waiting for the broker")
    sim.add_argument("--seed", type=int, help="random seed, for repeatable runs")
    sim.add_argument("--stay", action="store_true",
                     help="keep running after the last tap (sending status, taking pushed configs) until stopped")
    req = sub.add_parser("request", help="ask a counter's kiosk to rate now (for the officer's PC or a queue system)",
                         description="Publish a rating request to one kiosk with the centre's desk account. The "
                                     "next rating at that counter carries its dossier and ticket; a request nobody "
                                     "answers within --expires becomes a request_expired event.",
                         epilog="Example: python -m kiosk request --settings desk.yaml --site ubnd-xa-tan-lap "
                                "--device quay-01 --dossier 000.00.12.H56-261123-0001 --ticket A012")
    req.add_argument("--settings", type=Path, default=Path("desk.yaml"),
                     help="desk.yaml with the desk account's broker: block (default ./desk.yaml)")
    req.add_argument("--site", required=True)
    req.add_argument("--device", required=True)
    req.add_argument("--dossier", help="the case (dossier) code")
    req.add_argument("--ticket", help="the queue ticket number")
    req.add_argument("--service", help="the procedure's key")
    req.add_argument("--officer", help="the officer's key")
    req.add_argument("--expires", type=int, default=600, metavar="SECONDS", help="give up after this long (default 600)")
    box = sub.add_parser("outbox", help="check or salvage an outbox file (stop the kiosk first)",
                         description="check: is the file sound, how many messages wait in it (exit 0 sound, "
                                     "1 damaged, 2 cannot be read at all). salvage: move a damaged file aside "
                                     "(kept) and copy every readable message into a new outbox (exit 0 all "
                                     "saved, 1 some unreadable, 2 failed).")
    box.add_argument("action", choices=("check", "salvage"))
    box.add_argument("path", type=Path, help="the outbox file, e.g. /var/lib/hailong/outbox.db")
    box.add_argument("--force", action="store_true", help="salvage even a file that checks sound")
    box.add_argument("-v", "--verbose", action="store_true", help="log more")
    voice = sub.add_parser(
        "voice", help="build the spoken clips ahead of time (espeak-ng)",
        description="build: render a WAV clip with espeak-ng for every text the kiosk says in every enabled "
                    "language into voice.folder (beside kiosk.yaml); texts with a recorded clip are skipped, "
                    "clips already built are kept; texts with neither a clip nor a voice are listed (exit 1).",
        epilog="Example: python -m kiosk voice build --config kiosk.yaml")
    voice.add_argument("action", choices=["build"])
    voice.add_argument("--config", required=True, type=Path, help="the kiosk.yaml of this counter")
    en = sub.add_parser("enrol", help="set this kiosk up from the enrolment bundle the province made",
                        description="Put the bundle's kiosk.yaml, CA, password and fleet key in place (an existing "
                                    "kiosk.yaml is kept as kiosk.yaml.before-enrol), check the config and try the "
                                    "broker. Run as root (sudo), the files are given to the kiosk service's user "
                                    "(--user) and checked as that user. Exit 0 ready, 1 the bundle cannot be used, "
                                    "2 the config has problems, 3 written but the broker could not be reached (the "
                                    "kiosk keeps trying), 4 written but the service user cannot use them.",
                        epilog="Examples: sudo hailong-kiosk enrol --dir /etc/hailong        (finds the file on the USB stick)\n"
                               "          sudo hailong-kiosk enrol /media/usb/ubnd-xa-tan-lap--quay-01.tar --dir /etc/hailong\n"
                               "          sudo hailong-kiosk enrol - --dir /etc/hailong          (then scan with a USB QR reader)\n"
                               "          zbarimg --raw -q quay-01.png | sudo hailong-kiosk enrol - --dir /etc/hailong",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    en.add_argument("bundle", type=Path, metavar="BUNDLE|QR-TEXT|-", nargs="?",
                    help="the .tar made by `broker add-device ... --enrol-bundle`, or a file holding the text of the "
                         "--enrol-qr code, or - for that text on standard input (a USB QR reader types it); "
                         "none: the one enrolment file on a plugged-in USB stick (under /media, /run/media, /mnt)")
    en.add_argument("--ca", type=Path, metavar="ca.crt",
                    help="the province's CA certificate, when the QR code carries only its fingerprint")
    en.add_argument("--dir", type=Path, default=Path("/etc/hailong"), help="where kiosk.yaml goes (default /etc/hailong)")
    en.add_argument("--user", default="kiosk",
                    help="the user the kiosk service runs as (hailong-kiosk.service: User=kiosk); used when run as root")
    en.add_argument("--media", type=Path, action="append", metavar="DIR",
                    help="where to look for the USB stick's file instead of /media, /run/media and /mnt (repeatable)")
    en.add_argument("--no-connect", action="store_true", help="do not try the broker now")
    en.add_argument("--new-province", action="store_true",
                    help="take a bundle whose CA or fleet key differs from the ones this kiosk already trusts")
    return ap


def _enrol(args) -> int:
    from config import ConfigError, load

    from .enrol import BundleError, check_broker, install
    from .enrol_host import MEDIA_ROOTS, HostError, check_as, find_on_media, group_name, hand_over, service_user

    def fail(code: int, text: str) -> int:
        print(f"kiosk enrol: {text}", file=sys.stderr)
        return code

    try:
        user = service_user(args.user)
    except HostError as exc:
        return fail(1, str(exc))
    source = args.bundle
    if source is None:
        roots = tuple(args.media) if args.media else MEDIA_ROOTS
        found = find_on_media(roots)
        if not found:
            return fail(1, f"không thấy tệp đăng ký trên USB ({', '.join(map(str, roots))}): cắm USB của tỉnh rồi chạy "
                           f"lại, hoặc ghi tên tệp / no enrolment file on a USB stick: plug in the province's stick and "
                           f"run this again, or name the file")
        if len(found) > 1:
            return fail(1, "có nhiều tệp đăng ký, ghi rõ tệp cần dùng / several enrolment files, name the one to use:\n  "
                        + "\n  ".join(map(str, found)))
        source = found[0]
        print(f"dùng tệp / using {source}")
    elif str(source) == "-" and sys.stdin.isatty():
        print("Quét mã QR bằng đầu đọc USB (hoặc dán chữ rồi nhấn Enter) / Scan the QR code with the USB reader "
              "(or paste its text and press Enter):", flush=True)
    try:
        done = install(source, args.dir, ca=args.ca, new_province=args.new_province)
    except BundleError as exc:
        return fail(1, str(exc))
    except OSError as exc:
        return fail(1, f"không ghi được / cannot write {args.dir}: {exc.strerror} (chạy bằng sudo / run it with sudo)")
    print(f"đã đăng ký / enrolled {done.site}/{done.device}: {', '.join(done.written)} -> {done.folder}")
    print(f"mã tỉnh / province code: {done.province} (phải trùng mã tỉnh báo / must match the code the province gave)")
    if done.kept:
        print(f"kiosk.yaml cũ giữ lại / the previous kiosk.yaml is kept as {done.kept}")
    try:
        cfg = load(done.folder / "kiosk.yaml", kind="kiosk")
    except ConfigError as exc:
        return fail(2, "cấu hình có lỗi, gọi tỉnh / the config has problems, call the province:\n  "
                    + "\n  ".join(exc.problems))
    outbox_dir = Path(cfg.outbox.path).parent
    try:
        hand_over(user, done.folder, done.written)
    except OSError as exc:
        return fail(4, f"không giao được tệp cho người dùng {args.user} / cannot hand the files to {args.user}: "
                       f"{exc.strerror}")
    problems = check_as(user, done.folder / "kiosk.yaml", outbox_dir)
    if problems:
        return fail(4, f"người dùng {args.user} của dịch vụ không dùng được các tệp / the service user {args.user} "
                       f"cannot use the files:\n  " + "\n  ".join(problems))
    if user is not None:
        print(f"người dùng {user.name} đọc được cấu hình và ghi được hộp thư đi / the service user {user.name} reads "
              f"the config and writes the outbox (group {group_name(user)})")
    if args.no_connect:
        return 0
    verdict = check_broker(cfg)
    print(f"broker {cfg.broker.host}:{cfg.broker.port}: {verdict}")
    if verdict != "connected":
        return fail(3, "đã ghi xong, chưa tới được máy chủ; kiểm tra mạng, máy sẽ tự thử lại / the files are in place "
                       "and the kiosk will keep trying; check the network and the broker address with the province")
    print("sẵn sàng / ready: sudo systemctl restart hailong-kiosk")
    return 0


def _voice(args) -> int:
    from config import ConfigError, load

    from .voice_build import command

    try:
        cfg = load(args.config, kind="kiosk")
    except ConfigError as exc:
        print(f"kiosk: {args.config} has problems:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    return command(cfg, str(args.config))


def _request(args) -> int:
    from pydantic import ValidationError

    from config import ConfigError, load

    from .desk import DeskSettings, build_request, send_request

    try:
        settings = load(args.settings, model=DeskSettings)
        request = build_request(args.site, args.device, dossier=args.dossier, ticket=args.ticket,
                                service=args.service, officer=args.officer, expires_s=args.expires)
    except ConfigError as exc:
        print("kiosk request: " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        print(f"kiosk request: --{err['loc'][0]}: {err['msg']}", file=sys.stderr)
        return 2
    try:
        send_request(request, settings.broker)
    except (ConnectionError, OSError) as exc:
        print(f"kiosk request: {exc}", file=sys.stderr)
        return 3
    print(f"request {request.id} sent to {args.site}/{args.device}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "run")
    args = parser().parse_args(argv)
    if args.command == "request":
        return _request(args)
    if args.command == "enrol":
        return _enrol(args)
    if args.command == "voice":
        return _voice(args)
    # Kivy's default log mode hangs its own console handler on the root logger, beside the one below: every
    # line of ours came out twice. MIXED: Kivy's handlers serve Kivy's logger only; ours the rest. Set before
    # anything imports Kivy.
    os.environ.setdefault("KIVY_LOG_MODE", "MIXED")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "outbox":
        from .outbox_cli import outbox_command

        return outbox_command(args.action, args.path, force=args.force)
    if args.command == "run":
        return start(args, argv)
    from config import ConfigError, file_hash, load

    try:
        cfg = load(args.config, kind="kiosk")
    except ConfigError as exc:
        print(f"kiosk: {args.config} has problems:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    host, port = args.mqtt_url or (None, None)
    outbox = args.outbox or cfg.outbox.path
    carry_over(args.config, outbox)
    chash = file_hash(args.config)
    if args.command == "simulate":
        from .simulate import simulate

        if args.count < 0:
            print("kiosk: --count must be 0 or more", file=sys.stderr)
            return 2
        return simulate(cfg, args.count, args.rate, outbox, host, port, journal=args.journal,
                        wait=not args.no_wait, seed=args.seed, config_hash=chash, config_path=args.config,
                        stay=args.stay)
    raise AssertionError(args.command)


def start(args: argparse.Namespace, argv: list[str]) -> int:
    """Open the touch app. A config that cannot be used never leaves a black screen: the kiosk runs on
    the last good copy (kiosk.yaml.last-good) with a notice for the technician, or, with none, shows the
    config problem page until the file is fixed, then restarts itself in the same process."""
    from config import file_hash

    from .last_good import choose, keep

    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # a screenshot asked before the window exists: none
    boot = choose(args.config)
    if boot.problems:
        print(f"kiosk: {args.config} has problems:\n  " + "\n  ".join(boot.problems), file=sys.stderr)
    for warning in boot.warnings:
        print(f"kiosk: {warning}", file=sys.stderr)
    if args.check_only:
        if boot.fallback:
            print(f"kiosk: the kiosk would run on the last good config {boot.source}", file=sys.stderr)
        if not boot.problems:
            print(f"kiosk: {args.config}: ok, dùng được / can be used")
        return 2 if boot.problems else 0
    cfg = boot.cfg
    if boot.fallback:
        print(f"kiosk: running on the last good config {boot.source}", file=sys.stderr)
    from .display import configure

    windowed = args.windowed
    if windowed is None and cfg is not None and not cfg.display.fullscreen:
        windowed = size(cfg.display.size) if cfg.display.size else (1280, 800)
    configure(windowed)
    from .config_problem import install_screenshot_signal

    install_screenshot_signal()
    if cfg is None:
        from .config_problem import CHECK_EVERY_S, run_problem_page

        print(f"kiosk: showing the config problem page; checking {args.config} every {CHECK_EVERY_S:g} s",
              file=sys.stderr, flush=True)
        if not run_problem_page(boot):
            return 0  # stopped (systemctl stop) while the page showed
        restart(argv)
    from .app import run_app

    host, port = args.mqtt_url or (None, None)
    outbox = args.outbox or cfg.outbox.path
    carry_over(args.config, outbox)  # a changed outbox.path leaves nothing behind
    fixed: list[bool] = []

    def started(app):
        if boot.text is not None:  # up on a valid kiosk.yaml: keep a copy for the day the file breaks
            keep(args.config, boot.text)
        elif boot.fallback:  # on the last good copy: come back on kiosk.yaml once it is fixed
            from .config_problem import watch_for_fix

            watch_for_fix(app, args.config, lambda: (fixed.append(True), app.stop()))

    from .app import RESTART

    rc = run_app(cfg, args.config, outbox, host, port, windowed=windowed, config_hash=file_hash(boot.source),
                 config_notice=boot.notice(), on_start=started)
    if fixed or rc == RESTART:
        restart(argv)
    return rc


def restart(argv: list[str]) -> None:
    """Start the kiosk afresh in this process: systemd sees the same service that never stopped."""
    print("kiosk: the config can be used now: restarting", file=sys.stderr, flush=True)
    logging.shutdown()
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "kiosk", *argv])


if __name__ == "__main__":
    sys.exit(main())

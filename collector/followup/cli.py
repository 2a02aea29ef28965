"""python -m collector followup serve|purge|counter-qr: the public form, the clean-up a cron job may run, and
the printable general-feedback QR of a counter."""
from __future__ import annotations

import argparse
import sys
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="followup_command", required=True, metavar="ACTION")
    s = sub.add_parser("serve", help="serve the public form the thank-you QR opens (its own listener)",
                       description="Serve only the public form (/f/<rating id>.<token>) on its own address; put it "
                                   "behind a reverse proxy with TLS (docs/followup.md). Example: python -m collector "
                                   "followup serve --config collector.yaml")
    for q in (s, sub.add_parser("purge", help="delete expired pending answers, and comments and contacts past "
                                              "followup_form.retention_days")):
        q.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
        q.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    c = sub.add_parser(
        "counter-qr", help="make a counter's printable general-feedback QR (PNG or PDF), not tied to any visit",
        description="Make the static QR a counter may print: \"Góp ý chung / General feedback\" for that counter, not "
                    "tied to any visit. Its answers are counted apart from the thank-you QR's and never enter a "
                    "visit's figures; the form limits them per address and per code (followup_form.general_per_hour). "
                    "Running it again prints the same code; --new replaces it (the old sign stops working). "
                    "Example: python -m collector followup counter-qr --config collector.yaml --site ubnd-xa-tan-lap "
                    "--device quay-01 --output quay-01.pdf")
    c.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    c.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    c.add_argument("--site", required=True, help="the centre's site slug, as in collector.yaml sites")
    c.add_argument("--device", required=True, help="the counter's device id, as in collector.yaml sites")
    c.add_argument("--output", required=True, metavar="FILE", help="where to write it: FILE.png or FILE.pdf (A5)")
    c.add_argument("--base-url", metavar="URL",
                   help="the form's public address (default: followup_form.public_url), e.g. https://gopy.tinh.gov.vn")
    c.add_argument("--lang", choices=("vi", "en"), default="vi", help="the form's first language (default vi)")
    c.add_argument("--new", action="store_true", help="replace the counter's code: the old printed QR stops working")
    s.add_argument("--host", help="address to listen on (default: followup_form.host, 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: followup_form.port, 8090)")


def main(args) -> int:
    from ..cli_setup import collector_config, database
    from . import answers
    from .form import FollowupApp, make_server

    cfg = collector_config(args.config)
    if cfg is None:
        return 2
    db = database(cfg, args.db, f"followup {args.followup_command}")
    if db is None:
        return 2
    form = cfg.followup_form
    try:
        if args.followup_command == "counter-qr":
            return counter_qr(args, cfg, db)
        if args.followup_command == "purge":
            now_ms = int(time.time() * 1000)
            expired = answers.expire(db, now_ms, int(form.pending_hours * 3_600_000))
            purged = answers.purge(db, now_ms, form.retention_days)
            from . import general

            purged += general.purge(db, now_ms, form.retention_days)
            print(f"followup purge: {expired} câu trả lời chờ đã hết hạn / expired pending answers deleted; "
                  f"{purged} ý kiến, liên hệ đã xóa / comments and contacts deleted")
            return 0
        host, port = args.host or form.host, args.port or form.port
        app = FollowupApp(form, db)
        try:
            server = make_server(app, host, port)
        except OSError as exc:
            print(f"followup serve: cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port",
                  file=sys.stderr)
            return 2
        server.start()
        print(f"followup form on http://{host}:{server.server_address[1]}/f/... (Ctrl+C stops)", file=sys.stderr,
              flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
        return 0
    finally:
        db.close()


def counter_qr(args, cfg, db) -> int:
    from pathlib import Path

    from ..reports.hierarchy import Hierarchy
    from . import general

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".pdf"):
        print(f"followup counter-qr: --output must end in .png or .pdf, not {out.name!r}", file=sys.stderr)
        return 2
    base = args.base_url or cfg.followup_form.public_url
    if not base:
        print("followup counter-qr: give --base-url https://... or set followup_form.public_url in the config "
              "(the form's public address)", file=sys.stderr)
        return 2
    if not base.startswith(("https://", "http://")):
        print(f"followup counter-qr: --base-url must start with https:// (got {base!r})", file=sys.stderr)
        return 2
    h = Hierarchy.from_config(cfg.sites, cfg.labels)
    if (args.site, args.device) not in h.counters:
        known = ", ".join(f"{s} {d}" for s, d in sorted(h.counters)[:8]) or "none: add sites to the config"
        print(f"followup counter-qr: no counter --site {args.site} --device {args.device} in {args.config}'s sites "
              f"(counters: {known})", file=sys.stderr)
        return 2
    centre = h.group("centre", args.site)[1]
    name = f"{h.counters[(args.site, args.device)]} – {centre}"
    code = general.make_code(db, args.site, args.device, name, int(time.time() * 1000), new=args.new)
    url = general.link(base, code, args.lang)
    write_sign(out, url, name)
    print(f"{out}: {name}\n{url}")
    return 0


def write_sign(out, url: str, name: str) -> None:
    """A PNG of the QR alone, or an A5 page: the heading, the QR (8 cm), the counter and the link."""
    import io

    import segno

    qr = segno.make(url, error="m", micro=False)
    if out.suffix.lower() == ".png":
        qr.save(str(out), kind="png", scale=10, border=4)
        return
    from fpdf import FPDF

    from ..alerting.fonts import fonts

    regular, bold = fonts()
    pdf = FPDF(format=(148, 210))  # A5
    pdf.set_creator("hailong-collector")
    pdf.set_title(f"Góp ý chung – {name}")
    pdf.add_font("DejaVu", "", regular)
    pdf.add_font("DejaVu", "B", bold)
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    width = pdf.w - 24
    pdf.set_font("DejaVu", "B", 20)
    pdf.multi_cell(width, 9, "GÓP Ý CHUNG", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 13)
    pdf.multi_cell(width, 6, "General feedback", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 11)
    pdf.multi_cell(width, 5.5, "Quét mã bằng điện thoại để góp ý về nơi tiếp nhận hồ sơ này. Không gắn với lượt "
                               "đánh giá nào; không cần đăng nhập.", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width, 5, "Scan with your phone to give feedback on this counter. Not tied to any rating; "
                             "no login.", align="C", new_x="LMARGIN", new_y="NEXT")
    png = io.BytesIO()
    qr.save(png, kind="png", scale=10, border=4)
    png.seek(0)
    side = 80
    pdf.image(png, x=(pdf.w - side) / 2, y=pdf.get_y() + 4, w=side, h=side)
    pdf.set_y(pdf.get_y() + side + 8)
    pdf.set_font("DejaVu", "B", 12)
    pdf.multi_cell(width, 6, name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(width, 5, url, align="C", new_x="LMARGIN", new_y="NEXT")
    out.write_bytes(bytes(pdf.output()))

"""python -m collector audit: the monthly reconciliation per device, as a table, JSON or XLSX."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import audit
from ..reports.report import _zone, parse_period


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("Per device: messages its outboxes created against those received, the missing sequence\n"
                "numbers, outboxes replaced (a wiped or restored SD card starts a new epoch), ratings whose\n"
                "time could not be verified (counted apart in reports) and kiosk clock corrections applied.\n"
                "Scope: every outbox active in the period, counted over its whole life, so a gap stays\n"
                "listed until it fills.\n\n"
                "exit status:\n"
                "  0  complete: every message created in scope has arrived\n"
                "  1  something is missing (the missing sequence numbers are listed)\n"
                "  2  usage, configuration or database error\n\n"
                "examples:\n"
                "  python -m collector audit --config collector.yaml --period 2026-10\n"
                "  python -m collector audit --config collector.yaml --period 2026-10 --site xa-tan-lap --format json\n"
                "  python -m collector audit --config collector.yaml --period 2026-Q4 --format xlsx --output audit.xlsx")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    p.add_argument("--period", required=True, metavar="P", help="a month 2026-10, a quarter 2026-Q4 or a year 2026")
    p.add_argument("--site", nargs="+", metavar="SLUG",
                   help="only these provinces, communes, centres or sites (slugs from collector.yaml)")
    p.add_argument("--format", choices=("table", "json", "xlsx"), default="table",
                   help="table (default), json or xlsx (xlsx needs --output)")
    p.add_argument("--output", metavar="FILE", help="write to this file instead of the terminal")
    p.add_argument("--lang", choices=("vi", "en"), help="language of the headers (default: dashboard.lang)")


def to_text(title: str, headers: list[str], rows: list[list], summary_line: str) -> str:
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [min(60, max([len(h)] + [len(r[i]) for r in cells])) for i, h in enumerate(headers)]
    fmt = lambda row: "  ".join(c[:w].ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([title, fmt(headers), "  ".join("-" * w for w in widths), *map(fmt, cells), "",
                      summary_line]) + "\n"


def to_xlsx(title: str, headers: list[str], rows: list[list], summary_line: str) -> bytes:
    """Cells are text or numbers, never formulas: names and slugs come from kiosks."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "audit"
    table = [[title], headers, *rows, [], [summary_line]]
    for r, row in enumerate(table, start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(r, c)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cell.value = value
            elif value is not None:
                cell.value = str(value)
                cell.data_type = "s"  # even "=HYPERLINK(...)" stays text
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A3"
    import io

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def main(args) -> int:
    from ..cli_setup import collector_config, database
    from .completeness_queries import Scope
    from ..reports.hierarchy import Hierarchy

    cfg = collector_config(args.config)
    if cfg is None:
        return 2
    lang = args.lang or cfg.dashboard.lang
    if args.format == "xlsx" and not args.output:
        print("audit: --format xlsx writes a file; add --output FILE.xlsx", file=sys.stderr)
        return 2
    try:
        period = parse_period(args.period, cfg.timezone)
    except ValueError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    db = database(cfg, args.db, "audit")
    if db is None:
        return 2
    hierarchy = Hierarchy.from_config(cfg.sites, cfg.labels)
    sites = sorted(hierarchy.expand(args.site)) if args.site else None
    try:
        scope = Scope(db, period.start_ms, period.end_ms, sites, ratings=True)
    except Exception as exc:  # a database that fails mid-way: say so, exit 2, never "complete"
        print(f"audit: cannot read the database: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    finally:
        db.close()
    tz = _zone(cfg.timezone)
    audits = audit.build(scope.epochs, scope.replacements, scope.unverified, scope.corrections, scope.ratings,
                         hierarchy, scope.shared)
    summary = audit.total(audits, scope.epochs, len(scope.replacements))
    code = audit.exit_code(audits)
    title = ("Đối soát" if lang == "vi" else "Reconciliation") + f" {period.label}"
    if args.format == "json":
        out: str | bytes = json.dumps(audit.to_dict(audits, summary, period.label, tz), ensure_ascii=False,
                                      indent=1) + "\n"
    elif args.format == "xlsx":
        out = to_xlsx(title, audit.HEADERS[lang], audit.rows(audits, tz, lang), summary.line(lang))
    else:
        out = to_text(title, audit.HEADERS[lang], audit.rows(audits, tz, lang), summary.line(lang))
    if args.output:
        Path(args.output).write_bytes(out.encode("utf-8") if isinstance(out, str) else out)
        print(f"audit: wrote {len(audits)} devices to {args.output}", file=sys.stderr)
    elif isinstance(out, bytes):
        sys.stdout.buffer.write(out)
    else:
        sys.stdout.write(out)
    if code:
        shared = [f"{a.site}/{a.device}" for a in audits if a.shared]
        print(f"audit: {summary.missing} messages missing in {summary.ranges} ranges"
              + (f"; two kiosks share the id of {', '.join(shared)}" if shared else ""), file=sys.stderr)
    return code

"""python -m collector report: satisfaction by site, counter, officer, service or time, for a period."""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from . import export
from .hierarchy import Hierarchy
from .report import DIMENSIONS, Period, current_month, date_range, parse_period
from .report_queries import ReportSpec, run_report
from ..completeness.completeness_report import completeness_summary, completeness_table

TITLE = {"vi": "Mức độ hài lòng", "en": "Satisfaction"}
OFFICER_SHEETS = ("officer-evaluation", "dossier")
BY_WORD = {"vi": "theo", "en": "by"}


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-01") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("Days, weeks, months, hours and weekdays are counted in the time zone of collector.yaml.\n"
                "Without --period or --since/--until the report covers the current month.\n"
                "examples:\n"
                "  python -m collector report --config collector.yaml --period 2026-10 --by centre\n"
                "  python -m collector report --config collector.yaml --period 2026-Q4 --by officer --format xlsx --output q4.xlsx\n"
                "  python -m collector report --config collector.yaml --period 2026-Q4 --site xa-tan-lap --format pdf --output q4.pdf\n"
                "  python -m collector report --config collector.yaml --since 2026-10-01 --until 2026-10-15 --by day --lang en")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    p.add_argument("--period", metavar="P", help="a month 2026-10, a quarter 2026-Q4 or a year 2026 (local time)")
    p.add_argument("--since", type=_date, metavar="DATE", help="first day, e.g. 2026-10-01 (included)")
    p.add_argument("--until", type=_date, metavar="DATE", help="last day, e.g. 2026-10-31 (included)")
    p.add_argument("--by", choices=(*DIMENSIONS, *OFFICER_SHEETS), default="centre", metavar="DIM",
                   help=f"group by one of: {', '.join(DIMENSIONS)} (default: centre); or officer-evaluation "
                        "(the officer evaluation sheet) or dossier (one row per rated dossier)")
    p.add_argument("--site", nargs="+", metavar="SLUG",
                   help="only these provinces, communes, centres or sites (slugs from collector.yaml)")
    p.add_argument("--format", choices=("table", "csv", "json", "xlsx", "html", "pdf"), default="table",
                   help="table (default, for a terminal), csv, json or xlsx (xlsx needs --output); "
                        "html (printable) for officer-evaluation and dossier; pdf (needs --output): the report "
                        "e-mailed to managers (summary, then by commune, centre, counter, service, officer and "
                        "reason; --by is not used), of the whole system or of one --site")
    p.add_argument("--output", metavar="FILE", help="write to this file instead of the terminal")
    p.add_argument("--lang", choices=("vi", "en"), help="language of headers and names (default: dashboard.lang, vi)")
    p.add_argument("--include-flagged", action="store_true",
                   help="count ratings flagged by the repeated-press filter in the figures (always shown apart)")
    p.add_argument("--include-unverified", action="store_true",
                   help="count ratings whose time could not be verified in the figures (always shown apart)")


def resolve_period(args, tz: str) -> Period:
    if args.period and (args.since or args.until):
        raise ValueError("give either --period or --since/--until, not both")
    if args.period and args.format == "pdf" and args.period.strip().upper().endswith(("6M", "9M")):
        from ..alerting.calendar import report_period  # the e-mailed reports' six and nine months

        return report_period(args.period, tz)[1]
    if args.period:
        return parse_period(args.period, tz)
    if args.since or args.until:
        return date_range(args.since, args.until, tz)
    return current_month(datetime.now(timezone.utc), tz)


def main(args) -> int:
    from ..cli_setup import collector_config, database

    cfg = collector_config(args.config)
    if cfg is None:
        return 2
    lang = args.lang or cfg.dashboard.lang
    if args.format in ("xlsx", "pdf") and not args.output:
        print(f"report: --format {args.format} writes a file; add --output FILE.{args.format}", file=sys.stderr)
        return 2
    if args.format == "pdf" and args.by in OFFICER_SHEETS:
        print("report: --format pdf is the satisfaction report; for the officer sheet use --format html or xlsx",
              file=sys.stderr)
        return 2
    if args.format == "pdf" and (len(args.site or ()) > 1 or args.include_flagged or args.include_unverified):
        print("report: --format pdf is the report e-mailed to managers: of the whole system or of one --site "
              "(a province, commune or centre), with flagged and unverified ratings counted apart", file=sys.stderr)
        return 2
    try:
        period = resolve_period(args, cfg.timezone)
    except ValueError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    db = database(cfg, args.db, "report")
    if db is None:
        return 2
    if args.by in OFFICER_SHEETS:
        return _officer_sheet(args, cfg, db, period, lang)
    if args.format == "pdf":
        return _pdf(args, cfg, db, period, lang)
    if args.format == "html":
        db.close()
        print("report: --format html is for --by officer-evaluation or dossier", file=sys.stderr)
        return 2
    try:
        hierarchy = Hierarchy.from_config(cfg.sites, cfg.labels)
        spec = ReportSpec(period, (args.by,), args.site, args.include_flagged, lang, args.include_unverified)
        rows = run_report(db, cfg, spec, hierarchy)
        total = run_report(db, cfg, ReportSpec(period, (), args.site, args.include_flagged, lang,
                                               args.include_unverified), hierarchy)[0]
        summary = completeness_summary(db, period, sorted(hierarchy.expand(args.site)) if args.site else None)
        from .speaking import speaking_count

        speaking = speaking_count(db, period.start_ms, period.end_ms,
                                  sorted(hierarchy.expand(args.site)) if args.site else None)
    finally:
        db.close()
    complete = completeness_table(None, period, None, lang, summary)
    title = f"{TITLE[lang]} {period.label} {BY_WORD[lang]} {export.DIM_NAMES[lang][args.by]}"
    table = export.report_table(rows, args.by, lang, title, total)
    table.sheet = export.DIM_NAMES[lang][args.by]  # "Mức độ hài lòng 2026-10 theo ..." is too long for a sheet
    if args.format == "json":
        out: bytes | str = export.report_json(rows, total, args.by, period, summary, lang) + "\n"
    elif args.format == "csv":
        out = export.to_csv([table, complete])  # the figures first, then what they rest on
    elif args.format == "xlsx":
        out = export.to_xlsx([table, complete])
    else:
        out = (export.to_text(table) + "\n" + complete.title + "\n"
               + f"Đánh giá bằng chế độ đọc / rated in the speaking mode: {speaking}\n")
    if args.output:
        data = out.encode("utf-8") if isinstance(out, str) else out
        Path(args.output).write_bytes(data)
        print(f"report: wrote {len(rows)} groups to {args.output}", file=sys.stderr)
    elif isinstance(out, bytes):
        sys.stdout.buffer.write(out)
    else:
        sys.stdout.write(out)
    return 0


def _pdf(args, cfg, db, period, lang: str) -> int:
    """The report the scheduled e-mails carry (collector/alerting/report_doc.py and pdf.py), for one scope."""
    from ..alerting.report_doc import build, period_kind

    try:
        hierarchy = Hierarchy.from_config(cfg.sites, cfg.labels)
        scope = args.site[0] if args.site else "all"
        from ..alerting.recipients import known_scopes

        if scope not in known_scopes(hierarchy) and db.scalar("SELECT 1 FROM rollup_hour WHERE site = ? LIMIT 1",
                                                                (scope,)) is None:
            print(f"report: {scope!r} is no province, commune, centre or site of collector.yaml", file=sys.stderr)
            return 2
        doc = build(db, cfg, hierarchy, period_kind(period), period, scope, lang, datetime.now(timezone.utc))
    finally:
        db.close()
    data = doc.pdf()
    Path(args.output).write_bytes(data)
    print(f"report: wrote {doc.title} {doc.period_text} – {doc.scope_name} ({len(data):,} bytes) to {args.output}",
          file=sys.stderr)
    return 0


def _officer_sheet(args, cfg, db, period, lang: str) -> int:
    """--by officer-evaluation (figures per officer, grades, data quality) or --by dossier."""
    from .officer_report import dossier_table, evaluation_tables, for_text, to_html

    try:
        hierarchy = Hierarchy.from_config(cfg.sites, cfg.labels)
        if args.by == "dossier":
            tables = [dossier_table(db, cfg, period, hierarchy, lang, args.site)]
        else:
            tables = evaluation_tables(db, cfg, period, hierarchy, lang, args.site)
    finally:
        db.close()
    if args.format == "json":
        import json

        out: bytes | str = json.dumps([{"title": t.title, "headers": t.headers, "rows": t.rows} for t in tables],
                                      ensure_ascii=False, indent=1) + "\n"
    elif args.format == "csv":
        out = export.to_csv(tables)
    elif args.format == "xlsx":
        out = export.to_xlsx(tables)
    elif args.format == "html":
        out = to_html(tables, lang)
    else:
        out = "\n".join(export.to_text(t) for t in for_text(tables, lang))
    if args.output:
        Path(args.output).write_bytes(out.encode("utf-8") if isinstance(out, str) else out)
        print(f"report: wrote {len(tables[0].rows)} rows to {args.output}", file=sys.stderr)
    elif isinstance(out, bytes):
        sys.stdout.buffer.write(out)
    else:
        sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m collector report")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))

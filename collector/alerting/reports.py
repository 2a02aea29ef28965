"""A round of scheduled reports: each recipient gets its scope's report for one period, as PDF and XLSX.

The round queues one e-mail per (period, recipient) under the key ``report:<period>:<recipient>``; a
key already queued is skipped, so running a round again never sends a report twice. The outbox then
delivers the queue (and retries later if the mail server is down).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from ..reports.hierarchy import Hierarchy
from .calendar import report_period
from .messages import PRODUCT, message_id
from .outbox import Round, deliver_due, enqueue, existing_keys
from .recipients import Recipient, RecipientSource
from .report_doc import WORDS, ReportDoc, SharedFetch, build, file_stem_of

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
BODY = {
    "vi": ("Kính gửi {name},\n\nĐính kèm là {title} {period} của {scope} (tệp PDF để đọc và in, tệp Excel để "
           "tính toán).\n\nSố đánh giá: {count}\nTỷ lệ hài lòng: {rate}\n\n--\nThư tự động của hệ thống {p}."),
    "en": ("Dear {name},\n\nAttached is the {title_l} for {period}, {scope} (PDF to read and print, Excel to "
           "work with the figures).\n\nRatings: {count}\nSatisfied: {rate}\n\n--\nAutomatic message from {p}."),
}

LINK = {"vi": "Xem trên bảng điều khiển", "en": "On the dashboard"}


@dataclass
class RoundResult:
    label: str
    queued: list[str] = field(default_factory=list)  # recipient keys
    already: list[str] = field(default_factory=list)  # sent (or queued) by an earlier run
    delivery: Round | None = None
    files: list[Path] = field(default_factory=list)


def file_stem(doc: ReportDoc) -> str:
    return file_stem_of(doc)


def report_email(doc: ReportDoc, r: Recipient, sender: str, key: str, pdf: bytes, xlsx: bytes,
                 public_url: str | None = None) -> bytes:
    w = WORDS[r.lang]
    msg = EmailMessage()
    msg["Subject"] = f"[{PRODUCT}] {doc.title} {doc.period_text} – {doc.scope_name}"
    msg["From"] = sender
    msg["To"] = r.email
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(key, sender)
    rate = "–" if doc.total.satisfied_rate is None else f"{doc.total.satisfied_rate * 100:.1f} %"
    body = BODY[r.lang].format(name=r.name, title=w["title"].lower(), title_l=w["title"].lower(),
                               period=doc.period_text, scope=doc.scope_name, count=doc.total.count, rate=rate,
                               p=PRODUCT)
    if public_url and not doc.label.endswith("M"):  # the same report on the dashboard (month, quarter, year)
        link = f"{public_url.rstrip('/')}/report?period={doc.label}"
        body = body.replace("\n\n--\n", f"\n\n{LINK[r.lang]}: {link}\n\n--\n", 1)
    msg.set_content(body)
    stem = file_stem(doc)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{stem}.pdf")
    msg.add_attachment(xlsx, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=f"{stem}.xlsx")
    return msg.as_bytes(policy=policy.SMTP)  # CRLF lines, sent as they are


def not_over(period) -> str:
    """Why a period's reports cannot go out yet, Vietnamese first."""
    ends = period.end.isoformat()
    return (f"kỳ {period.label} chưa kết thúc (kết thúc lúc {ends}); báo cáo chỉ gửi khi kỳ đã khép lại / "
            f"period {period.label} is not over yet (it ends {ends}); reports are sent once it has closed")


def run_round(db, cfg, label: str, source: RecipientSource, now: datetime, *, dry_run: bool = False,
              outdir: Path | None = None, deliver: bool = True, hierarchy: Hierarchy | None = None) -> RoundResult:
    """Queue (and deliver) the ``label`` period's report for every recipient that takes that kind."""
    kind, period = report_period(label, cfg.timezone)
    if period.end > now:  # a dry run says what the send would say: nothing goes out before the period ends
        raise ValueError(not_over(period))
    if cfg.notify.smtp is None and not dry_run:
        raise ValueError("notify.smtp is missing in collector.yaml: add host, port and sender to send reports")
    hierarchy = hierarchy or Hierarchy.from_config(cfg.sites, cfg.labels)
    result = RoundResult(period.label)
    prefix = f"report:{period.label}:"
    done = set() if dry_run else existing_keys(db, prefix)
    fetcher = SharedFetch()
    docs: dict[tuple[str, str], tuple[ReportDoc, bytes, bytes]] = {}
    sender = cfg.notify.smtp.sender if cfg.notify.smtp else "reports@hailong.invalid"
    for r in source.recipients():
        if kind not in r.reports:
            continue
        key = prefix + r.key
        if key in done:
            result.already.append(r.key)
            continue
        made = docs.get((r.scope, r.lang))
        if made is None:
            doc = build(db, cfg, hierarchy, kind, period, r.scope, r.lang, now, fetcher)
            made = docs[(r.scope, r.lang)] = (doc, doc.pdf(), doc.xlsx())
            if outdir is not None:
                outdir.mkdir(parents=True, exist_ok=True)
                for ext, data in (("pdf", made[1]), ("xlsx", made[2])):
                    path = outdir / f"{file_stem(doc)}.{ext}"
                    path.write_bytes(data)
                    result.files.append(path)
        doc, pdf, xlsx = made
        if dry_run:
            result.queued.append(r.key)
            continue
        message = report_email(doc, r, sender, key, pdf, xlsx, cfg.dashboard.public_url)
        if enqueue(db, key, "email", r.email, f"{doc.title} {doc.label} {r.scope}", message, now):
            result.queued.append(r.key)
        else:
            result.already.append(r.key)
    if deliver and not dry_run:
        result.delivery = deliver_due(db, cfg, now)
    return result

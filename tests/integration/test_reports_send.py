"""Scheduled reports arrive by themselves: `python -m collector reports send` e-mails each recipient its
scope's report as PDF (read back with pdftotext) and XLSX (figures equal to `python -m collector report`),
through a real SMTP server with STARTTLS and AUTH LOGIN; a second run sends nothing twice."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from collector.alerting.calendar import Calendar
from collector.alerting.recipients import ConfigRecipients
from collector.alerting.reports import run_round
from collector.storage.db import connect
from tests.alert_data import SITES, TZ, add_ratings, local
from tests.smtp_server import PASSWORD, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = [
    {"name": "Chủ tịch xã Tân Lập", "email": "tanlap@example.vn", "scope": "xa-tan-lap", "reports": ["month", "quarter"]},
    {"name": "Province office", "email": "province@example.vn", "scope": "lang-son", "lang": "en", "reports": ["quarter"]},
    {"name": "Hòa Bình", "email": "hoabinh@example.vn", "scope": "xa-hoa-binh", "reports": ["year"]},
]


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path, smtp):
    db_path = tmp_path / "r.db"
    cfg = {"kind": "collector", "timezone": TZ, "database": {"url": f"sqlite:///{db_path}"}, "sites": SITES,
           "labels": {"officers": {"nguyen-van-an": "Nguyễn Văn An"},
                      "reasons": {"waiting": {"vi": "Chờ đợi lâu", "en": "Long waiting time"}}},
           "notify": {"smtp": smtp.smtp_config(), "recipients": RECIPIENTS}, "holidays": ["2027-01-01"],
           "dashboard": {"public_url": "https://hailong.langson.gov.vn"}}
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    db = connect(f"sqlite:///{db_path}")
    t = local("2026-07-06 08:00")
    add_ratings(db, "ubnd-tan-lap", "quay-01", t, [5, 5, 4, 1, 2, 5], officer="nguyen-van-an", service="ho-tich",
                reason="waiting")
    add_ratings(db, "ubnd-tan-my", "quay-02", t, [1, 3, 4, 4])  # old merged site: reported as Tân Lập
    add_ratings(db, "ubnd-tan-lap", "quay-02", t, [1, 1], flags=["rapid_repeat"])  # flagged: apart
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-08-03 09:00"), [5, 4, 1])
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-09-30 23:30"), [2])  # the last evening of Q3
    db.close()
    env = {**os.environ, "HAILONG_TEST_SMTP_PASSWORD": PASSWORD}
    return path, env


def cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def attachments(msg) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in msg.iter_attachments()}


def pdf_text(data: bytes, tmp_path: Path) -> str:
    f = tmp_path / "x.pdf"
    f.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(f), "-"], capture_output=True, text=True, check=True).stdout


def sheet_rows(xlsx: bytes, title: str) -> list[tuple]:
    ws = load_workbook(io.BytesIO(xlsx))[title]
    return [tuple(c.value for c in row) for row in ws.iter_rows(min_row=2)]


def test_quarter_round_by_hand_pdf_xlsx_and_never_twice(tmp_path, smtp, setup):
    config, env = setup
    dry = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3", "--dry-run",
              "--output-dir", str(tmp_path / "out"))
    assert dry.returncode == 0, dry.stderr
    assert "would send 2" in dry.stdout and smtp.inbox.messages == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "hailong-2026-Q3-lang-son-en.pdf", "hailong-2026-Q3-lang-son-en.xlsx",
        "hailong-2026-Q3-xa-tan-lap-vi.pdf", "hailong-2026-Q3-xa-tan-lap-vi.xlsx"]

    run = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3")
    assert run.returncode == 0, run.stderr
    assert "queued 2" in run.stdout and "delivered 2" in run.stdout
    got = {m["To"]: m for _, m, tls, login in smtp.inbox.messages if tls and login == "hailong"}
    assert sorted(got) == ["province@example.vn", "tanlap@example.vn"]

    vi = got["tanlap@example.vn"]
    assert vi["Subject"] == "[Hài lòng] Báo cáo mức độ hài lòng Quý III/2026 – Xã Tân Lập"
    files = attachments(vi)
    assert sorted(files) == ["hailong-2026-Q3-xa-tan-lap-vi.pdf", "hailong-2026-Q3-xa-tan-lap-vi.xlsx"]
    body = vi.get_body(preferencelist=("plain",)).get_content()
    assert "Xem trên bảng điều khiển: https://hailong.langson.gov.vn/report?period=2026-Q3" in body
    text = pdf_text(files["hailong-2026-Q3-xa-tan-lap-vi.pdf"], tmp_path)
    for words in ("Báo cáo mức độ hài lòng – Quý III/2026", "Phạm vi: Xã Tân Lập", "Tỷ lệ hài lòng",
                  "Bộ phận một cửa xã Tân Lập", "Quầy 1 - Hộ tịch", "Nguyễn Văn An", "Chờ đợi lâu",
                  "2026-07-01 – 2026-09-30", "Độ đầy đủ: đã nhận"):
        assert words in text, words
    assert "Hòa Bình" not in text  # another commune stays out of this scope
    # 10 counted ratings, 6 satisfied (60.0 %), 2 flagged presses shown apart
    assert "60.0 %" in text and "Xã Hòa" not in text

    # XLSX figures equal those of the report command for the same scope and period
    xlsx = files["hailong-2026-Q3-xa-tan-lap-vi.xlsx"]
    for by, sheet in (("centre", "Bộ phận một cửa"), ("counter", "Quầy"), ("officer", "Cán bộ"), ("service", "Thủ tục")):
        ref = cli(env, "report", "--config", str(config), "--period", "2026-Q3", "--by", by, "--site", "xa-tan-lap",
                  "--format", "json")
        assert ref.returncode == 0, ref.stderr
        # an empty key (officer not given) is an empty cell in the sheet
        expected = [(r["group"] or None, r["name"], r["count"], r["satisfied_rate"], r["mean_score"], r["flagged"])
                    for r in json.loads(ref.stdout)["rows"]]
        assert [row[:6] for row in sheet_rows(xlsx, sheet)] == expected, by
    summary = sheet_rows(xlsx, "Tổng hợp")[0]
    assert summary[2:4] == (10, 0.6) and summary[5] == 2

    en = attachments(got["province@example.vn"])
    text = pdf_text(en["hailong-2026-Q3-lang-son-en.pdf"], tmp_path)
    assert "Satisfaction report – Q3 2026" in text and "Scope: Tỉnh Lạng Sơn" in text
    assert "Completeness:" in text and "outbox messages received" in text
    assert "Xã Tân Lập" in text and "Xã Hòa Bình" in text  # the province sees both communes
    assert sheet_rows(en["hailong-2026-Q3-lang-son-en.xlsx"], "Summary")[0][2] == 14

    again = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3")
    assert again.returncode == 0 and "queued 0, already sent 2" in again.stdout
    assert len(smtp.inbox.messages) == 2


def test_due_round_sends_each_recipient_its_periods_once(tmp_path, smtp, setup):
    """What the schedule does on 2027-01-04 (first working day after 1 January): month, quarter and year."""
    config, env = setup
    from config import load

    os.environ["HAILONG_TEST_SMTP_PASSWORD"] = PASSWORD
    cfg = load(config, kind="collector")
    db = connect(cfg.database.url)
    now = local("2027-01-04 07:30")
    from collector.alerting.calendar import due_periods

    labels = [label for _, label in due_periods(now.astimezone(Calendar.from_config(cfg).zone).date(),
                                                Calendar.from_config(cfg))]
    assert labels == ["2026-12", "2026-Q4", "2026"]
    for _ in range(2):  # the second pass finds everything sent
        for label in labels:
            run_round(db, cfg, label, ConfigRecipients(cfg), now)
    got = sorted((m["To"], m["Subject"]) for _, m, _, _ in smtp.inbox.messages)
    assert got == [
        ("hoabinh@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Năm 2026 – Xã Hòa Bình"),
        ("province@example.vn", "[Hài lòng] Satisfaction report Q4 2026 – Tỉnh Lạng Sơn"),
        ("tanlap@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Quý IV/2026 – Xã Tân Lập"),
        ("tanlap@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Tháng 12/2026 – Xã Tân Lập")]
    with pytest.raises(ValueError, match="not over yet"):
        run_round(db, cfg, "2027-01", ConfigRecipients(cfg), now)


def test_schedule_sends_due_reports_on_the_first_working_day_after_reports_at(tmp_path, smtp, setup):
    config, env = setup
    from config import load
    from collector.alerting.scheduler import Notifier

    os.environ["HAILONG_TEST_SMTP_PASSWORD"] = PASSWORD
    cfg = load(config, kind="collector")
    notifier = Notifier(cfg, lambda: connect(cfg.database.url))
    try:
        notifier.tick(local("2027-01-01 09:00"))  # New Year's Day is no working day here (a Friday, weekend next)
        assert smtp.inbox.messages == []
        notifier.tick(local("2027-01-04 07:00"))  # Monday, before notify.reports_at (07:30)
        assert smtp.inbox.messages == []
        notifier.tick(local("2027-01-04 07:31"))
        assert len(smtp.inbox.messages) == 4
        notifier.tick(local("2027-01-04 07:32"))
        restarted = Notifier(cfg, lambda: connect(cfg.database.url))  # a restart the same morning
        restarted.tick(local("2027-01-04 08:00"))
        restarted.stop()
        assert len(smtp.inbox.messages) == 4
    finally:
        notifier.stop()


def test_a_dry_run_of_an_unfinished_month_says_the_refusal_the_send_would_say(tmp_path, smtp, setup):
    """It used to say "would send 3" for a month the real send then refused."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    config, env = setup
    this_month = datetime.now(timezone.utc).astimezone(ZoneInfo(TZ)).strftime("%Y-%m")
    dry = cli(env, "reports", "send", "--config", str(config), "--period", this_month, "--dry-run",
              "--output-dir", str(tmp_path / "out"))
    real = cli(env, "reports", "send", "--config", str(config), "--period", this_month)
    assert "would send" not in dry.stdout and not (tmp_path / "out").exists()
    assert dry.returncode == real.returncode == 2
    assert f"kỳ {this_month} chưa kết thúc" in dry.stderr and "not over yet" in dry.stderr
    assert dry.stderr == real.stderr  # the same words, Vietnamese first
    assert smtp.inbox.messages == []


def test_report_format_pdf_is_the_e_mailed_report(tmp_path, setup):
    """`collector report --format pdf` writes the very PDF a manager of that scope gets by e-mail."""
    import re

    config, env = setup
    made = cli(env, "report", "--config", str(config), "--period", "2026-Q3", "--site", "xa-tan-lap",
               "--format", "pdf", "--output", str(tmp_path / "q3.pdf"))
    assert made.returncode == 0, made.stderr
    assert "Quý III/2026 – Xã Tân Lập" in made.stderr
    dry = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3", "--dry-run",
              "--output-dir", str(tmp_path / "out"))
    assert dry.returncode == 0, dry.stderr
    without_time = lambda text: re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "<time>", text)  # noqa: E731  (generated at)
    ours = pdf_text((tmp_path / "q3.pdf").read_bytes(), tmp_path)
    mailed = pdf_text((tmp_path / "out" / "hailong-2026-Q3-xa-tan-lap-vi.pdf").read_bytes(), tmp_path)
    assert "Phạm vi: Xã Tân Lập" in ours and "Nguyễn Văn An" in ours and "60.0 %" in ours
    assert without_time(ours) == without_time(mailed)

    ranged = cli(env, "report", "--config", str(config), "--since", "2026-07-01", "--until", "2026-07-31",
                 "--format", "pdf", "--output", str(tmp_path / "july.pdf"), "--lang", "en")
    assert ranged.returncode == 0, ranged.stderr
    text = pdf_text((tmp_path / "july.pdf").read_bytes(), tmp_path)
    assert "Satisfaction report – 2026-07-01 to 2026-07-31" in text and "Scope: Whole system" in text

    nine = cli(env, "report", "--config", str(config), "--period", "2026-9M", "--site", "xa-hoa-binh",
               "--format", "pdf", "--output", str(tmp_path / "9m.pdf"))
    assert nine.returncode == 0, nine.stderr
    text = pdf_text((tmp_path / "9m.pdf").read_bytes(), tmp_path)
    assert "9 tháng năm 2026" in text and "2026-01-01 – 2026-09-30" in text and "Xã Hòa Bình" in text

    for extra, said in ((["--period", "2026-Q3"], "add --output FILE.pdf"),
                        (["--period", "2026-Q3", "--site", "xa-tan-lap", "xa-hoa-binh", "--output", "x.pdf"],
                         "one --site"),
                        (["--period", "2026-Q3", "--site", "xa-khong-co", "--output", "x.pdf"], "'xa-khong-co' is no"),
                        (["--period", "2026-Q3", "--by", "officer-evaluation", "--output", "x.pdf"], "officer sheet")):
        refused = cli(env, "report", "--config", str(config), "--format", "pdf", *extra)
        assert refused.returncode == 2 and said in refused.stderr, (extra, refused.stderr)


def test_the_e_mailed_report_carries_the_phone_answers_of_its_scope_by_sipas_element(tmp_path, smtp, setup):
    from broker import followup_tokens as tokens
    from collector.followup import answers

    config, env = setup
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["labels"]["reason_elements"] = {"waiting": "access"}
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    db = connect(data["database"]["url"])
    said = {"ubnd-tan-lap": ("Chờ lâu, <i>không</i> có ghế", "0912345678"), "ubnd-hoa-binh": ("Hòa Bình ồn ào", "")}
    for site, (comment, contact) in said.items():
        rid, device, at_ms = db.query("SELECT id, device, at_ms FROM ratings WHERE site = ? AND rating = 1 "
                                      "AND flags = '' ORDER BY at_ms LIMIT 1", (site,))[0]
        token = tokens.new_token()
        with db.transaction():
            answers.on_ratings(db, [(rid, tokens.token_hash(rid, token), site, device, at_ms)], at_ms)
        assert answers.submit(db, rid, token, answers.Answer({"access": 2, "staff": 4}, comment, contact),
                              at_ms + 60_000, 86_400_000) is answers.Outcome.ACCEPTED
    db.close()
    run = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3")
    assert run.returncode == 0, run.stderr
    got = {m["To"]: attachments(m) for _, m, _, _ in smtp.inbox.messages}
    text = pdf_text(got["tanlap@example.vn"]["hailong-2026-Q3-xa-tan-lap-vi.pdf"], tmp_path)
    flat = " ".join(text.split())
    assert "Theo yếu tố SIPAS" in flat and "Ý kiến người dân qua mã QR" in flat
    assert "“Chờ lâu, <i>không</i> có ghế”" in flat and "mặt 1/5" in flat
    assert "Hòa Bình ồn ào" not in flat and "0912345678" not in flat  # another commune's, and contacts: never
    xlsx = got["tanlap@example.vn"]["hailong-2026-Q3-xa-tan-lap-vi.xlsx"]
    elements = sheet_rows(xlsx, "Theo yếu tố SIPAS")
    assert elements[0][:5] == ("Tiếp cận dịch vụ", 2, 1, 1, 2)  # one answer of 2; "waiting" at the 1 and the 2
    comments = sheet_rows(xlsx, "Góp ý qua mã QR")
    assert len(comments) == 1 and "Chờ lâu, <i>không</i> có ghế" in comments[0]
    assert not any("0912345678" in str(c) for row in comments for c in row)
    en = pdf_text(got["province@example.vn"]["hailong-2026-Q3-lang-son-en.pdf"], tmp_path)
    assert "By SIPAS element" in en and "Hòa Bình ồn ào" in " ".join(en.split())  # the province sees both

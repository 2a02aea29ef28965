"""Scheduled reports go to the dashboard accounts: each enabled account with an e-mail address receives its
own scope's report in its own language (PDF read back with pdftotext, XLSX figures equal to
`python -m collector report`), through a real SMTP server with STARTTLS and AUTH LOGIN. A disabled account
receives nothing; notify.recipients still receive theirs; neither another run nor a restarted schedule
sends anything twice, and a changed address does not make a period go out again."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from collector.accounts.accounts import Scope, Store
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from config import load
from tests.alert_data import SITES, TZ, add_ratings, local
from tests.integration.test_reports_send import attachments, cli, pdf_text, sheet_rows
from tests.smtp_server import PASSWORD, SmtpServer

ACCOUNT_PASSWORD = "mat-khau-bao-cao-1"  # noqa: S105 (a test account)
EXTRA = {"name": "Văn phòng tỉnh", "email": "vanphong@example.vn", "scope": "lang-son", "reports": ["quarter"]}


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
           "notify": {"smtp": smtp.smtp_config(), "recipients": [EXTRA]}}
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    db = connect(f"sqlite:///{db_path}")
    t = local("2026-07-06 08:00")
    add_ratings(db, "ubnd-tan-lap", "quay-01", t, [5, 5, 4, 1, 2, 5], officer="nguyen-van-an", service="ho-tich",
                reason="waiting")
    add_ratings(db, "ubnd-tan-my", "quay-02", t, [1, 3, 4, 4])  # merged into Tân Lập
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-08-03 09:00"), [5, 4, 1, 5, 5], reason="waiting")
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-09-14 10:00"), [2, 5])
    # the accounts, as `python -m collector users add ... --email --lang --reports` makes them
    # (tests/integration/test_users_reports_cli.py runs that command)
    store = Store(db, Hierarchy.from_config(load(path, kind="collector").sites))
    store.add("chu-tich-tan-lap", ACCOUNT_PASSWORD, "viewer", Scope("commune", "xa-tan-lap"),
              email="tanlap@example.vn")  # Vietnamese and every period: the defaults
    store.add("hoa-binh-office", ACCOUNT_PASSWORD, "viewer", Scope("commune", "xa-hoa-binh"),
              email="hoabinh@example.vn", lang="en", reports="quarter,year")
    store.add("da-nghi-viec", ACCOUNT_PASSWORD, "admin", Scope("commune", "xa-tan-lap"), email="danghi@example.vn")
    store.set_disabled("da-nghi-viec", True)
    store.add("khong-thu", ACCOUNT_PASSWORD, "viewer", Scope("commune", "xa-hoa-binh"))  # no address: no report
    db.close()
    env = {**os.environ, "HAILONG_TEST_SMTP_PASSWORD": PASSWORD}
    return path, env


def received(smtp) -> dict[str, list]:
    out: dict[str, list] = {}
    for rcpt, msg, tls, login in smtp.inbox.messages:
        assert tls and login == "hailong"
        out.setdefault(msg["To"], []).append(msg)
    return out


def same_figures_as_report_cli(env, config, xlsx: bytes, scope: str, lang: str, sheets: dict[str, str]) -> None:
    for by, sheet in sheets.items():
        ref = cli(env, "report", "--config", str(config), "--period", "2026-Q3", "--by", by, "--site", scope,
                  "--lang", lang, "--format", "json")
        assert ref.returncode == 0, ref.stderr
        answer = json.loads(ref.stdout)
        expected = [(r["group"] or None, r["name"], r["count"], r["satisfied_rate"], r["mean_score"], r["flagged"])
                    for r in answer["rows"]]
        assert expected, (scope, by)  # something to compare
        assert [row[:6] for row in sheet_rows(xlsx, sheet)] == expected, (scope, by)
        summary = sheet_rows(xlsx, "Tổng hợp" if lang == "vi" else "Summary")[0]
        total = answer["total"]
        assert summary[2:6] == (total["count"], total["satisfied_rate"], total["mean_score"], total["flagged"])


def test_each_account_gets_its_own_scope_in_its_language_once(tmp_path, smtp, setup):
    config, env = setup
    dry = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send 3" in dry.stdout and smtp.inbox.messages == []
    for name in ("account:chu-tich-tan-lap", "account:hoa-binh-office", "vanphong@example.vn"):
        assert name in dry.stdout

    run = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3")
    assert run.returncode == 0, run.stderr
    assert "queued 3" in run.stdout and "delivered 3" in run.stdout
    got = received(smtp)
    # the disabled account and the one without an address get nothing; notify.recipients still gets its report
    assert sorted(got) == ["hoabinh@example.vn", "tanlap@example.vn", "vanphong@example.vn"]

    vi = got["tanlap@example.vn"][0]
    assert vi["Subject"] == "[Hài lòng] Báo cáo mức độ hài lòng Quý III/2026 – Xã Tân Lập"
    assert "Kính gửi chu-tich-tan-lap" in vi.get_body(("plain",)).get_content()
    files = attachments(vi)
    assert sorted(files) == ["hailong-2026-Q3-xa-tan-lap-vi.pdf", "hailong-2026-Q3-xa-tan-lap-vi.xlsx"]
    text = pdf_text(files["hailong-2026-Q3-xa-tan-lap-vi.pdf"], tmp_path)
    for words in ("Báo cáo mức độ hài lòng – Quý III/2026", "Phạm vi: Xã Tân Lập", "Bộ phận một cửa xã Tân Lập",
                  "Nguyễn Văn An", "Chờ đợi lâu"):
        assert words in text, words
    assert "Hòa Bình" not in text and "60.0 %" in text  # 10 ratings, 6 satisfied; the other commune stays out
    same_figures_as_report_cli(env, config, files["hailong-2026-Q3-xa-tan-lap-vi.xlsx"], "xa-tan-lap", "vi",
                               {"counter": "Quầy", "officer": "Cán bộ"})
    assert sheet_rows(files["hailong-2026-Q3-xa-tan-lap-vi.xlsx"], "Tổng hợp")[0][2:4] == (10, 0.6)

    en = got["hoabinh@example.vn"][0]
    assert en["Subject"] == "[Hài lòng] Satisfaction report Q3 2026 – Xã Hòa Bình"
    assert "Dear hoa-binh-office" in en.get_body(("plain",)).get_content()
    files = attachments(en)
    assert sorted(files) == ["hailong-2026-Q3-xa-hoa-binh-en.pdf", "hailong-2026-Q3-xa-hoa-binh-en.xlsx"]
    text = pdf_text(files["hailong-2026-Q3-xa-hoa-binh-en.pdf"], tmp_path)
    for words in ("Satisfaction report – Q3 2026", "Scope: Xã Hòa Bình", "Bộ phận một cửa xã Hòa Bình",
                  "Long waiting time"):
        assert words in text, words
    assert "Tân Lập" not in text and "Nguyễn Văn An" not in text and "Chờ đợi" not in text
    assert "71.4 %" in text  # 7 ratings, 5 satisfied
    same_figures_as_report_cli(env, config, files["hailong-2026-Q3-xa-hoa-binh-en.xlsx"], "xa-hoa-binh", "en",
                               {"counter": "Counter"})
    assert sheet_rows(files["hailong-2026-Q3-xa-hoa-binh-en.xlsx"], "Summary")[0][2] == 7

    province = attachments(got["vanphong@example.vn"][0])
    assert sheet_rows(province["hailong-2026-Q3-lang-son-vi.xlsx"], "Tổng hợp")[0][2] == 17

    # A changed address does not make Q3 go out again: what was sent is recorded per account and period.
    db = connect(f"sqlite:///{tmp_path / 'r.db'}")
    Store(db, Hierarchy()).set_delivery("chu-tich-tan-lap", email="moi@example.vn")
    db.close()
    again = cli(env, "reports", "send", "--config", str(config), "--period", "2026-Q3")
    assert again.returncode == 0 and "queued 0, already sent 3" in again.stdout
    assert len(smtp.inbox.messages) == 3


def test_the_schedule_mails_accounts_and_a_restart_sends_nothing_twice(tmp_path, smtp, setup):
    """On Thursday 2026-10-01 (first working day after September, Q3 and the first nine months close) the
    schedule inside `collector serve` mails the month and 9 months to the account taking every period and
    the quarter to all three."""
    config, env = setup
    from collector.alerting.scheduler import Notifier

    os.environ["HAILONG_TEST_SMTP_PASSWORD"] = PASSWORD
    cfg = load(config, kind="collector")
    notifier = Notifier(cfg, lambda: connect(cfg.database.url))
    try:
        notifier.tick(local("2026-10-01 07:31"))
    finally:
        notifier.stop()
    sent = sorted((m["To"], m["Subject"]) for _, m, _, _ in smtp.inbox.messages)
    assert sent == [
        ("hoabinh@example.vn", "[Hài lòng] Satisfaction report Q3 2026 – Xã Hòa Bình"),
        ("tanlap@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng 9 tháng năm 2026 – Xã Tân Lập"),
        ("tanlap@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Quý III/2026 – Xã Tân Lập"),
        ("tanlap@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Tháng 9/2026 – Xã Tân Lập"),
        ("vanphong@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Quý III/2026 – Tỉnh Lạng Sơn")]

    # the collector restarts the same morning, and the day after; the account was re-enabled meanwhile
    db = connect(cfg.database.url)
    Store(db, Hierarchy()).set_disabled("da-nghi-viec", False)
    db.close()
    for when in ("2026-10-01 08:00", "2026-10-02 07:31"):
        restarted = Notifier(cfg, lambda: connect(cfg.database.url))
        try:
            restarted.tick(local(when))
        finally:
            restarted.stop()
    later = sorted((m["To"], m["Subject"]) for _, m, _, _ in smtp.inbox.messages)
    # only the re-enabled account's own reports are new (periods still due this week); nothing went twice
    assert sorted(set(later) - set(sent)) == [
        ("danghi@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng 9 tháng năm 2026 – Xã Tân Lập"),
        ("danghi@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Quý III/2026 – Xã Tân Lập"),
        ("danghi@example.vn", "[Hài lòng] Báo cáo mức độ hài lòng Tháng 9/2026 – Xã Tân Lập")]
    assert len(later) == len(set(later)) == 8

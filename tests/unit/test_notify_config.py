"""collector.yaml: alert rules, opening hours, holidays, SMTP, webhooks and recipients, with clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "collector.yaml"


def problems(tmp_path, text: str) -> list[str]:
    p = tmp_path / "collector.yaml"
    p.write_text("kind: collector\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load(p, kind="collector")
    return exc.value.problems


def test_example_documents_alerts_and_reports():
    cfg = load(EXAMPLE, kind="collector")
    from typing import get_args

    from config.collector import RuleKind

    assert {r.kind for r in cfg.alerts.rules} == set(get_args(RuleKind))  # every kind shown in the example
    assert "receipts_stalled" in get_args(RuleKind)
    assert cfg.notify.smtp.security == "starttls" and cfg.notify.smtp.password.env
    assert cfg.holidays and cfg.opening.default.hours
    assert {k for r in cfg.notify.recipients for k in r.reports} == {"month", "quarter", "6m", "9m", "year"}
    # the alerts keys of the dashboard page still work beside the rules
    assert cfg.alerts.satisfaction_below == 0.7 and cfg.alerts.window_days == 7


def test_rule_needs_its_figures(tmp_path):
    msg = problems(tmp_path, "alerts:\n  rules:\n    - {name: low, kind: satisfaction_below, threshold: 0.7}\n")
    assert "collector.yaml:4: alerts.rules[0]:" in msg[0] and "exactly one of last_ratings: N or hours: N" in msg[0]
    msg = problems(tmp_path, "alerts:\n  rules:\n    - {name: offline, kind: device_offline}\n")
    assert "device_offline needs minutes" in msg[0]


def test_opening_span_and_holiday_are_checked(tmp_path):
    msg = problems(tmp_path, "opening:\n  default:\n    hours: ['17:00-07:00']\nholidays: ['2026-13-01']\n")
    assert any("opening.default.hours[0]" in m and "07:30-11:30" in m for m in msg)
    assert any(m.startswith("collector.yaml:5: holidays[0]") for m in msg)


def test_recipients_need_smtp_and_a_known_scope(tmp_path):
    msg = problems(tmp_path, "notify:\n  recipients:\n    - {name: A, email: a@x.vn, reports: [month]}\n")
    assert "notify.smtp is missing" in msg[0]
    sites = ("sites:\n  - slug: p\n    name: P\n    communes:\n      - slug: c\n        name: C\n"
             "        centres: [{site: s, name: S}]\n")
    msg = problems(tmp_path, sites + "notify:\n  smtp: {host: mail, sender: a@x.vn}\n  recipients:\n"
                   "    - {name: A, email: a@x.vn, scope: xa-khac}\n")
    assert "notify.recipients (a@x.vn): scope 'xa-khac' is not 'all' nor a province, commune or centre" in msg[0]


def test_smtp_password_is_never_inline(tmp_path):
    msg = problems(tmp_path, "notify:\n  smtp: {host: mail, sender: a@x.vn, username: u, password: hunter2}\n")
    assert "inline secrets are not allowed" in msg[0]


def test_rule_naming_an_unknown_webhook(tmp_path):
    msg = problems(tmp_path, "alerts:\n  rules:\n    - {name: r, kind: rejects_spike, threshold: 5, minutes: 10, "
                             "webhooks: [chat]}\n")
    assert "names webhooks not in notify.webhooks: chat" in msg[0]

"""Every collector command that reads collector.yaml and opens the database says in one line what is wrong
with either, with no traceback: exit status 2, or 1 for `collector run` when the database is unreachable
at start (docs/collector.md: a service manager retries that)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = [["report", "--period", "2026-10"], ["audit", "--period", "2026-10"], ["users", "list"],
            ["reports", "send", "--dry-run"], ["serve", "--port", "0"], ["run"]]


def collector(args: list[str], config: str) -> subprocess.CompletedProcess:
    head, tail = args[:1], args[1:]
    if args[0] == "reports":
        head, tail = args[:2], args[2:]
    return subprocess.run([sys.executable, "-m", "collector", *head, "--config", config, *tail],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HL_TEST_DASHBOARD_PASSWORD": "a-password-for-this-test"})


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_missing_config_or_a_database_that_cannot_be_made_is_one_clear_line(tmp_path, args):
    missing = collector(args, str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml: file not found" in missing.stderr, missing.stderr
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the database's folder should be\n")
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(f"database: {{url: 'sqlite:///{blocked}/ratings.db'}}\n"
                   "dashboard: {password: {env: HL_TEST_DASHBOARD_PASSWORD}}\n", encoding="utf-8")
    answer = collector(args, str(cfg))
    assert answer.returncode == (1 if args == ["run"] else 2), answer.stdout + answer.stderr
    assert "Traceback" not in answer.stderr and f"cannot make the folder of SQLite database {blocked}" in answer.stderr, \
        answer.stderr


@pytest.mark.parametrize("args", [["run"], ["serve", "--port", "0"]], ids=lambda a: a[0])
def test_an_unset_password_variable_is_one_line_vietnamese_first(tmp_path, args):
    """`collector run` ended in a traceback when broker.password named a variable nobody had set."""
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(f"database: {{url: 'sqlite:///{tmp_path}/ratings.db'}}\n"
                   "broker: {host: 127.0.0.1, port: 1, username: c1, password: {env: HL_TEST_UNSET_PASSWORD}}\n"
                   "dashboard: {password: {env: HL_TEST_UNSET_DASHBOARD}}\n", encoding="utf-8")
    answer = collector(args, str(cfg))
    field, variable = (("broker.password", "HL_TEST_UNSET_PASSWORD") if args == ["run"]
                       else ("dashboard.password", "HL_TEST_UNSET_DASHBOARD"))
    assert answer.returncode == 2 and "Traceback" not in answer.stderr, answer.stderr
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert lines[0].startswith(f"{args[0] if args[0] == 'serve' else 'collector'}: {field}: biến môi trường "
                               f"{variable} chưa được đặt"), lines[0]
    assert f"environment variable {variable} is not set" in lines[0]
    assert lines[0].index("biến môi trường") < lines[0].index("environment variable")

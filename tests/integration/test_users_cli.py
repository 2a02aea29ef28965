"""python -m collector users ... as an operator runs it, then the account logs in to a real dashboard."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from collector.storage.db import connect
from collector.web.server import Dashboard, start_in_thread
from tests.scope_data import CFG

ROOT = Path(__file__).resolve().parents[2]


def users(config: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", "users", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=60)


def test_add_list_disable_reset_and_log_in(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'r.db'}"
    data = CFG.model_dump(mode="json", exclude_none=True)
    data["database"] = {"url": db_url}
    data["dashboard"].pop("password", None)
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {"NEW_PW": "mat-khau-chu-tich-1"}
    done = users(config, "add", "chu-tich-an-phu", "--scope", "commune:xa-an-phu", "--password-env", "NEW_PW", env=env)
    assert done.returncode == 0, done.stderr
    bad = users(config, "add", "x-y", "--scope", "commune:xa-khong-co", "--password-env", "NEW_PW", env=env)
    assert bad.returncode == 2 and "no commune 'xa-khong-co'" in bad.stderr and "xa-an-phu" in bad.stderr
    listed = users(config, "list")
    assert "chu-tich-an-phu" in listed.stdout and "commune:xa-an-phu" in listed.stdout and "active" in listed.stdout

    db = connect(db_url)
    app = Dashboard(CFG, db, None)
    server, url = start_in_thread(app)
    try:
        import urllib.parse
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        opener = urllib.request.build_opener(NoRedirect)

        def log_in(password):
            body = urllib.parse.urlencode({"username": "chu-tich-an-phu", "password": password}).encode()
            try:
                return opener.open(url + "/login", body, timeout=30).status
            except urllib.error.HTTPError as exc:
                return exc.code
        assert log_in("mat-khau-chu-tich-1") == 303
        assert users(config, "disable", "chu-tich-an-phu").returncode == 0
        assert log_in("mat-khau-chu-tich-1") == 401
        assert users(config, "enable", "chu-tich-an-phu").returncode == 0
        assert users(config, "reset-password", "chu-tich-an-phu", "--password-env", "NEW_PW",
                     env={"NEW_PW": "mat-khau-moi-2026"}).returncode == 0
        assert log_in("mat-khau-chu-tich-1") == 401 and log_in("mat-khau-moi-2026") == 303
        actions = [r[0] for r in db.query("SELECT action FROM audit ORDER BY id")]
        assert actions[:1] == ["account-added"] and "account-disabled" in actions and "password-reset" in actions
        assert actions.count("login") == 2 and actions.count("login-failed") == 2  # the disabled and the old password
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        db.close()

"""python -m collector tokens add|list|revoke as an operator runs it: the token it prints reads its scope of
a real dashboard's API, `list` shows it, `revoke` stops it, and the audit log records both, as the admin
page does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from collector.accounts.accounts import Scope, Store
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from collector.web.server import Dashboard, start_in_thread
from tests.scope_data import CFG, seed

ROOT = Path(__file__).resolve().parents[2]


def tokens(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", "tokens", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=60)


def api(url: str, secret: str) -> tuple[int, dict | None]:
    req = urllib.request.Request(url + "/api/v1/summary?by=centre&period=2026-10",
                                 headers={"Authorization": "Bearer " + secret})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_add_list_revoke_a_token_from_the_command_line(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'r.db'}"
    seed(db_url).close()
    data = CFG.model_dump(mode="json", exclude_none=True)
    data["database"] = {"url": db_url}
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))

    bad = tokens(config, "add", "Hệ thống một cửa", "--scope", "commune:xa-khong-co")
    assert bad.returncode == 2 and "no commune 'xa-khong-co'" in bad.stderr and bad.stdout == ""
    added = tokens(config, "add", "Hệ thống một cửa", "--scope", "commune:xa-an-phu")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("hl_") and len(added.stdout.splitlines()) == 1  # the secret alone on stdout
    token_id = secret[3:15]
    assert "chỉ hiện một lần" in added.stderr and "shown once only" in added.stderr

    listed = tokens(config, "list")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith(token_id))
    assert "active" in line and "commune:xa-an-phu" in line and "Hệ thống một cửa" in line
    assert secret not in listed.stdout  # never shown again

    db = connect(db_url)
    app = Dashboard(CFG, db, None)
    server, url = start_in_thread(app)
    try:
        status, body = api(url, secret)
        assert status == 200 and [r["group"] for r in body["rows"]] == ["ubnd-an-phu"]
        assert body["scope"] == "commune:xa-an-phu"
        revoked = tokens(config, "revoke", token_id)
        assert revoked.returncode == 0 and f"revoked token {token_id}" in revoked.stderr, revoked.stderr
        assert api(url, secret)[0] == 401
        again = tokens(config, "revoke", "000000000000")
        assert again.returncode == 2 and "no API token '000000000000'" in again.stderr
    finally:
        server.shutdown()
        server.server_close()
        app.close()
    assert "revoked" in next(x for x in tokens(config, "list").stdout.splitlines() if x.startswith(token_id))
    log = Store(db, Hierarchy.from_config(CFG.sites, CFG.labels)).audit_log(Scope("all"))
    assert [(a["action"], a["target"]) for a in log[:2]] == [("token-revoked", f"{token_id} Hệ thống một cửa"),
                                                             ("token-added", f"{token_id} Hệ thống một cửa")]
    assert log[0]["actor"].startswith("(command line")
    db.close()

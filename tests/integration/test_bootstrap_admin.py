"""The bootstrap admin's name (dashboard.username) belongs to it alone: a commune admin cannot create an account
under it from the admin page, the command line refuses it too, an account left under it from before cannot
log in or gain its rights, and the command line removes accounts and gets the system admin back.
Real dashboard on a loopback port, real ``python -m collector users`` processes."""
from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import yaml

from collector.accounts.accounts import Scope, Store, hash_password, now_ms
from collector.storage.db import connect
from collector.web.server import Dashboard, start_in_thread
from tests.scope_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, seed

ROOT = Path(__file__).resolve().parents[2]


def request(url: str, method: str, path: str, cookie: str | None = None, form: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(url).port, timeout=30)
    headers = {"Cookie": f"hl_session={cookie}"} if cookie else {}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, urlencode(form) if form is not None else None, headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def log_in(url: str, username: str, password: str) -> str | None:
    status, headers, _ = request(url, "POST", "/login", form={"username": username, "password": password})
    return re.search(r"hl_session=([^;]+)", headers["set-cookie"]).group(1) if status == 303 else None


def admin_post(url: str, cookie: str, action: str, form: dict) -> tuple[int, bytes]:
    page = request(url, "GET", "/admin", cookie)[2].decode()
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    status, _, body = request(url, "POST", f"/admin/{action}", cookie, {**form, "csrf": csrf})
    return status, body


def sees_commune_b(url: str, cookie: str) -> bool:
    """Whether the session has the rights of scope all (the admin page lists commune B's account)."""
    status, _, body = request(url, "GET", "/admin", cookie)
    return status == 200 and b"zebra-nhan-vien" in body


@pytest.fixture
def config(tmp_path) -> Path:
    data = CFG.model_dump(mode="json", exclude_none=True)
    data["database"] = {"url": f"sqlite:///{tmp_path / 'ratings.db'}"}
    data["dashboard"]["password"] = {"env": "HL_TEST_ADMIN_PW"}
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def served(config):
    db = seed(yaml.safe_load(config.read_text())["database"]["url"])
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: NOW)
    app.store.add("quan-tri-an-phu", PASSWORD, "admin", Scope("commune", "xa-an-phu"))
    app.store.add("zebra-nhan-vien", PASSWORD, "viewer", Scope("commune", "xa-zebra-b"))
    server, url = start_in_thread(app)
    yield app, url, config
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def users(config: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HL_TEST_ADMIN_PW": ADMIN_PASSWORD, **({"NEW_PW": password} if password else {})}
    return subprocess.run([sys.executable, "-m", "collector", "users", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


@pytest.mark.parametrize("name", ["admin", "Admin", " admin", "ADMIN"])
def test_a_commune_admin_cannot_take_the_bootstrap_admins_name(served, name):
    app, url, _ = served
    commune = log_in(url, "quan-tri-an-phu", PASSWORD)
    status, body = admin_post(url, commune, "add-account", {"username": name, "password": "mat-khau-cuop-ten-1",
                                                            "role": "admin", "scope": "commune:xa-an-phu"})
    text = body.decode()
    assert status == 400 and "quản trị hệ thống" in text and "system admin" in text
    assert text.index("quản trị hệ thống") < text.index("system admin")  # Vietnamese first
    assert app.store.list() and all(a.username.strip().casefold() != "admin" for a in app.store.list())
    assert log_in(url, name.strip(), "mat-khau-cuop-ten-1") is None
    system = log_in(url, "admin", ADMIN_PASSWORD)
    assert system is not None and sees_commune_b(url, system)


def test_the_command_line_refuses_the_name_too(served):
    _, _, config = served
    done = users(config, "add", "admin", "--role", "viewer", "--scope", "commune:xa-an-phu", "--password-env",
                 "NEW_PW", password="mat-khau-cuop-ten-1")
    assert done.returncode == 2 and "dashboard.username" in done.stderr, done.stderr
    assert [line for line in users(config, "list").stdout.splitlines() if line.startswith("admin ")] == []


def test_an_account_left_under_the_name_gets_no_rights_and_recover_admin_removes_it(served):
    """A database where a commune admin took the name before it was reserved: the stored row and its session."""
    app, url, config = served
    app.store.db.execute("INSERT INTO accounts (username, password_hash, role, scope, disabled, created_ms) "
                         "VALUES ('admin', ?, 'admin', 'commune:xa-an-phu', 0, ?)",
                         (hash_password("mat-khau-cuop-ten-1"), now_ms()))
    stolen = Store(app.store.db, app.hierarchy).new_session(app.store._row("admin"), "203.0.113.9").token
    assert log_in(url, "admin", "mat-khau-cuop-ten-1") is None  # the taker's password does not open the name
    system = log_in(url, "admin", ADMIN_PASSWORD)
    assert system is not None and sees_commune_b(url, system)  # the bootstrap admin is back in at once
    status, _, body = request(url, "GET", "/admin", stolen)
    assert status == 200 and b"zebra-nhan-vien" not in body  # the taker's session keeps its commune rights only
    listed = users(config, "list")
    assert "has the bootstrap admin's name" in listed.stderr and "recover-admin" in listed.stderr
    done = users(config, "recover-admin")
    assert done.returncode == 0, done.stderr
    assert "removed admin (admin, scope commune:xa-an-phu)" in done.stderr
    assert app.store._row("admin") is None
    assert request(url, "GET", "/admin", stolen)[0] == 303  # its session ended
    assert sees_commune_b(url, system)  # the bootstrap admin's own session goes on
    actions = [r[0] for r in app.store.db.query("SELECT action FROM audit WHERE target = 'admin'")]
    assert "account-removed" in actions


def test_users_remove_deletes_an_account_and_ends_its_sessions(served):
    app, url, config = served
    cookie = log_in(url, "zebra-nhan-vien", PASSWORD)
    assert request(url, "GET", "/devices", cookie)[0] == 200
    done = users(config, "remove", "zebra-nhan-vien")
    assert done.returncode == 0 and "removed zebra-nhan-vien" in done.stderr, done.stderr
    assert request(url, "GET", "/devices", cookie)[0] == 303  # to the login page
    assert log_in(url, "zebra-nhan-vien", PASSWORD) is None
    again = users(config, "remove", "zebra-nhan-vien")
    assert again.returncode == 2 and "no account 'zebra-nhan-vien'" in again.stderr


def test_recover_admin_makes_a_stored_system_admin_when_no_bootstrap_password_is_set(served, tmp_path):
    app, url, config = served
    data = yaml.safe_load(config.read_text())
    data["dashboard"].pop("password")
    plain = tmp_path / "no-password.yaml"
    plain.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    refused = users(plain, "recover-admin")
    assert refused.returncode == 2 and "--name" in refused.stderr
    done = users(plain, "recover-admin", "--name", "quan-tri-an-phu", "--password-env", "NEW_PW",
                 password="mat-khau-tinh-moi-2026")
    assert done.returncode == 0, done.stderr
    assert log_in(url, "quan-tri-an-phu", PASSWORD) is None  # the old password ended with the reset
    cookie = log_in(url, "quan-tri-an-phu", "mat-khau-tinh-moi-2026")
    assert cookie is not None and sees_commune_b(url, cookie)  # now an admin of scope all
    assert users(plain, "recover-admin", "--name", "admin", "--password-env", "NEW_PW",
                 password="mat-khau-tinh-moi-2026").returncode == 2

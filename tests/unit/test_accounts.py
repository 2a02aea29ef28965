"""Scopes, accounts, sessions and tokens in the database (SQLite), without HTTP."""
from __future__ import annotations

import time

import pytest

from collector.accounts.accounts import AccountError, Scope, Store, scope_sites, within
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from tests.scope_data import CFG

H = Hierarchy.from_config(CFG.sites, CFG.labels)


@pytest.fixture
def store(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'a.db'}")
    yield Store(db, H)
    db.close()


def test_scopes_cover_their_places_and_merged_communes():
    assert scope_sites(Scope("all"), H) is None
    assert scope_sites(Scope("commune", "xa-an-phu"), H) == {"ubnd-an-phu", "ubnd-an-hoa"}
    assert scope_sites(Scope("centre", "ubnd-zebra-b"), H) == {"ubnd-zebra-b", "ubnd-zebra-cu"}
    assert scope_sites(Scope("province", "tinh-lam-dong"), H) == {"ubnd-an-phu", "ubnd-an-hoa", "ubnd-zebra-b",
                                                                   "ubnd-zebra-cu"}


@pytest.mark.parametrize("outer, inner, ok", [
    ("all", "commune:xa-an-phu", True), ("province:tinh-lam-dong", "centre:ubnd-an-phu", True),
    ("commune:xa-an-phu", "centre:ubnd-an-phu", True), ("commune:xa-an-phu", "commune:xa-an-phu", True),
    ("commune:xa-an-phu", "centre:ubnd-zebra-b", False), ("commune:xa-an-phu", "province:tinh-lam-dong", False),
    ("centre:ubnd-an-phu", "commune:xa-an-phu", False), ("province:tinh-lam-dong", "all", False),
])
def test_within(outer, inner, ok):
    assert within(Scope.parse(outer), Scope.parse(inner), H) is ok


@pytest.mark.parametrize("text", ["", "everything", "commune:", "district:x", "centre"])
def test_bad_scopes_are_refused_with_the_choices(text):
    with pytest.raises(AccountError, match="all, province:SLUG"):
        Scope.parse(text)


def test_passwords_are_argon2_hashes_and_short_ones_are_refused(store):
    store.add("chu-tich", "mot-mat-khau-dai", "viewer", Scope("commune", "xa-an-phu"))
    stored = store.db.scalar("SELECT password_hash FROM accounts WHERE username = 'chu-tich'")
    assert stored.startswith("$argon2id$") and "mot-mat-khau-dai" not in stored
    assert store.verify("chu-tich", "mot-mat-khau-dai").scope == Scope("commune", "xa-an-phu")
    assert store.verify("chu-tich", "sai-mat-khau-roi") is None and store.verify("khong-co", "x" * 12) is None
    with pytest.raises(AccountError, match="10 characters"):
        store.add("ngan", "ngan", "viewer", Scope("all"))
    with pytest.raises(AccountError, match="no commune 'xa-khong-co'"):
        store.add("sai-noi", "mot-mat-khau-dai", "viewer", Scope("commune", "xa-khong-co"))


def test_an_admin_cannot_create_wider_than_itself(store):
    admin = store.add("quan-tri", "mot-mat-khau-dai", "admin", Scope("commune", "xa-an-phu"))
    store.add("nhan-vien", "mot-mat-khau-dai", "viewer", Scope("centre", "ubnd-an-phu"), by=admin)
    for scope in ("all", "province:tinh-lam-dong", "commune:xa-zebra-b"):
        with pytest.raises(AccountError, match="wider than or outside"):
            store.add("rong-hon", "mot-mat-khau-dai", "admin", Scope.parse(scope), by=admin)
    viewer = store.get("nhan-vien")
    with pytest.raises(AccountError, match="only admins"):
        store.add("x-y", "mot-mat-khau-dai", "viewer", Scope("centre", "ubnd-an-phu"), by=viewer)


def test_sessions_are_stored_hashed_and_end_with_disable_reset_and_expiry(store):
    account = store.add("nv", "mot-mat-khau-dai", "viewer", Scope("all"))
    s = store.new_session(account, "203.0.113.1")
    assert store.db.scalar("SELECT COUNT(*) FROM sessions WHERE token_hash = ?", (s.token,)) == 0  # only the hash
    assert store.session(s.token).account.username == "nv"
    store.set_disabled("nv", True)
    assert store.session(s.token) is None
    store.set_disabled("nv", False)
    s = store.new_session(account, "203.0.113.1")
    store.reset_password("nv", "mat-khau-moi-dai")
    assert store.session(s.token) is None
    short = store.new_session(account, "203.0.113.1", lifetime_s=0.01)
    time.sleep(0.05)
    assert store.session(short.token) is None


def test_the_bootstrap_admin_is_scope_all_and_its_name_is_reserved(store):
    class Check:
        def verify(self, u, p):
            return (u, p) == ("admin", "mat-khau-cau-hinh")
    store.bootstrap, store.reserved = ("admin", Check()), "admin"
    account = store.verify("admin", "mat-khau-cau-hinh")
    assert account.bootstrap and account.is_admin and account.scope.is_all
    for name in ("admin", "Admin", " ADMIN "):
        with pytest.raises(AccountError, match="dashboard.username"):
            store.add(name, "mat-khau-trong-csdl", "viewer", Scope("centre", "ubnd-an-phu"))
    assert store.verify("admin", "mat-khau-cau-hinh").bootstrap  # still the bootstrap admin


def test_audit_entries_are_read_within_scope(store):
    store.audit("a", "export", "x.csv", scope=Scope("commune", "xa-an-phu"))
    store.audit("b", "export", "y.csv", scope=Scope("commune", "xa-zebra-b"))
    store.audit("?", "login-failed", scope=Scope("all"))
    assert [e["actor"] for e in store.audit_log(Scope("commune", "xa-an-phu"))] == ["a"]
    assert [e["actor"] for e in store.audit_log(Scope("all"))] == ["?", "b", "a"]

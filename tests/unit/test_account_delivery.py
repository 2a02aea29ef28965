"""Report settings of an account (address, language, periods): what is accepted, and who receives reports."""
from __future__ import annotations

import pytest

from collector.accounts.accounts import (REPORT_KINDS, AccountError, Scope, Store, parse_email, parse_lang, parse_reports,
                                reports_text)
from collector.alerting.recipients import AccountRecipients, ConfigRecipients, everyone
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from tests.alert_data import config


@pytest.mark.parametrize("text, kinds", [
    ("all", REPORT_KINDS), ("none", ()), ("", ()), ("quarter,year", ("quarter", "year")),
    ("year, month", ("month", "year")), (["9m", "6m"], ("6m", "9m")), ("MONTH", ("month",)),
])
def test_report_periods_are_read_in_order(text, kinds):
    assert parse_reports(text) == kinds
    assert parse_reports(reports_text(kinds)) == kinds  # what `users list` prints reads back the same


@pytest.mark.parametrize("text", ["weekly", "all,month", "month;quarter", "q4"])
def test_unknown_report_periods_are_refused_with_the_choices(text):
    with pytest.raises(AccountError, match="month, quarter, 6m, 9m, year"):
        parse_reports(text)


@pytest.mark.parametrize("text", ["not-an-address", "a@b", "a@b.vn\r\nBcc: x@y.vn", "x@y.vn>, b@c.vn",
                                  "Tên <a@b.vn>", "a b@c.vn", "a@b.vn;c@d.vn", "a" * 250 + "@b.vn"])
def test_only_one_plain_address_is_accepted(text):
    with pytest.raises(AccountError, match="one plain address"):
        parse_email(text)


def test_addresses_and_languages():
    assert parse_email("  chutich@tanlap.langson.gov.vn ") == "chutich@tanlap.langson.gov.vn"
    assert parse_email("") is None and parse_email(None) is None
    assert parse_lang("EN") == "en"
    with pytest.raises(AccountError, match="use vi or en"):
        parse_lang("fr")


def test_enabled_accounts_with_an_address_receive_reports_of_their_scope(db_url):
    cfg = config(notify={"smtp": {"host": "127.0.0.1", "sender": "a@b.vn"}, "recipients": [
        {"name": "Tỉnh", "email": "tinh@example.vn", "scope": "lang-son", "reports": ["year"]}]})
    db = connect(db_url)  # SQLite and PostgreSQL: the schema v7 columns mean the same in both
    store = Store(db, Hierarchy.from_config(cfg.sites))
    store.add("a-tan-lap", "mat-khau-dai-1", "viewer", Scope("commune", "xa-tan-lap"), email="a@tanlap.vn")
    store.add("b-centre", "mat-khau-dai-1", "admin", Scope("centre", "ubnd-hoa-binh"), email="b@hoabinh.vn",
              lang="en", reports="quarter")
    store.add("c-all", "mat-khau-dai-1", "admin", Scope("all"), email="c@tinh.vn", reports="none")
    store.add("d-no-mail", "mat-khau-dai-1", "viewer", Scope("commune", "xa-hoa-binh"))
    store.add("e-disabled", "mat-khau-dai-1", "viewer", Scope("commune", "xa-hoa-binh"), email="e@hoabinh.vn")
    store.set_disabled("e-disabled", True)
    got = [(r.key, r.email, r.lang, r.scope, r.reports, r.alerts) for r in AccountRecipients(db).recipients()]
    # they also receive the alert e-mails of their scope (alerts True), whatever report periods they take
    assert got == [("account:a-tan-lap", "a@tanlap.vn", "vi", "xa-tan-lap", REPORT_KINDS, True),
                   ("account:b-centre", "b@hoabinh.vn", "en", "ubnd-hoa-binh", ("quarter",), True),
                   ("account:c-all", "c@tinh.vn", "vi", "all", (), True)]
    assert [r.key for r in everyone(cfg, db).recipients()] == [k for k, *_ in got] + [
        r.key for r in ConfigRecipients(cfg).recipients()]

    # a changed setting counts at the next read; nothing changed is reported as nothing
    account, changed = store.set_delivery("b-centre", lang="en")
    assert changed == "" and account.lang == "en"
    account, changed = store.set_delivery("b-centre", email="", reports="all")
    assert changed == "email b@hoabinh.vn -> -; reports quarter -> all" and account.email is None
    assert "account:b-centre" not in [r.key for r in AccountRecipients(db).recipients()]
    # an admin of one commune cannot change the reports of an account of another
    admin = store.add("admin-tan-lap", "mat-khau-dai-1", "admin", Scope("commune", "xa-tan-lap"))
    with pytest.raises(AccountError, match="no such account within your scope"):
        store.set_delivery("d-no-mail", email="x@y.vn", by=admin)
    assert store.get("d-no-mail").email is None
    db.close()

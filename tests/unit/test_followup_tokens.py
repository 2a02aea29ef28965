"""The thank-you QR's tokens and answers: a token opens its own rating once, within its time; an answer
that comes before its rating waits and is joined when the rating is stored; made-up tokens never count."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest

from broker import followup_tokens as tokens
from broker.contract import RatingV2, decode, encode
from collector.storage.db import connect
from collector.followup import answers
from collector.followup.answers import Answer, Outcome
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store

HOUR = 3_600_000
TTL = 24 * HOUR
EPOCH = "44444444-4444-4444-8444-444444444444"


@pytest.fixture
def store(db_url):
    db = connect(db_url)
    yield Store(db)
    db.close()


def rating(token: str | None, rid: str | None = None, seq: int = 1, site: str = "s", at: float | None = None):
    rid = rid or str(uuid.uuid4())
    ts = datetime.fromtimestamp(at if at is not None else time.time(), timezone.utc)
    msg = RatingV2(id=rid, site=site, device="d", ts=ts, rating=2, scale=5, lang="vi", epoch=EPOCH, seq=seq,
                   boot="b1", mono_ms=60_000, clock="synced", officer="lan", service="ho-tich",
                   followup_hash=tokens.token_hash(rid, token) if token else None)
    return rid, (f"hailong/v1/{site}/d/rating", encode(msg))


def store_ratings(store, *items):
    store.write(classify([Message(t, p, i + 1, 1, False, time.time()) for i, (t, p) in enumerate(items)]))


def now_ms() -> int:
    return int(time.time() * 1000)


def rows(db):
    return db.query("SELECT rating_id, state, site, s_staff, comment FROM followup_answers ORDER BY id")


def test_a_token_is_unguessable_url_safe_and_its_hash_binds_it_to_its_rating():
    a, b = tokens.new_token(), tokens.new_token()
    assert a != b and len(a) == 22 and tokens.parse(f"{uuid.uuid4()}.{a}") is not None
    rid = str(uuid.uuid4())
    h = tokens.token_hash(rid, a)
    assert len(h) == 64 and a not in h
    assert h != tokens.token_hash(str(uuid.uuid4()), a) and h != tokens.token_hash(rid, b)
    assert tokens.link("https://gopy.example.vn/", rid, a) == f"https://gopy.example.vn/f/{rid}.{a}"
    # the kiosk's language rides along, except Vietnamese (the shortest code) and anything not a language code
    assert tokens.link("https://gopy.example.vn", rid, a, "en") == f"https://gopy.example.vn/f/{rid}.{a}?l=en"
    assert tokens.link("https://gopy.example.vn", rid, a, "vi") == f"https://gopy.example.vn/f/{rid}.{a}"
    assert tokens.link("https://gopy.example.vn", rid, a, "e&n") == f"https://gopy.example.vn/f/{rid}.{a}"
    for bad in ("", "x", f"{rid}.{a}x", f"{rid}-{a}", f"{rid.upper()}.{a}", f"{rid}.{a[:-1]}!", f"{rid}.{a}/../"):
        assert tokens.parse(bad) is None, bad


def test_the_rating_carries_only_the_hash_and_old_ratings_stay_valid():
    token = tokens.new_token()
    rid, (topic, payload) = rating(token)
    assert token.encode() not in payload
    assert decode(topic, payload).followup_hash == tokens.token_hash(rid, token)
    _, (topic, payload) = rating(None)
    assert b"followup_hash" in payload and decode(topic, payload).followup_hash is None
    with pytest.raises(Exception):
        RatingV2.model_validate_json(payload.replace(b'"followup_hash":null', b'"followup_hash":"ABC"'))


def test_one_answer_per_token_when_the_rating_is_stored(store):
    token = tokens.new_token()
    rid, item = rating(token)
    store_ratings(store, item)
    db = store.db
    assert answers.check(db, rid, token, now_ms(), TTL) is Outcome.OPEN
    assert answers.submit(db, rid, token, Answer({"staff": 1}, "chờ lâu"), now_ms(), TTL) is Outcome.ACCEPTED
    assert answers.submit(db, rid, token, Answer({"staff": 5}), now_ms(), TTL) is Outcome.ALREADY
    assert answers.check(db, rid, token, now_ms(), TTL) is Outcome.ALREADY
    assert rows(db) == [(rid, "joined", "s", 1, "chờ lâu")]


def test_forged_and_expired_tokens_are_refused(store):
    token = tokens.new_token()
    rid, item = rating(token, at=time.time() - 25 * 3600)
    rid_plain, plain = rating(None, seq=2)
    store_ratings(store, item, plain)
    db = store.db
    assert answers.submit(db, rid, tokens.new_token(), Answer(), now_ms(), TTL) is Outcome.FORGED
    assert answers.submit(db, rid, token, Answer(), now_ms(), TTL) is Outcome.EXPIRED
    assert answers.submit(db, rid, token, Answer(), now_ms(), 48 * HOUR) is Outcome.ACCEPTED  # a longer ttl
    assert answers.submit(db, rid_plain, tokens.new_token(), Answer(), now_ms(), TTL) is Outcome.FORGED  # no QR
    assert [r[0] for r in rows(db)] == [rid]


def test_an_answer_before_its_rating_waits_and_is_joined_when_the_rating_arrives(store):
    token = tokens.new_token()
    rid, item = rating(token)
    db = store.db
    assert answers.submit(db, rid, token, Answer({"access": 4}, "ok"), now_ms(), TTL) is Outcome.PENDING
    assert answers.submit(db, rid, token, Answer(), now_ms(), TTL) is Outcome.ALREADY
    assert answers.joined(db, None, 0, now_ms() + 1, False) == []
    store_ratings(store, item)
    assert rows(db) == [(rid, "joined", "s", None, "ok")]
    [row] = answers.joined(db, None, 0, now_ms() + 1, False)
    assert (row["rating"], row["officer"], row["service"], row["access"]) == (2, "lan", "ho-tich", 4)


def test_a_made_up_token_for_a_rating_not_yet_stored_is_dropped_when_the_rating_arrives(store):
    token = tokens.new_token()
    rid, item = rating(token)
    db = store.db
    for _ in range(answers.MAX_PENDING_PER_RATING):
        assert answers.submit(db, rid, tokens.new_token(), Answer(), now_ms(), TTL) is Outcome.PENDING
    assert answers.submit(db, rid, tokens.new_token(), Answer(), now_ms(), TTL) is Outcome.BUSY
    store_ratings(store, item)
    assert rows(db) == []
    assert answers.submit(db, rid, token, Answer(), now_ms(), TTL) is Outcome.ACCEPTED  # the real one still works


def test_a_pending_answer_written_after_the_tokens_time_is_not_joined(store):
    token = tokens.new_token()
    rid, item = rating(token, at=time.time() - 30 * 3600)  # tapped 30 h ago, kiosk offline since
    assert answers.submit(store.db, rid, token, Answer(), now_ms(), TTL) is Outcome.PENDING
    store_ratings(store, item)
    assert rows(store.db) == []


def test_pending_answers_expire_and_comments_and_contacts_are_purged_after_retention(store):
    db = store.db
    t0 = now_ms()
    token = tokens.new_token()
    rid, item = rating(token)
    answers.submit(db, str(uuid.uuid4()), tokens.new_token(), Answer(), t0 - 73 * HOUR, TTL)
    answers.submit(db, str(uuid.uuid4()), tokens.new_token(), Answer(), t0 - 1 * HOUR, TTL)
    assert answers.expire(db, t0, 72 * HOUR) == 1
    assert db.scalar("SELECT COUNT(*) FROM followup_answers") == 1
    store_ratings(store, item)
    answers.submit(db, rid, token, Answer({"result": 3}, "bình luận", "0912345678"), t0, TTL)
    assert answers.purge(db, t0 + 89 * 24 * HOUR, 90) == 0
    assert answers.purge(db, t0 + 91 * 24 * HOUR, 90) == 1
    [row] = answers.joined(db, None, 0, t0 + 1, True)
    assert (row["comment"], row["contact"], row["result"]) == (None, None, 3)


def test_a_manager_sees_only_the_answers_of_their_sites_and_contacts_only_when_allowed(store):
    db = store.db
    ta, tb = tokens.new_token(), tokens.new_token()
    ra, ia = rating(ta, site="xa-a", seq=1)
    rb, ib = rating(tb, site="xa-b", seq=2)
    store_ratings(store, ia, ib)
    answers.submit(db, ra, ta, Answer({}, "A", "a@example.vn"), now_ms(), TTL)
    answers.submit(db, rb, tb, Answer({}, "B", "b@example.vn"), now_ms(), TTL)
    mine = answers.joined(db, {"xa-a"}, 0, now_ms() + 1, False)
    assert [(r["comment"], r["contact"]) for r in mine] == [("A", None)]
    assert {r["contact"] for r in answers.joined(db, None, 0, now_ms() + 1, True)} == {"a@example.vn", "b@example.vn"}
    assert answers.joined(db, set(), 0, now_ms() + 1, True) == []


def test_the_purge_command_deletes_old_comments_contacts_and_stale_pending_answers(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    db = connect(url)
    old = now_ms() - 400 * 24 * HOUR
    answers.submit(db, str(uuid.uuid4()), tokens.new_token(), Answer({}, "cũ"), old, TTL)  # pending, long gone
    token = tokens.new_token()
    rid, item = rating(token)
    store_ratings(Store(db), item)
    answers.submit(db, rid, token, Answer({"access": 2}, "một năm trước", "0912345678"), now_ms() - 366 * 24 * HOUR,
                   400 * 24 * HOUR)
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(f"kind: collector\ndatabase: {{url: '{url}'}}\nfollowup_form: {{retention_days: 365}}\n")
    out = subprocess.run([sys.executable, "-m", "collector", "followup", "purge", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "1 câu trả lời chờ" in out.stdout and "1 ý kiến" in out.stdout
    assert db.query("SELECT state, s_access, comment, contact, purged FROM followup_answers") == [
        ("joined", 2, None, None, 1)]
    db.close()


def test_a_kiosk_without_a_trusted_clock_still_gets_working_links(store):
    token = tokens.new_token()
    rid = str(uuid.uuid4())
    three_days_behind = datetime.fromtimestamp(time.time() - 3 * 86400, timezone.utc)  # a clock nobody set
    msg = RatingV2(id=rid, site="s", device="d", ts=three_days_behind, rating=3,
                   scale=5, lang="vi", epoch=EPOCH, seq=1, boot="never-seen-live", mono_ms=300_000, clock="unsynced",
                   followup_hash=tokens.token_hash(rid, token))
    store_ratings(store, ("hailong/v1/s/d/rating", encode(msg)))
    assert answers.submit(store.db, rid, token, Answer({"result": 3}), now_ms(), TTL) is Outcome.ACCEPTED

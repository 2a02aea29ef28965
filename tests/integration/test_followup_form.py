"""The thank-you QR's form, end to end with real components: a real Mosquitto, the real ``python -m collector
run`` storing into SQLite, and the real ``python -m collector followup serve`` on a free loopback port. A kiosk's
v2 rating carries the hash of its token; the form takes one answer per token, refuses forged and expired
tokens, keeps an answer that came before its rating and joins it when the rating arrives; and it holds up
under attack (oversized bodies, script in the comment, a flood from one address)."""
from __future__ import annotations

import http.client
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import RatingV2, encode, rating_topic
from collector.storage.db import connect
from broker import followup_tokens as tokens
from tests.integration.test_collector_support import CollectorProc, unique
from tests.servers import free_port, wait_port

pytestmark = [pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]
SITE, DEVICE = "ubnd-xa-tan-lap", "quay-01"


class Kiosk:
    """A v2 kiosk's ratings with the thank-you QR on: the token stays here, only its hash is sent."""

    def __init__(self, port: int):
        self.epoch, self.seq = str(uuid.uuid4()), 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("kiosk"), protocol=mqtt.MQTTv311)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def rating(self, value: int = 2, ago_s: float = 0.0) -> tuple[RatingV2, str]:
        self.seq += 1
        rid, token = str(uuid.uuid4()), tokens.new_token()
        msg = RatingV2(id=rid, site=SITE, device=DEVICE, ts=datetime.now(timezone.utc) - timedelta(seconds=ago_s),
                       rating=value, scale=5, lang="vi", officer="nguyen-van-an", service="ho-tich",
                       epoch=self.epoch, seq=self.seq, boot="boot1", mono_ms=10_000_000, clock="synced",
                       ticket="A015", followup_hash=tokens.token_hash(rid, token))
        return msg, token

    def send(self, msg: RatingV2) -> None:
        info = self.client.publish(rating_topic(SITE, DEVICE), encode(msg), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Form:
    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, fields: dict | None = None, client: str = "203.0.113.1",
                body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        h = {"X-Forwarded-For": client, **(headers or {})}
        if fields is not None:
            body = urlencode(fields).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def get(self, rid: str, token: str, **kw):
        return self.request("GET", f"/f/{rid}.{token}", **kw)

    def post(self, rid: str, token: str, fields: dict, **kw):
        return self.request("POST", f"/f/{rid}.{token}", fields, **kw)


@pytest.fixture
def chain(mosquitto, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = CollectorProc(tmp_path, mosquitto.port, db_url).start()
    port = free_port()
    cfg = tmp_path / "form.yaml"
    cfg.write_text(f"kind: collector\ndatabase: {{url: '{db_url}'}}\nfollowup_form: {{port: {port}, "
                   "per_address_per_minute: 10, comment_max: 300, trusted_proxies: ['127.0.0.1']}\n", encoding="utf-8")
    log = open(tmp_path / "form.log", "wb")
    form = subprocess.Popen([sys.executable, "-m", "collector", "followup", "serve", "--config", str(cfg)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    kiosk = Kiosk(mosquitto.port)
    db = connect(db_url)
    try:
        wait_port(port, 15)
        yield kiosk, Form(port), db
    finally:
        kiosk.close()
        form.terminate()
        form.wait(10)
        collector.stop()
        db.close()
    assert "Traceback" not in (tmp_path / "form.log").read_text(errors="replace")


def wait_stored(db, rid: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.scalar("SELECT COUNT(*) FROM ratings WHERE id = ?", (rid,)):
            return
        time.sleep(0.05)
    raise AssertionError(f"rating {rid} not stored within {timeout} s")


def answer_rows(db, rid: str):
    return db.query("SELECT state, site, device, s_access, s_staff, comment, contact FROM followup_answers "
                    "WHERE rating_id = ?", (rid,))


def test_one_answer_per_qr_forged_and_expired_refused_and_an_early_answer_joined(chain):
    kiosk, form, db = chain
    msg, token = kiosk.rating(2)
    kiosk.send(msg)
    wait_stored(db, msg.id)

    status, headers, page = form.get(msg.id, token)
    assert status == 200 and "Tiếp cận dịch vụ" in page and "Access to the service" in page
    assert page.index("Tiếp cận dịch vụ") < page.index("Access to the service")  # Vietnamese first
    assert "<script" not in page and "default-src 'none'" in headers["content-security-policy"]
    status, _, page = form.post(msg.id, token, {"access": "4", "staff": "1", "comment": "Chờ lâu quá",
                                                "contact": "0912 345 678"})
    assert status == 200 and "Cảm ơn bạn đã góp ý" in page
    assert answer_rows(db, msg.id) == [("joined", SITE, DEVICE, 4, 1, "Chờ lâu quá", "0912 345 678")]

    status, _, page = form.post(msg.id, token, {"access": "5"}, client="203.0.113.2")  # a second time
    assert status == 200 and "Đã nhận ý kiến, cảm ơn bạn" in page and "Already received" in page
    status, _, page = form.get(msg.id, token)
    assert "Đã nhận ý kiến" in page and "<form" not in page
    assert len(answer_rows(db, msg.id)) == 1 and answer_rows(db, msg.id)[0][3] == 4

    status, _, page = form.post(msg.id, tokens.new_token(), {"access": "1"}, client="203.0.113.3")  # forged
    assert status == 404 and "Liên kết không hợp lệ" in page
    assert form.get(msg.id, tokens.new_token())[0] == 404
    assert form.request("GET", f"/f/{msg.id}.{token}x")[0] == 404  # not even a token's shape

    old, old_token = kiosk.rating(5, ago_s=25 * 3600)  # tapped 25 h ago: past the default 24 h
    kiosk.send(old)
    wait_stored(db, old.id)
    status, _, page = form.post(old.id, old_token, {"result": "5"}, client="203.0.113.4")
    assert status == 410 and "Liên kết đã hết hạn" in page
    assert form.get(old.id, old_token)[0] == 410 and answer_rows(db, old.id) == []

    early, early_token = kiosk.rating(1)  # the kiosk is offline: the citizen answers first
    status, _, page = form.post(early.id, early_token, {"staff": "2", "comment": "trước"}, client="203.0.113.5")
    assert status == 200 and "Cảm ơn" in page
    assert answer_rows(db, early.id) == [("pending", "", "", None, 2, "trước", None)]
    assert form.get(early.id, early_token)[2].count("Đã nhận ý kiến") == 1  # a second visit, even pending
    kiosk.send(early)
    wait_stored(db, early.id)
    assert answer_rows(db, early.id) == [("joined", SITE, DEVICE, None, 2, "trước", None)]


def test_the_form_under_attack(chain):
    kiosk, form, db = chain
    msg, token = kiosk.rating(1)
    kiosk.send(msg)
    wait_stored(db, msg.id)
    path = f"/f/{msg.id}.{token}"

    status, _, _ = form.request("POST", path, body=b"comment=" + b"x" * 200_000, client="198.51.100.1",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    status, _, page = form.post(msg.id, token, {"comment": "y" * 301}, client="198.51.100.2")
    assert status == 400 and "300" in page and "yyy" in page  # too long: shown again to shorten, not stored

    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    status, _, page = form.post(msg.id, token, {"comment": script, "contact": "not a contact"},
                                client="198.51.100.3")
    assert status == 400 and "&lt;script&gt;" in page and "<script>" not in page and "<img" not in page
    assert answer_rows(db, msg.id) == []  # nothing stored from a refused form
    status, _, page = form.post(msg.id, token, {"comment": script + "\x1b[31m\u202e"}, client="198.51.100.4")
    assert status == 200
    assert answer_rows(db, msg.id)[0][5] == script + "[31m"  # kept as written, ESC and the bidi override dropped

    codes = [form.post(str(uuid.uuid4()), tokens.new_token(), {"access": "3"}, client="198.51.100.66")[0]
             for _ in range(1000)]  # 1,000 submissions from one address
    assert codes[:10] == [200] * 10 and codes[10:].count(429) >= 985  # pending guesses, then rate-limited
    assert db.scalar("SELECT COUNT(*) FROM followup_answers WHERE state = 'pending'") <= 10 + 5
    status, headers, _ = form.post(str(uuid.uuid4()), tokens.new_token(), {"access": "3"}, client="198.51.100.66")
    assert status == 429 and int(headers["retry-after"]) >= 1
    other, other_token = kiosk.rating(4)
    kiosk.send(other)
    wait_stored(db, other.id)
    assert form.post(other.id, other_token, {"result": "4"}, client="203.0.113.9")[0] == 200  # others still served
    assert form.request("GET", "/admin")[0] == 404 and form.request("GET", "/")[0] == 404  # only the form


def test_guessing_links_and_hammering_one_link_are_limited_and_a_half_sent_request_is_cut(chain):
    kiosk, form, db = chain
    msg, token = kiosk.rating(3)
    kiosk.send(msg)
    wait_stored(db, msg.id)
    # token guessing: views of made-up links from one address (five times the submissions' 10 a minute)
    codes = [form.get(msg.id, tokens.new_token(), client="192.0.2.7")[0] for _ in range(60)]
    assert codes[:50] == [404] * 50 and set(codes[50:]) == {429}
    # one link, many tries from many addresses: 5 an hour, then refused whoever asks
    tries = [form.post(msg.id, token, {}, client=f"192.0.2.{100 + i}")[0] for i in range(6)]
    assert tries == [400] * 5 + [429]  # nothing answered: shown again; then the link's budget is spent
    assert db.scalar("SELECT COUNT(*) FROM followup_answers") == 0
    # a client that sends half a request line and waits is disconnected after the header time limit
    import socket

    with socket.create_connection(("127.0.0.1", form.port), timeout=15) as s:
        s.sendall(b"POST /f/x HTTP/1.1\r\nHost: gopy\r\n")
        t0 = time.monotonic()
        s.settimeout(15)
        while s.recv(4096):
            pass
        assert time.monotonic() - t0 < 10
    assert form.get(msg.id, token, client="192.0.2.200")[0] == 200  # and the form still answers


def test_the_form_opens_in_the_kiosk_language_the_link_names(chain):
    kiosk, form, db = chain
    msg, token = kiosk.rating(2)
    kiosk.send(msg)
    wait_stored(db, msg.id)
    status, _, page = form.request("GET", f"/f/{msg.id}.{token}?l=en")
    assert status == 200 and '<html lang="en">' in page
    assert page.index("Access to the service") < page.index("Tiếp cận dịch vụ")  # English first, Vietnamese beside
    assert f'action="/f/{msg.id}.{token}?l=en"' in page  # the language survives a mistake on the form
    status, _, page = form.request("POST", f"/f/{msg.id}.{token}?l=en", {"staff": "5"})
    assert status == 200 and page.index("Thank you for your answer") < page.index("Cảm ơn bạn đã góp ý")
    assert db.query("SELECT lang, s_staff FROM followup_answers WHERE rating_id = ?", (msg.id,)) == [("en", 5)]

    other, other_token = kiosk.rating(3)
    kiosk.send(other)
    wait_stored(db, other.id)
    for query in ("", "?l=vi", "?l=%3Cscript%3E", "?l=hmn"):  # Vietnamese first for vi, anything odd, or no texts
        status, _, page = form.request("GET", f"/f/{other.id}.{other_token}{query}")
        assert status == 200 and '<html lang="vi">' in page and "<script" not in page
        assert page.index("Tiếp cận dịch vụ") < page.index("Access to the service")

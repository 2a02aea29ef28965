"""The dashboard's checks on what a request brings: redirect targets, body sizes, file names, proxy
headers, the login attempt limit and the logout form token."""
import io
import threading
import time
from email.message import Message

import pytest

from collector.web import guards, proxy
from collector.web.auth import RateLimiter, Sessions


@pytest.mark.parametrize("target", ["/", "/ranking?dim=officer&period=2026-10", "/report?period=2026-Q4#x", "/a/b/"])
def test_same_site_paths_are_redirect_targets(target):
    assert guards.safe_redirect(target) == target


@pytest.mark.parametrize("target", [None, "", "ranking", "//evil.example/", "/\\evil.example/", "/\t/evil.example/",
                                    "/\r\nSet-Cookie: a=b", "/\n/evil", "https://evil.example/", "javascript:alert(1)",
                                    "/ /evil", "/\u3000/evil", "/\x00", "/đ", "\\\\evil", "/\x7f"])
def test_anything_else_redirects_home(target):
    assert guards.safe_redirect(target) == "/"


def headers(**values) -> Message:
    m = Message()
    for k, v in values.items():
        for one in (v if isinstance(v, list) else [v]):
            m[k.replace("_", "-")] = one
    return m


@pytest.mark.parametrize("length, status", [("-1", 400), ("abc", 400), ("１２", 400), ("²", 400), ("1e3", 400),
                                            ("", 400), (["5", "6"], 400), ("65537", 413), ("9" * 30, 400)])
def test_bad_lengths_are_refused_before_reading(length, status):
    rfile = io.BytesIO(b"x" * 100_000)
    with pytest.raises(guards.BodyError) as err:
        guards.read_body(rfile, headers(Content_Length=length), limit=65536)
    assert err.value.status == status and rfile.tell() == 0


def test_bodies_are_read_exactly():
    rfile = io.BytesIO(b"a=1&b=2NEXT REQUEST")
    assert guards.read_body(rfile, headers(Content_Length="7")) == b"a=1&b=2"
    assert guards.read_body(io.BytesIO(b"ignored"), headers()) == b""
    with pytest.raises(guards.BodyError) as err:
        guards.read_body(io.BytesIO(b"abc"), headers(Content_Length="10"))
    assert err.value.status == 400
    with pytest.raises(guards.BodyError) as err:
        guards.read_body(io.BytesIO(b"abc"), headers(Transfer_Encoding="chunked"))
    assert err.value.status == 411

    class Slow(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise TimeoutError
    with pytest.raises(guards.BodyError) as err:
        guards.read_body(io.BufferedReader(Slow()), headers(Content_Length="10"))
    assert err.value.status == 408


def test_attachment_names_are_always_latin1_safe():
    assert guards.attachment("ranking-officer-2026-10.csv") == 'attachment; filename="ranking-officer-2026-10.csv"'
    value = guards.attachment("ranking-２０２６-10.csv")
    value.encode("latin-1")
    assert value == ("attachment; filename=\"ranking-____-10.csv\"; "
                     "filename*=UTF-8''ranking-%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10.csv")
    assert guards.header_safe(value) and not guards.header_safe("/\r\nX: 1") and not guards.header_safe("é")


TRUSTED = proxy.networks(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize("peer, xff, client", [
    ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
    ("127.0.0.1", "198.51.100.4, 203.0.113.9", "203.0.113.9"),  # the left entry is the client's own word
    ("127.0.0.1", "203.0.113.9, 10.1.2.3", "203.0.113.9"),  # a second trusted proxy is skipped
    ("127.0.0.1", "203.0.113.9:5555", "203.0.113.9"),
    ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
    ("127.0.0.1", "garbage", "127.0.0.1"),
    ("127.0.0.1", None, "127.0.0.1"),
    ("192.0.2.1", "203.0.113.9", "192.0.2.1"),  # not a trusted proxy: the header is ignored
    ("::1", "2001:db8::7", "2001:db8::7"),
])
def test_client_address_believes_only_trusted_proxies(peer, xff, client):
    assert proxy.client_of(peer, xff, TRUSTED) == client


def test_https_from_a_trusted_proxy_or_tls():
    assert proxy.is_https("127.0.0.1", "https", TRUSTED)
    assert proxy.is_https("127.0.0.1", "http, https", TRUSTED)
    assert not proxy.is_https("127.0.0.1", "http", TRUSTED)
    assert not proxy.is_https("192.0.2.1", "https", TRUSTED)
    assert not proxy.is_https("127.0.0.1", "https", ())
    assert proxy.is_https("192.0.2.1", None, (), tls=True)


def test_simultaneous_attempts_take_at_most_the_limit():
    limiter = RateLimiter(limit=5, window_s=60)
    start, granted = threading.Barrier(40), []

    def attempt():
        start.wait()
        slot = limiter.acquire("203.0.113.9", "admin")
        if slot is not None:
            time.sleep(0.05)  # the password check
            granted.append(slot)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(granted) == 5
    assert 55 <= limiter.retry_after("203.0.113.9", "admin") <= 61
    assert limiter.acquire("198.51.100.4", "admin") is not None  # another client is not affected
    assert limiter.acquire("203.0.113.9", "someone-else") is not None  # same client, other account: its own count


def test_the_lockout_is_per_name_and_address_and_one_address_over_many_names_is_slowed():
    """Behind a reverse proxy that is not listed every manager shares one address: five wrong passwords
    for one name leave the others in; one address trying many names still meets a wider limit."""
    limiter = RateLimiter(limit=5, window_s=60, client_limit=12)
    assert all(limiter.acquire("10.0.0.1", "chu-tich") is not None for _ in range(5))
    assert limiter.acquire("10.0.0.1", "chu-tich") is None
    manager = limiter.acquire("10.0.0.1", "pho-chu-tich")
    assert manager is not None
    limiter.release(manager)  # the right password: it does not count
    assert all(limiter.acquire("10.0.0.1", f"ten-{i}") is not None for i in range(7))  # 12 failures now
    assert limiter.acquire("10.0.0.1", "ten-moi") is None
    assert limiter.acquire("10.0.0.2", "ten-moi") is not None  # another address is not affected


def test_a_right_password_gives_its_slot_back_and_ipv6_counts_per_64():
    limiter = RateLimiter(limit=2, window_s=60)
    for _ in range(5):
        limiter.release(limiter.acquire("2001:db8::1", "admin"))
    assert limiter.acquire("2001:db8::1", "admin") is not None and limiter.acquire("2001:db8::1", "admin") is not None
    assert limiter.acquire("2001:db8::ffff", "admin") is None  # same /64
    assert limiter.acquire("2001:db8:0:1::1", "admin") is not None


def test_guessing_from_many_addresses_is_slowed_but_a_clean_address_gets_in():
    limiter = RateLimiter(limit=5, window_s=60, account_limit=20)
    for i in range(4):  # 4 addresses use up their 5 tries: the account has 20 failures
        assert all(limiter.acquire(f"10.0.0.{i}", "admin") is not None for _ in range(5))
    assert limiter.acquire("10.0.1.1", "admin") is not None  # a new address: its first try is checked
    assert limiter.acquire("10.0.1.1", "admin") is None  # but it failed once: one try per address
    assert 55 <= limiter.retry_after("10.0.1.1", "admin") <= 61
    assert limiter.acquire("10.0.1.1", "other") is not None  # other accounts are not held up
    manager = limiter.acquire("192.0.2.50", "Admin")  # the account is matched without case
    assert manager is not None
    limiter.release(manager)  # the right password
    assert limiter.acquire("192.0.2.50", "admin") is not None


def test_failures_age_out_and_old_counters_are_dropped():
    limiter = RateLimiter(limit=1, window_s=0.05, max_keys=3)
    for i in range(10):
        assert limiter.acquire(f"10.0.0.{i}", "admin") is not None
        time.sleep(0.06)
    assert len(limiter._failures) <= 3 + 3
    assert limiter.acquire("10.0.0.0", "admin") is not None


def test_the_logout_form_token_belongs_to_its_session():
    sessions = Sessions()
    a, b = sessions.create(), sessions.create()
    assert sessions.form_ok(a, sessions.form_token(a))
    assert not sessions.form_ok(a, sessions.form_token(b))
    assert not sessions.form_ok(a, "") and not sessions.form_ok(None, sessions.form_token(a))
    assert not sessions.form_ok(a, "đ" * 64)
    sessions.end(a)
    assert not sessions.form_ok(a, sessions.form_token(a))

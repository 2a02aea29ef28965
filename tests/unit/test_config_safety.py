"""Hostile or careless config files: refused fast, with bounded memory, without repeating secrets or
megabytes of input. Every command (kiosk, collector, broker, config check) loads through the same loader."""
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from config import ConfigError, load
from config.loader import MAX_FILE_BYTES, MAX_PROBLEM

ROOT = Path(__file__).resolve().parents[2]

# 9 levels of 9 aliases: 354 bytes that expand to 9^9 (387 million) leaves.
BOMB = "kind: kiosk\na: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
    for p, n in zip("abcdefgh", "bcdefghi"))


def write(tmp_path, text, name="kiosk.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def problems(path, **kw):
    with pytest.raises(ConfigError) as e:
        load(path, **kw)
    return e.value.problems


def test_alias_bomb_is_refused_at_the_first_anchor_fast_and_small(tmp_path):
    assert 300 < len(BOMB) < 400
    p = write(tmp_path, BOMB)
    tracemalloc.start()
    t0 = time.perf_counter()
    msgs = problems(p)
    took = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert msgs == ["kiosk.yaml:2: anchors and aliases (&name, *name, <<: *name) are not allowed in config "
                    "files; write each value out in full"]
    assert took < 10.0 and peak < 5_000_000, (took, peak)  # unbounded: 33 s and 3 GB


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))


def test_config_check_on_the_bomb_exits_1_within_seconds_under_a_memory_limit(tmp_path):
    p = write(tmp_path, BOMB)
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "config", "check", str(p)], cwd=ROOT, capture_output=True,
                         text=True, timeout=20, preexec_fn=_limit_memory)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "kiosk.yaml:2: anchors and aliases" in out.stderr and "Traceback" not in out.stderr
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("text, line", [
    ("site: &s a\ndevice: b\n", 1),                                   # an anchor alone
    ("site: a\ndevice: b\nbase: &base {x: 1}\nfaces:\n  <<: *base\n", 3),  # a merge key needs one too
])
def test_any_anchor_or_alias_is_refused_with_its_line(tmp_path, text, line):
    [msg] = problems(write(tmp_path, text))
    assert msg.startswith(f"kiosk.yaml:{line}: anchors and aliases")


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    p = write(tmp_path, "site: a\ndevice: b\nx: " + "[" * 50_000 + "]" * 50_000 + "\n")
    t0 = time.perf_counter()
    [msg] = problems(p)
    assert msg.startswith("kiosk.yaml:3: nested more than 50 levels deep")
    assert time.perf_counter() - t0 < 10.0  # bounded work, not a benchmark


def test_file_larger_than_the_cap_is_refused_before_parsing(tmp_path):
    p = tmp_path / "kiosk.yaml"
    p.write_bytes(b"site: a\ndevice: b\n# " + b"x" * (20 * 1024 * 1024) + b"\n")
    t0 = time.perf_counter()
    [msg] = problems(p)
    assert msg == f"{p}: the file is larger than 1024 KiB; a config file is a few KiB (is it the right file?)"
    assert time.perf_counter() - t0 < 10.0  # bounded work, not a benchmark
    # just under the cap still loads
    q = tmp_path / "ok.yaml"
    q.write_bytes(b"site: a\ndevice: b\n# " + b"x" * (MAX_FILE_BYTES - 100) + b"\n")
    assert load(q, kind="kiosk").site == "a"


def test_a_huge_value_is_not_echoed_whole(tmp_path):
    value = "Q" * 900_000
    [msg] = problems(write(tmp_path, f"site: {value}\ndevice: b\n"))
    assert msg.startswith("kiosk.yaml:1: site: 'QQQQ") and "(900,002 characters)" in msg
    assert len(msg) <= MAX_PROBLEM
    # an unknown key of a megabyte is cut too
    [msg] = problems(write(tmp_path, f"site: a\ndevice: b\n? {'k' * 900_000}\n: 1\n"))
    assert "unknown key" in msg and len(msg) <= MAX_PROBLEM


def test_thousands_of_problems_are_capped(tmp_path):
    lines = "".join(f"k{i}: 1\n" for i in range(5000))
    msgs = problems(write(tmp_path, "site: a\ndevice: b\n" + lines))
    assert len(msgs) == 51 and msgs[-1] == "... and 4950 more problems"


def test_an_integer_of_thousands_of_digits_is_a_clear_error(tmp_path):
    [msg] = problems(write(tmp_path, "site: a\ndevice: b\nfaces:\n  scale: " + "9" * 5000 + "\n"))
    assert msg.startswith("kiosk.yaml") and len(msg) <= MAX_PROBLEM


@pytest.mark.parametrize("text, secret", [
    ("broker:\n  username: u\n  password: hunter2-Zq7\n", "hunter2-Zq7"),
    ("broker:\n  username: u\n  password: 73519\n", "73519"),
    ("technician:\n  pin: 864213\n", "864213"),
    ("technician:\n  pin: '864213'\n", "864213"),
    ("technician:\n  pin: [864213]\n", "864213"),
])
def test_a_rejected_inline_password_or_pin_is_never_printed(tmp_path, text, secret):
    p = write(tmp_path, "site: a\ndevice: b\n" + text)
    msgs = problems(p)
    assert msgs and all(secret not in m for m in msgs), msgs
    assert "<hidden>" in msgs[0] or "this value" in msgs[0] or "{env:" in msgs[0]
    out = subprocess.run([sys.executable, "-m", "config", "check", str(p)], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1 and secret not in out.stdout + out.stderr


def test_inline_password_message_says_hidden_and_how_to_fix(tmp_path):
    [msg] = problems(write(tmp_path, "site: a\ndevice: b\nbroker:\n  username: u\n  password: hunter2\n"))
    assert msg == ("kiosk.yaml:5: broker.password: <hidden>: inline secrets are not allowed; "
                   "write {file: PATH} or {env: VARIABLE}")


def test_a_password_inside_a_rejected_url_is_hidden(tmp_path):
    [msg] = problems(write(tmp_path, "kind: collector\ndatabase:\n  url: mysql://admin:Sup3r-S3cret@db/x\n",
                           "collector.yaml"))
    assert "Sup3r-S3cret" not in msg and "'mysql://admin:<hidden>@db/x'" in msg


def test_fleet_layers_are_read_with_the_same_limits(tmp_path):
    from config.loader import read_yaml

    p = write(tmp_path, BOMB, "defaults.yaml")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        read_yaml(p, shown_as="fleet/defaults.yaml")
    assert e.value.problems[0].startswith("fleet/defaults.yaml:2: anchors and aliases")
    assert time.perf_counter() - t0 < 10.0  # bounded work, not a benchmark

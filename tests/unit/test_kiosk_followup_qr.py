"""The kiosk's side of the thank-you QR: off by default; when on, each rating gets a fresh token whose hash
(only) goes into the outbox, the link names the rating, the thank-you stays longer, and the QR's modules
are exactly segno's dark modules in the texture drawn. segno is not imported when the QR is off."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from broker.contract import Rating, decode, new_event_id
from broker import followup_tokens as tokens
from config.kiosk import KioskConfig
from kiosk.clock import KioskClock
from kiosk.flow import Flow, State
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder

T0 = datetime(2026, 11, 23, 8, 15, tzinfo=timezone.utc)
QR = {"enabled": True, "base_url": "https://gopy.lamdong.gov.vn", "seconds": 25}


def recorder(tmp_path, **cfg):
    c = KioskConfig(site="xa-a", device="quay-1", **cfg)
    outbox = Outbox(tmp_path / "outbox.db")
    clock = KioskClock(boot="b1", monotonic=lambda: 1000.0, utc=lambda: T0, synced=lambda: True)
    return Recorder(c, outbox, clock, monotonic=lambda: 1000.0), outbox


def rating():
    return Rating(id=new_event_id(), site="xa-a", device="quay-1", ts=T0, rating=1, scale=5, lang="vi")


def test_the_qr_is_off_by_default_and_ratings_carry_no_hash(tmp_path):
    rec, outbox = recorder(tmp_path)
    assert not rec.cfg.followup_qr.enabled
    rec.rating(rating())
    [row] = outbox.peek(0, 10)
    assert decode(row.topic, row.payload).followup_hash is None and rec.followup_link is None
    outbox.close()


def test_each_rating_gets_its_own_token_and_only_the_hash_is_kept(tmp_path):
    rec, outbox = recorder(tmp_path, followup_qr=QR)
    links = []
    for _ in range(2):
        r = rating()
        rec.rating(r)
        links.append((r.id, rec.followup_link))
    rows = outbox.peek(0, 10)
    for (rid, link), row in zip(links, rows):
        assert link.startswith(f"https://gopy.lamdong.gov.vn/f/{rid}.")
        parsed = tokens.parse(link.rsplit("/", 1)[1])
        assert parsed is not None and parsed[0] == rid
        assert decode(row.topic, row.payload).followup_hash == tokens.token_hash(rid, parsed[1])
        assert parsed[1].encode() not in row.payload  # the token never reaches the disk or the wire
    assert links[0][1] != links[1][1]
    english = rating().model_copy(update={"lang": "en"})  # a citizen who switched the kiosk to English
    rec.rating(english)
    assert rec.followup_link.endswith("?l=en") and tokens.parse(rec.followup_link.rsplit("/", 1)[1][:-5])
    outbox.close()


def test_the_thank_you_stays_as_long_as_the_qr_wants_whatever_the_face():
    cfg = KioskConfig(site="xa-a", device="quay-1", followup_qr=QR, followup={"enabled": False})
    flow = Flow(cfg, lambda r: None, now=0.0)
    for face in (1, 5):
        flow.tap_face(face, 10.0)
        assert flow.state is State.THANKS
        flow.tick(10.0 + cfg.timeouts.thank_you_s + 1)
        assert flow.state is State.THANKS
        flow.tick(10.0 + 25.1)
        assert flow.state is State.RATING


def test_the_switch_needs_the_form_address():
    with pytest.raises(ValueError, match="base_url"):
        KioskConfig(site="xa-a", device="quay-1", followup_qr={"enabled": True})
    with pytest.raises(ValueError):
        KioskConfig(site="xa-a", device="quay-1", followup_qr={"enabled": True, "base_url": "javascript:alert(1)"})


def test_the_texture_holds_exactly_the_modules_with_a_quiet_zone():
    from kiosk.followup_qr import QUIET, matrix, pixels

    url = f"https://gopy.lamdong.gov.vn/f/{new_event_id()}.{tokens.new_token()}"
    rows = matrix(url)
    assert len(rows) == len(rows[0]) >= 33  # version 4 or more for a 90-character link
    side, data = pixels(rows)
    assert side == len(rows) + 2 * QUIET and len(data) == side * side * 4
    dark = {(y, x) for y in range(side) for x in range(side) if data[((side - 1 - y) * side + x) * 4] == 0}
    assert dark == {(y + QUIET, x + QUIET) for y, row in enumerate(rows) for x, v in enumerate(row) if v}


def test_segno_is_imported_only_when_the_qr_is_on():
    code = ("import sys; from config.kiosk import KioskConfig; from kiosk import app; from kiosk.recorder import Recorder; "
            "print('segno' in sys.modules, 'kiosk.followup_qr' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"KIVY_NO_ARGS": "1", "KCFG_KIVY_LOG_LEVEL": "warning", "SDL_VIDEODRIVER": "offscreen",
                              "KIVY_NO_CONSOLELOG": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]

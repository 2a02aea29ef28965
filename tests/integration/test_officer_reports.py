"""Officer figures end to end: a v2 kiosk offline for a whole shift (sign-in, ratings, sign-out kept in
its outbox) sends everything on reconnect, twice over as QoS 1 may; a v1 kiosk rates beside it. The real
collector stores each message once in SQLite and PostgreSQL, and the real ``report --by
officer-evaluation`` gives the hand-computed hours and ratings per hour, identical on both."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from broker.contract import Rating, encode, rating_topic
from tests.integration.test_collector_v2 import TZ, Kiosk, cli, pair, send, wait_for  # noqa: F401  (fixture)

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgres]


def test_offline_shift_arrives_once_and_hours_and_ratings_per_hour_are_right(pair, tmp_path):
    prefix, cols, c = pair
    k = Kiosk(prefix, "ubnd-b", "quay-05", synced=True, booted_s_ago=8 * 3600)
    h = 3600
    # The shift, made while the link was down: signed in 5 h ago, signed out 1 h ago -> 4 h on duty.
    shift = [k.event("sign_in", officer="tran-thi-binh", service="ho-tich")]
    shift[0] = shift[0].model_copy(update={"ts": k.wall(5 * h), "mono_ms": k.mono_ms(5 * h)})
    values = [5, 5, 4, 5, 2, 5]  # 5 of 6 satisfied
    for i, v in enumerate(values):
        shift.append(k.rating(value=v, ago_s=(4.5 - 0.5 * i) * h, officer="tran-thi-binh", service="ho-tich",
                              reason="waiting" if v == 2 else None,
                              dossier=f"H56-2611-{i:04d}" if i < 2 else None, request=None))
    out = k.event("sign_out", officer="tran-thi-binh", service="ho-tich")
    shift.append(out.model_copy(update={"ts": k.wall(1 * h), "mono_ms": k.mono_ms(1 * h)}))
    k.publish(c, k.status(), *shift)
    k.publish(c, *shift)  # a resend after a lost acknowledgement: stored once
    v1 = Rating(id="11111111-2222-4333-8444-555555555555", site="ubnd-b", device="quay-09",
                ts=datetime.now(timezone.utc) - timedelta(hours=2), rating=5, scale=5, lang="vi")
    send(c, rating_topic("ubnd-b", "quay-09", prefix), encode(v1))
    now = datetime.now(ZoneInfo(TZ))
    window = ["--since", (now - timedelta(days=1)).date().isoformat(), "--until", now.date().isoformat()]
    results = []
    for col in cols:
        wait_for(col.db_url, "SELECT COUNT(*) FROM ratings WHERE site = 'ubnd-b'", 7)
        wait_for(col.db_url, "SELECT COUNT(*) FROM events WHERE site = 'ubnd-b'", 2)
        res = cli("report", col, *window, "--by", "officer-evaluation", "--format", "json", "--lang", "en")
        assert res.returncode == 0, res.stderr
        results.append(json.loads(res.stdout))
    assert results[0] == results[1]  # SQLite and PostgreSQL agree
    main, quality = results[0]
    [row] = [dict(zip(main["headers"], r)) for r in main["rows"]]
    assert row["Officer key"] == "tran-thi-binh" and row["Ratings"] == 6
    assert row["Hours on duty"] == 4.0 and row["Ratings per hour"] == 1.5
    assert row["Satisfied"] == round(5 / 6, 4) and row["Rank"] == 1 and row["Reasons for poor ratings"] == "waiting: 1"
    assert row["Grade"] == ""  # 6 ratings: fewer than grade_min_ratings (30), no grade
    [q] = [dict(zip(quality["headers"], r)) for r in quality["rows"]]
    assert (q["Ratings"], q["No officer"], q["Share without officer"]) == (7, 1, round(1 / 7, 4))

    # the per-dossier export, as XLSX
    xlsx = tmp_path / "dossiers.xlsx"
    res = cli("report", cols[1], *window, "--by", "dossier", "--format", "xlsx", "--output", str(xlsx))
    assert res.returncode == 0, res.stderr
    ws = load_workbook(xlsx).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][:3] == ["Mã hồ sơ", "Số thứ tự", "Mức đánh giá"]
    assert sorted((r[0], r[2], r[5]) for r in rows[1:]) == [("H56-2611-0000", 5, "tran-thi-binh"),
                                                             ("H56-2611-0001", 5, "tran-thi-binh")]


def test_a_real_kiosk_offline_for_a_shift_delivers_it_once_on_reconnect(pair, tmp_path):
    """The kiosk's own parts (flow, recorder, duty, outbox, uplink) with the time of a shift played
    through their clock seams: signed in 6 h ago, six taps, signed out 2 h ago, all while no uplink
    ran; then the uplink connects, and a second connection resends nothing."""
    import time as _time

    from config.kiosk import KioskConfig
    from config.pins import hash_pin
    from kiosk.clock import KioskClock
    from kiosk.duty import Duty, Officer
    from kiosk.flow import Flow
    from kiosk.outbox import Outbox
    from kiosk.recorder import Recorder
    from kiosk.requests import Requests
    from kiosk.uplink import Uplink

    prefix, cols, _c = pair
    port = int(cols[0].config.read_text().split("port: ")[1].split(",")[0])
    cfg = KioskConfig.model_validate({"site": "ubnd-c", "device": "quay-07", "repeat_window_s": 0, "settle_s": 0,
                                      "broker": {"host": "127.0.0.1", "port": port, "topic_prefix": prefix}})
    boot_wall = datetime.now(timezone.utc) - timedelta(hours=7)
    t = {"s": 0.0}  # seconds since the kiosk booted, 7 h ago
    mono = lambda: t["s"]  # noqa: E731
    utc = lambda: boot_wall + timedelta(seconds=t["s"])  # noqa: E731
    clock = KioskClock(boot="p-offline-shift", monotonic=mono, utc=utc, synced=lambda: True)
    box = Outbox(tmp_path / "outbox.db")
    duty = Duty({"le-thi-dung": Officer("le-thi-dung", "Lê Thị Dung", hash_pin("4321", log2_n=10), ("ho-tich",))})
    rec = Recorder(cfg, box, clock, requests=Requests("open"), duty=duty, monotonic=mono)
    flow = Flow(cfg, rec.rating, utc=utc)

    t["s"] = 3600.0  # 6 h ago
    for change in duty.sign_in("le-thi-dung", None, t["s"]):
        rec.event(change.event, officer=change.officer, service=change.service)
    for i, value in enumerate([5, 4, 5, 3, 5, 5]):  # 5 of 6 satisfied
        t["s"] = 3600.0 + 1800.0 * (i + 1)
        flow.tap_face(value, t["s"])
        flow.tick(t["s"] + 60)  # the thank-you ends
    t["s"] = 5 * 3600.0  # 2 h ago: 4 h on duty
    for change in duty.sign_out(t["s"]):
        rec.event(change.event, officer=change.officer, service=change.service)
    assert box.depth() == 8

    t["s"] = 7 * 3600.0  # now: the link is back
    for _ in range(2):  # the second connection finds nothing left to send
        up = Uplink(cfg, box, wire_v2=True, clock=clock).start()
        deadline = _time.monotonic() + 20
        while box.depth() and _time.monotonic() < deadline:
            _time.sleep(0.05)
        _time.sleep(0.3)
        up.stop()
    assert box.depth() == 0
    box.close()
    now = datetime.now(ZoneInfo(TZ))
    window = ["--since", (now - timedelta(days=1)).date().isoformat(), "--until", now.date().isoformat()]
    results = []
    for col in cols:
        wait_for(col.db_url, "SELECT COUNT(*) FROM ratings WHERE site = 'ubnd-c'", 6)
        wait_for(col.db_url, "SELECT COUNT(*) FROM events WHERE site = 'ubnd-c'", 2)
        res = cli("report", col, *window, "--by", "officer-evaluation", "--format", "json", "--lang", "en",
                  "--site", "ubnd-c")
        assert res.returncode == 0, res.stderr
        results.append(json.loads(res.stdout))
    assert results[0] == results[1]
    [row] = [dict(zip(results[0][0]["headers"], r)) for r in results[0][0]["rows"]]
    assert (row["Officer key"], row["Ratings"], row["Hours on duty"], row["Ratings per hour"]) == \
        ("le-thi-dung", 6, 4.0, 1.5)
    assert row["Satisfied"] == round(5 / 6, 4)

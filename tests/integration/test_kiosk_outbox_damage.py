"""A damaged outbox never stops the kiosk: the real ``python -m kiosk simulate`` against a real
Mosquitto and collector, after the outbox of a clean stop was truncated, had its header or its middle
overwritten, or was emptied to 0 bytes.

Was: truncated or header garbage -> a crash at start-up on every restart; 0 bytes -> started empty,
300 ratings silently gone; 8 KiB of garbage in the middle -> 100 sent, then every read failed and
201 never arrived. Now: no crash, every readable rating arrives once, the damaged file is kept, and
what was lost is counted and reported.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import chain
from tests.integration.test_kiosk_uplink import Subscriber
from tests.servers import free_port
from tests.unit.test_kiosk_outbox import damage

pytestmark = pytest.mark.mosquitto
SITE, DEVICE = "ubnd-xa-vung-cao", "quay-1"
TAPS = 300


def simulate(cfg: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "simulate", "--config", str(cfg), *args],
                          cwd=workdir, capture_output=True, text=True, timeout=120,
                          env={**chain._env(), "PYTHONPATH": str(chain.ROOT)})


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chain_up(request, mosquitto, tmp_path_factory):
    """A collector on each database in turn; its kiosks' device ids end in the database's name (the
    broker is shared, and a retained status of the other run's kiosk must not reach this database)."""
    backend = request.param
    work = tmp_path_factory.mktemp("collector")
    if backend == "postgres":
        db_url = request.getfixturevalue("postgres_server").fresh_database(f"outbox_damage_{free_port()}")
    else:
        db_url = f"sqlite:///{work / 'ratings.db'}"
    collector = chain.start_collector(work, mosquitto.port, db_url, client_id=f"damage-{backend}")
    chain.wait_subscribed(mosquitto.port, db_url)
    watcher = Subscriber(mosquitto.port, f"hailong/v1/{SITE}/+/rating", f"damage-watch-{backend}")  # every copy
    yield db_url, watcher, collector, backend
    watcher.close()
    collector.stop()


def audit_of(work: Path, db_url: str, device: str) -> dict:
    """``collector audit`` as a manager runs it, for one device of this year."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    cfg = work / "audit.yaml"
    cfg.write_text(f"kind: collector\ndatabase: {{url: '{db_url}'}}\n", encoding="utf-8")
    year = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).year
    out = subprocess.run([sys.executable, "-m", "collector", "audit", "--config", str(cfg), "--period", str(year),
                          "--site", SITE, "--format", "json"], cwd=work, capture_output=True, text=True, timeout=60,
                         env={**chain._env(), "PYTHONPATH": str(chain.ROOT)})
    assert out.returncode in (0, 1), out.stderr
    found = [d for d in json.loads(out.stdout)["devices"] if d["device"] == device]
    assert len(found) == 1, out.stdout
    return found[0] | {"exit": out.returncode}


@pytest.mark.parametrize("how", ["half", "header", "middle", "zero", "deleted"])
def test_a_damaged_outbox_starts_and_delivers_every_readable_rating_once(how, chain_up, mosquitto, tmp_path):
    db_url, watcher, collector, backend = chain_up
    device = f"{DEVICE}-{how}-{backend}"
    cfg = chain.kiosk_config(tmp_path, SITE, device, mosquitto.port)
    outbox = tmp_path / f"outbox-{SITE}-{device}.db"
    # 300 taps while the broker cannot be reached, then a clean stop
    first = simulate(cfg, tmp_path, "--count", str(TAPS), "--rate", "0", "--journal", "--no-wait",
                     "--mqtt-url", f"mqtt://127.0.0.1:{free_port()}")
    assert first.returncode == 0, first.stdout + first.stderr
    conn = sqlite3.connect(outbox)
    made = [r[0] for r in conn.execute("SELECT id FROM outbox ORDER BY seq")]
    conn.close()
    assert len(made) == TAPS
    if how == "deleted":  # what a failing card or a careless clean-up leaves: no file at all
        outbox.unlink()
        for extra in (outbox.with_name(outbox.name + "-wal"), outbox.with_name(outbox.name + "-shm")):
            extra.unlink(missing_ok=True)
    else:
        damage(outbox, how)

    second = simulate(cfg, tmp_path, "--count", "0", "--mqtt-url", mosquitto.url)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out  # no crash: it started, drained what it had and stopped
    assert "simulate: done" in out

    reports = list(tmp_path.glob(f"{outbox.name}.corrupt-*.report.json"))
    if how in ("zero", "deleted"):
        assert not reports and "missing or empty" in out and "300 waiting ratings" in out
        body = json.loads(sqlite3.connect(outbox).execute("SELECT body FROM reports").fetchone()[0])
        assert body["at_last_stop"] == TAPS and body["previous_epoch"]
        salvaged: set[str] = set()
    else:
        assert len(reports) == 1, out
        report = json.loads(reports[0].read_text())
        assert Path(report["moved_to"]).exists()  # the damaged file is kept for recovery
        assert "was corrupt" in out
        box = sqlite3.connect(outbox)  # the new outbox's journal: what the salvage copied
        salvaged = {r[0] for r in box.execute("SELECT id FROM journal")} & set(made)
        box.close()
        assert report["salvaged"] + report["unreadable"] == TAPS
        assert report["salvaged"] <= len(salvaged) or how != "header"
        if how == "header":
            assert report["unreadable"] == 0  # a broken header loses nothing
        assert report["salvaged"] >= 50
    # every salvaged rating stored once, in tap order on the wire; nothing else from this kiosk
    ours = set(made)
    if salvaged or how not in ("zero", "deleted"):
        assert chain.wait_for(lambda: len(set(chain.stored_ids(db_url)) & ours) == report["salvaged"], 20), \
            collector.tail()
    chain.wait_for(lambda: False, 1.0)  # anything sent twice would arrive now
    stored = [i for i in chain.stored_ids(db_url) if i in ours]
    assert len(stored) == len(set(stored))
    if how == "header":
        assert sorted(stored) == sorted(made)
    arrived = [i for i in (json.loads(p)["id"] for _, p, _ in watcher.messages) if i in ours]
    assert sorted(arrived) == sorted(stored), "a rating went out twice, or one stored was never sent"
    assert arrived == [i for i in made if i in set(arrived)]  # oldest first
    # the manager's audit counts what the kiosk lost: the old outbox numbered TAPS messages, and what never
    # arrived is missing (it was blind to a lost outbox: 0 missing, exit 0)
    lost = TAPS - len(set(stored))
    assert chain.wait_for(lambda: audit_of(tmp_path, db_url, device)["missing"] == lost, 20), \
        audit_of(tmp_path, db_url, device)
    audit = audit_of(tmp_path, db_url, device)
    assert audit["created"] - audit["received"] == lost  # (the exit code speaks for every kiosk of the module)
    assert len(audit["epoch_changes"]) == 1, audit  # "outbox replaced on ..."
    if lost:
        assert sum(r["last"] - r["first"] + 1 for r in audit["missing_ranges"]) == lost


def test_a_changed_outbox_path_leaves_no_rating_behind(chain_up, mosquitto, tmp_path):
    """A push (or a technician) changes outbox.path while ratings wait in the old file: the kiosk takes
    them into the new outbox at its next start, each arrives once, and the old file is kept aside."""
    db_url, _watcher, collector, backend = chain_up
    device = f"{DEVICE}-moved-{backend}"
    cfg = chain.kiosk_config(tmp_path, SITE, device, mosquitto.port)
    first = simulate(cfg, tmp_path, "--count", "40", "--rate", "0", "--journal", "--no-wait",
                     "--mqtt-url", f"mqtt://127.0.0.1:{free_port()}")  # offline: all 40 wait
    assert first.returncode == 0, first.stdout + first.stderr
    old = tmp_path / f"outbox-{SITE}-{device}.db"
    made = [r[0] for r in sqlite3.connect(old).execute("SELECT id FROM outbox ORDER BY seq")]
    assert len(made) == 40
    (tmp_path / "moved").mkdir()
    cfg.write_text(cfg.read_text().replace(f"outbox: {{path: outbox-{SITE}-{device}.db}}",
                                           "outbox: {path: moved/outbox.db}"))
    second = simulate(cfg, tmp_path, "--count", "0", "--mqtt-url", mosquitto.url)
    out = second.stdout + second.stderr
    assert second.returncode == 0 and "the outbox moved with its 40 waiting messages" in out, out
    assert not old.exists() and (tmp_path / "moved" / "outbox.db").exists()
    assert chain.wait_for(lambda: sorted(set(chain.stored_ids(db_url)) & set(made)) == sorted(made), 20), \
        collector.tail()
    audit = audit_of(tmp_path, db_url, device)
    assert audit["missing"] == 0 and audit["created"] == 40 and audit["epoch_changes"] == [], audit  # one outbox


def test_an_outbox_path_onto_a_used_outbox_takes_its_messages_in(tmp_path):
    """The new path already holds an outbox: the old one's waiting messages are taken into it, with
    their own numbering, once, and the old file is kept aside."""
    from kiosk.outbox import Outbox
    from kiosk.outbox_move import carry_over

    a, b, cfg = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "kiosk.yaml"
    carry_over(cfg, a)
    old = Outbox(a)
    for i in range(5):
        old.add(lambda epoch, seq: json.dumps({"v": 2, "epoch": epoch, "seq": seq}).encode(), "t", id=f"a{i}")
    old_epoch = old.epoch
    old.close()
    new = Outbox(b)
    new.add(lambda epoch, seq: json.dumps({"v": 2, "epoch": epoch, "seq": seq}).encode(), "t", id="b0")
    new.close()
    assert carry_over(cfg, b) == 5 and carry_over(cfg, b) is None  # once
    box = Outbox(b)
    assert box.ids() == ["b0", "a0", "a1", "a2", "a3", "a4"]
    assert box.receipt([(old_epoch, [(1, 5)])]) == 5 and box.ids() == ["b0"]
    box.close()
    assert not a.exists() and list(tmp_path.glob("a.db.moved-*"))

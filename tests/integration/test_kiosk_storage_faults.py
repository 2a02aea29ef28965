"""The outbox on a disk that fills up or turns read-only, with the real flow, outbox, uplink, a real
Mosquitto and a real collector. The filesystems are real: a 2 MB tmpfs filled by a file, and an ext4
image mounted with errors=remount-ro and forced read-only through ext4's own error trigger, as a dying
SD card is. (Without permission to mount, the same faults are injected at the SQL call in
tests/unit/test_kiosk_outbox.py.)

Was: disk full -> the tap crashed the app ("cannot rollback - no transaction is active"), and with the
broker up a failing delete made the uplink resend in a loop (4,587 copies of 146 ratings in 20 s);
read-only -> every tap crashed the app, on every restart.
"""
from __future__ import annotations

import errno
import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from broker.contract import rating_topic
from kiosk.flow import Flow
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.e2e import chain
from tests.integration.test_kiosk_uplink import Subscriber, kiosk_cfg

pytestmark = pytest.mark.mosquitto
SITE, DEVICE = "site-a", "quay-01"
TOPIC = rating_topic(SITE, DEVICE)


def _mount(*args: str) -> None:
    p = subprocess.run(["mount", *args], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount here ({p.stderr.strip()}): the injected faults of test_kiosk_outbox.py cover it")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs: small enough to fill in a moment."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def sd_card(tmp_path):
    """An ext4 image that the kernel remounts read-only on its first error, as it does a failing card."""
    img, mnt = tmp_path / "sd.img", tmp_path / "sd"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(16 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", str(img)], check=True)
    _mount("-o", "loop,errors=remount-ro", str(img), str(mnt))
    dev = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(mnt)], capture_output=True, text=True).stdout.strip()
    trigger = Path("/sys/fs/ext4") / Path(dev).name / "trigger_fs_error"

    def fail() -> None:
        trigger.write_text("simulated card failure\n")
        options = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", str(mnt)], capture_output=True, text=True).stdout
        assert options.startswith("ro") or "emergency_ro" in options, options

    yield mnt, fail
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk says ENOSPC."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


class Kiosk:
    """The real flow, outbox and uplink, tapping as the app does (the sink commits before thanks)."""

    def __init__(self, cfg, outbox_path: Path):
        self.outbox = Outbox(outbox_path)
        self.flow = Flow(cfg, lambda r: self.outbox.add(r, TOPIC))
        self.uplink = Uplink(cfg, self.outbox).start()
        self.t = 0.0
        self.made: list[str] = []
        self.held: list[str] = []  # taps the disk refused (the app shows "out of order" for them)

    def tap(self) -> None:
        self.t += 10
        rating = self.flow.tap_face(5, self.t)  # never raises, whatever the disk does
        self.made.append(rating.id)
        if self.outbox.fault:
            self.held.append(rating.id)
        self.flow.tick(self.t + 5)

    def close(self) -> None:
        self.uplink.stop()
        self.outbox.close()


def received(sub: Subscriber) -> Counter:
    return Counter(json.loads(p)["id"] for _, p, _ in sub.messages)


@pytest.fixture
def collector(mosquitto, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    proc = chain.start_collector(tmp_path, mosquitto.port, db_url, client_id=f"col-{tmp_path.name}"[:60])
    chain.wait_subscribed(mosquitto.port, db_url)
    yield db_url, proc
    proc.stop()


def test_a_full_disk_holds_taps_in_memory_sends_them_once_and_heals(small_disk, mosquitto, collector):
    db_url, proc = collector
    sub = Subscriber(mosquitto.port, TOPIC, client_id=f"sub-{small_disk.parent.name}"[:60])
    kiosk = Kiosk(kiosk_cfg(mosquitto.port), small_disk / "outbox.db")
    try:
        for _ in range(20):
            kiosk.tap()
        assert kiosk.outbox.fault is None
        assert chain.wait_for(lambda: kiosk.outbox.depth() == 0, 10, interval=0.1)
        filler = fill(small_disk)
        for _ in range(400):  # until the disk refuses (the WAL may still have room for a few)
            kiosk.tap()
            if len(kiosk.held) >= 30:
                break
            time.sleep(0.005)
        assert kiosk.outbox.fault == "disk full", kiosk.outbox.fault_detail
        # with the broker up, held taps go straight out; the disk cannot delete what was acknowledged,
        # and the uplink must not send it again and again
        time.sleep(4)
        copies = received(sub)
        assert set(kiosk.made) <= set(copies), "a tap held in memory did not reach the broker"
        assert max(copies.values()) == 1, f"{sum(copies.values())} copies of {len(copies)} ratings"
        assert kiosk.outbox.fault == "disk full" and kiosk.uplink.fault == "disk full"
        filler.unlink()  # space returns: the kiosk heals by itself
        assert chain.wait_for(lambda: kiosk.outbox.fault is None, 10, interval=0.2)
        for _ in range(10):
            kiosk.tap()
        assert kiosk.outbox.fault is None and kiosk.outbox.memory == []
        assert chain.wait_for(lambda: kiosk.outbox.depth() == 0, 10, interval=0.2)
        assert chain.wait_for(lambda: set(chain.stored_ids(db_url)) >= set(kiosk.made), 15), proc.tail()
        time.sleep(1)
        stored = chain.stored_ids(db_url)
        assert len(stored) == len(set(stored)) == len(kiosk.made)
        assert max(received(sub).values()) == 1
    finally:
        kiosk.close()
        sub.close()


def test_a_card_turned_read_only_loses_no_tap_and_a_restart_still_starts(sd_card, mosquitto, collector, tmp_path):
    mnt, fail = sd_card
    db_url, proc = collector
    sub = Subscriber(mosquitto.port, TOPIC, client_id=f"sub-{tmp_path.name}"[:60])
    kiosk = Kiosk(kiosk_cfg(mosquitto.port), mnt / "outbox.db")
    made = []
    try:
        for _ in range(10):
            kiosk.tap()
        assert chain.wait_for(lambda: kiosk.outbox.depth() == 0, 10, interval=0.1)
        fail()
        for _ in range(10):
            kiosk.tap()
        assert kiosk.outbox.fault == "read-only", kiosk.outbox.fault_detail
        assert len(kiosk.held) == 10
        assert chain.wait_for(lambda: set(kiosk.made) <= set(received(sub)), 10), "held taps not sent"
        made += kiosk.made
        kiosk.close()
        # a restart on the read-only card (was: every tap crashed, on every restart)
        kiosk = Kiosk(kiosk_cfg(mosquitto.port), mnt / "outbox.db")
        assert kiosk.outbox.fault == "read-only" and kiosk.uplink.fault == "read-only"
        for _ in range(5):
            kiosk.tap()
        assert len(kiosk.held) == 5
        made += kiosk.made
        assert chain.wait_for(lambda: set(made) <= set(received(sub)), 10)
        assert chain.wait_for(lambda: set(chain.stored_ids(db_url)) >= set(made), 15), proc.tail()
        time.sleep(1)
        stored = chain.stored_ids(db_url)
        assert len(stored) == len(set(stored)) == len(made)
        assert max(received(sub).values()) == 1
    finally:
        kiosk.close()
        sub.close()

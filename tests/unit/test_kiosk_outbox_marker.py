"""The marker beside the outbox knows how far its numbering went without a clean stop, and a lost
outbox's event carries it to the collector."""
import json

from broker.contract import Event, decode
from kiosk import outbox as outbox_mod
from kiosk.outbox import Outbox
from kiosk.storage import read_marker
from kiosk.uplink import lost_fields


def test_the_marker_learns_the_last_seq_while_running(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox_mod, "MARKER_EVERY_S", 0.0)
    box = Outbox(tmp_path / "o.db")
    for i in range(7):
        box.add(lambda epoch, seq, i=i: json.dumps({"v": 2, "epoch": epoch, "seq": seq}).encode(), "t", id=f"id-{i}")
    # no close(): a power cut; the marker already says 7
    assert read_marker(tmp_path / "o.db")["seq_last"] == 7


def test_a_vanished_outbox_reports_the_epoch_and_seq_it_had_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox_mod, "MARKER_EVERY_S", 0.0)
    box = Outbox(tmp_path / "o.db")
    old = box.epoch
    for i in range(5):
        box.add(lambda epoch, seq, i=i: json.dumps({"v": 2, "epoch": epoch, "seq": seq}).encode(), "t", id=f"id-{i}")
    box._close_all()  # the process dies; then the card loses the file
    (tmp_path / "o.db").unlink()
    for extra in ("o.db-wal", "o.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    again = Outbox(tmp_path / "o.db")
    (_n, _kind, body), = again.reports()
    assert lost_fields(body) == {"lost_epoch": old, "lost_seq_last": 5, "lost": None}
    assert again.epoch != old


def test_lost_fields_travel_in_a_valid_event():
    body = {"previous_epoch": "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5a", "new_epoch": "x", "moved_to": "/p",
            "seq_last": 300, "unreadable": 178}
    ev = Event(id="7d3c1f0e-2b4a-4e8f-9c1d-5a6b7c8d9e0f", site="a", device="b", ts="2026-12-07T10:00:00Z",
               epoch="1d3c1f0e-2b4a-4e8f-9c1d-5a6b7c8d9e0f", seq=1, boot="b", mono_ms=1, clock="synced",
               type="outbox_salvaged", **lost_fields(body))
    back = decode("hailong/v1/a/b/event", ev.encode())
    assert (back.lost_epoch, back.lost_seq_last, back.lost) == (body["previous_epoch"], 300, 178)

"""A collector's receipt deletes from the kiosk's outbox exactly the rows it names (its epoch, its seq
ranges), and what waits for a receipt is counted until then."""
from __future__ import annotations

import json

from kiosk.outbox import Outbox


def numbered(epoch: str, seq: int) -> bytes:
    return json.dumps({"v": 2, "epoch": epoch, "seq": seq}).encode()


def test_a_receipt_deletes_only_the_rows_of_its_epoch_and_ranges(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    try:
        for i in range(1, 7):
            box.add(numbered, "t", id=f"r{i}")
        assert box.receipt([("00000000-0000-0000-0000-000000000000", [(1, 6)])]) == 0  # another outbox's
        assert box.receipt([(box.epoch, [(2, 3), (5, 5)])]) == 3
        assert box.ids() == ["r1", "r4", "r6"] and box.depth() == 3
        assert box.receipt([]) == 0 and box.receipt_epochs() == {box.epoch}
    finally:
        box.close()


def test_an_acknowledged_row_waits_until_its_receipt_and_the_receipt_remembers_the_acknowledgement(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    try:
        for i in range(1, 4):
            box.add(numbered, "t", id=f"r{i}")
        assert box.mark_acknowledged(["r1", "r2"], 1000) and box.waiting()[0] == 2
        assert box.receipt([(box.epoch, [(1, 1)])]) == 1
        assert box.waiting()[0] == 1 and box.ids() == ["r2", "r3"] and box.last_receipted_sent == 1000
    finally:
        box.close()

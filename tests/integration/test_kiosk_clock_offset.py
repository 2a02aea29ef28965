"""A kiosk without NTP learns how wrong its clock is from the collector's time signal (contract v2)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kiosk.clock import KioskClock
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.e2e import chain
from tests.integration.test_kiosk_uplink import kiosk_cfg, wait_for

pytestmark = pytest.mark.mosquitto


def test_the_kiosk_hears_the_collectors_time_and_knows_its_clock_is_3_hours_behind(mosquitto, tmp_path):
    behind = lambda: datetime.now(timezone.utc) - timedelta(hours=3)  # noqa: E731
    up = Uplink(kiosk_cfg(mosquitto.port), Outbox(tmp_path / "outbox.db"), wire_v2=True,
                clock=KioskClock(boot="b1", utc=behind, synced=lambda: False)).start()
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = chain.start_collector(tmp_path, mosquitto.port, db_url, client_id="time-collector")
    try:
        assert wait_for(lambda: up.clock_offset_s is not None, 20), collector.tail()
        assert 3 * 3600 - 5 < up.clock_offset_s < 3 * 3600 + 5
    finally:
        collector.stop()
        up.stop()

"""Soak: a collector's memory stays bounded over 1,000,000 ratings, a kiosk's over 10,000 taps."""
from __future__ import annotations

import pytest

from tests.bench import soak


@pytest.mark.slow
def test_memory_stays_bounded_over_a_million_ratings_and_ten_thousand_taps(tmp_path, capsys):
    result = soak.soak_collector(tmp_path, 1_000_000)
    result.update(soak.soak_kiosk(tmp_path, 10_000))
    with capsys.disabled():
        print("\nSOAK " + " ".join(f"{k}={v}" for k, v in result.items()))
    assert result["stored"] == 1_000_000 and result["kiosk_taps"] == 10_000
    # Bounded: after the first tenth, memory may settle but must not keep growing with the stream.
    assert result["collector_peak_rss_mb"] <= result["collector_rss_first10pct_mb"] + 64, result
    assert result["collector_peak_rss_mb"] < 300, result
    assert result["kiosk_peak_rss_mb"] <= result["kiosk_rss_first10pct_mb"] + 20, result

"""Two kiosks with one device id are told apart from a kiosk that restarts."""
from collector.ingest.clones import CLEAR_AFTER_MS, BootTrack, follow, shared

M = 60_000


def test_a_restart_is_not_a_second_kiosk():
    t = follow(BootTrack(), [("a", 0), ("a", M), ("b", 2 * M), ("b", 3 * M), ("c", 60 * M)])
    assert not shared(t, 61 * M) and t.flips == 0 and t.boot == "c"


def test_two_kiosks_taking_turns_are_flagged_within_a_minute_and_cleared_after_an_hour_of_quiet():
    seen = [("a", 0), ("b", 10_000), ("a", 20_000), ("b", 30_000)]
    t = follow(BootTrack(), seen)
    assert shared(t, 30_000) and t.shared_since_ms == 20_000 and t.flips == 2
    # the copy is switched off: only "a" from now on
    t = follow(t, [("a", 40_000), ("a", 90 * M)])
    assert shared(t, 40_000) and not shared(t, 40_000 + CLEAR_AFTER_MS + 1)


def test_the_flag_carries_across_batches():
    t = follow(BootTrack(), [("a", 0), ("b", 5_000)])
    assert not shared(t, 5_000)
    t = follow(t, [("a", 9_000)])  # the next batch
    assert shared(t, 9_000)


T0 = 1_796_000_000_000  # a real receive time (ms since 1970): sums and differences of such are not alike


def test_statuses_repeat_within_each_turn_and_real_times_still_flag_the_pair():
    seen = [("a", T0), ("a", T0 + 2_000), ("b", T0 + 5_000), ("b", T0 + 7_000), ("a", T0 + 9_000)]
    t = follow(BootTrack(), seen)
    assert shared(t, T0 + 9_000) and t.shared_since_ms == T0 + 9_000
    assert shared(t, T0 + 9_000 + CLEAR_AFTER_MS) and not shared(t, T0 + 9_001 + CLEAR_AFTER_MS)


def test_two_restarts_in_a_few_minutes_are_not_two_kiosks():
    t = follow(BootTrack(), [("a", T0), ("b", T0 + M), ("c", T0 + 2 * M), ("c", T0 + 3 * M)])
    assert not shared(t, T0 + 3 * M) and t.flips == 0


def test_a_boot_coming_back_after_the_window_is_not_a_flip():
    t = follow(BootTrack(), [("a", T0), ("b", T0 + M), ("a", T0 + 12 * M)])
    assert not shared(t, T0 + 12 * M)

"""Two kiosks with one device id are told apart from a kiosk that restarts."""
from collector.clones import CLEAR_AFTER_MS, BootTrack, follow, shared

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

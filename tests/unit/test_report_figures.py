"""Report figures of the sample (tests/unit/test_report_data.py) against numbers worked out by hand.

Score of one rating = (rating-1)/(scale-1)*100: 5/5 -> 100, 4/5 -> 75, 3/5 -> 50, 2/5 -> 25, 1/5 -> 0, 3/3 -> 100.
October 2026 in local time holds ratings 1,2,3,4,6,7,8,9 (5 is on 1 Nov local, 10 on 30 Sep local); 7 is flagged.
"""
import pytest

from collector.reports.hierarchy import Hierarchy
from collector.reports.report import aggregate, date_range, parse_period
from tests.unit.test_report_data import CONFIG, rollup_rows

TZ = CONFIG.timezone
H = Hierarchy.from_config(CONFIG.sites)


def report(by, period="2026-10", include_flagged=False, lang="vi"):
    p = parse_period(period, TZ) if isinstance(period, str) else period
    rows = [r for r in rollup_rows() if p.start_ms <= r.start_ms < p.end_ms]  # what the SQL filter does
    return aggregate(rows, by, satisfied=CONFIG.satisfied, tz=TZ, hierarchy=H, include_flagged=include_flagged,
                     lang=lang)


def figures(rows):
    return [(r.group, r.count, r.satisfied_rate, r.mean_score, r.flagged) for r in rows]


def test_month_total_leaves_flagged_out_but_counts_it():
    # 1,2,3,4,6,8,9: satisfied 1,2,6,9 -> 4/7; scores 100+75+0+25+100+50+100 = 450 -> 450/7 = 64.29
    (total,) = report(None)
    assert (total.count, total.satisfied, total.satisfied_rate, total.mean_score, total.flagged) == \
        (7, 4, 0.5714, 64.3, 1)
    assert total.level_dict() == {"1/5": 1, "2/5": 1, "3/5": 1, "4/5": 1, "5/5": 2, "3/3": 1}


def test_include_flagged_adds_the_repeat_press_to_the_figures():
    # + rating 7 (1/5, score 0): 4/8 satisfied; 450/8 = 56.25, rounded half-even to 56.2
    (total,) = report(None, include_flagged=True)
    assert (total.count, total.satisfied_rate, total.mean_score, total.flagged) == (8, 0.5, 56.2, 1)
    assert total.levels[(5, 1)] == 2


def test_by_centre_maps_the_merged_commune_onto_its_new_centre():
    # s-new: 1,2,3 + s-old's 4 -> 2/4, (100+75+0+25)/4 = 50; s-two: 6,9 -> 2/2, 100; s-x on its own slug
    rows = report("centre")
    assert figures(rows) == [("s-new", 4, 0.5, 50.0, 1), ("s-two", 2, 1.0, 100.0, 0), ("s-x", 1, 0.0, 50.0, 0)]
    assert [r.name for r in rows] == ["Trung tâm Mới", "Trung tâm Hai", "s-x"]


def test_by_site_keeps_the_stored_slugs():
    assert figures(report("site")) == [("s-new", 3, 0.6667, 58.3, 1), ("s-old", 1, 0.0, 25.0, 0),
                                       ("s-two", 2, 1.0, 100.0, 0), ("s-x", 1, 0.0, 50.0, 0)]


def test_by_province_and_commune():
    # p1: 1,2,3,4,6,9 -> 4/6, (100+75+0+25+100+100)/6 = 66.67
    assert figures(report("province")) == [("p1", 6, 0.6667, 66.7, 1), ("s-x", 1, 0.0, 50.0, 0)]
    assert figures(report("commune")) == [("c1", 4, 0.5, 50.0, 1), ("c2", 2, 1.0, 100.0, 0), ("s-x", 1, 0.0, 50.0, 0)]
    assert [r.name for r in report("province")] == ["Tỉnh Một", "s-x"]


def test_by_counter_and_by_device():
    counters = report("counter")
    assert figures(counters) == [("s-new/d1", 4, 0.5, 50.0, 1), ("s-two/d1", 2, 1.0, 100.0, 0),
                                 ("s-x/d9", 1, 0.0, 50.0, 0)]
    assert counters[0].name == "Quầy 1 (Trung tâm Mới)"
    devices = report("device")
    assert figures(devices) == [("s-new/d1", 3, 0.6667, 58.3, 1), ("s-old/d1", 1, 0.0, 25.0, 0),
                                ("s-two/d1", 2, 1.0, 100.0, 0), ("s-x/d9", 1, 0.0, 50.0, 0)]
    assert [d.name for d in devices] == ["Quầy 1", "Quầy 1", "Quầy A", "s-x/d9"]


def test_by_officer_service_reason():
    # '' = 6 (3/3 sat) and 8 (3/5): 1/2, (100+50)/2; An = 1,2; Binh = 3,4 (+7 flagged); Chi = 9
    assert figures(report("officer")) == [("", 2, 0.5, 75.0, 0), ("An", 2, 1.0, 87.5, 0),
                                          ("Binh", 2, 0.0, 12.5, 1), ("Chi", 1, 1.0, 100.0, 0)]
    assert report("officer")[0].name == "(không ghi)"
    assert report("officer", lang="en")[0].name == "(none)"
    # ho-tich = 1,2,6,9: (100+75+100+100)/4 = 93.75 -> 93.8
    assert figures(report("service")) == [("", 1, 0.0, 50.0, 0), ("dat-dai", 2, 0.0, 12.5, 1),
                                          ("ho-tich", 4, 1.0, 93.8, 0)]
    # '' = 1,2,6,8,9 (+7 flagged, which gave no reason)
    assert figures(report("reason")) == [("", 5, 0.8, 85.0, 1), ("rude", 1, 0.0, 25.0, 0),
                                         ("slow", 1, 0.0, 0.0, 0)]


def test_by_day_counts_local_days():
    # 9 was tapped 17:30 UTC on 30 Sep = 00:30 on 1 Oct local: 1 Oct = 1,2,3,9 -> 3/4, 275/4 = 68.75
    assert figures(report("day")) == [("2026-10-01", 4, 0.75, 68.8, 1), ("2026-10-05", 1, 0.0, 25.0, 0),
                                      ("2026-10-10", 1, 0.0, 50.0, 0), ("2026-10-31", 1, 1.0, 100.0, 0)]


def test_a_rating_at_2330_utc_counts_on_the_next_local_day():
    # 5 is 23:30 UTC on 31 Oct = 06:30 on 1 Nov local; 6 is 16:30 UTC = 23:30 on 31 Oct local
    rows = report("day", period=date_range(parse_date("2026-10-31"), parse_date("2026-11-01"), TZ))
    assert figures(rows) == [("2026-10-31", 1, 1.0, 100.0, 0), ("2026-11-01", 1, 1.0, 75.0, 0)]


def parse_date(text):
    from datetime import date
    return date.fromisoformat(text)


def test_by_week_month_hour_weekday():
    assert figures(report("week")) == [("2026-W40", 4, 0.75, 68.8, 1), ("2026-W41", 2, 0.0, 37.5, 0),
                                       ("2026-W44", 1, 1.0, 100.0, 0)]
    # Q4 includes 5 (November local) but not 10 (30 Sep local)
    assert figures(report("month", period="2026-Q4")) == [("2026-10", 7, 0.5714, 64.3, 1),
                                                          ("2026-11", 1, 1.0, 75.0, 0)]
    # local hours: 9 -> 00, 4 -> 08, 1 -> 09, 2,3 (+7) -> 10, 8 -> 12, 6 -> 23
    assert figures(report("hour")) == [("00", 1, 1.0, 100.0, 0), ("08", 1, 0.0, 25.0, 0), ("09", 1, 1.0, 100.0, 0),
                                       ("10", 2, 0.5, 37.5, 1), ("12", 1, 0.0, 50.0, 0), ("23", 1, 1.0, 100.0, 0)]
    # Thursday 1 Oct: 1,2,3,9; Monday 5 Oct: 4; Saturdays 10 and 31 Oct: 8 and 6
    weekdays = report("weekday")
    assert figures(weekdays) == [("1", 1, 0.0, 25.0, 0), ("4", 4, 0.75, 68.8, 1), ("6", 2, 0.5, 75.0, 0)]
    assert [w.name for w in weekdays] == ["Thứ Hai", "Thứ Năm", "Thứ Bảy"]


def test_periods_are_local_time_boundaries():
    oct_ = parse_period("2026-10", TZ)
    assert oct_.start.isoformat() == "2026-10-01T00:00:00+07:00"
    assert oct_.start_ms == 1_790_787_600_000  # 2026-09-30T17:00:00Z
    q4 = parse_period("2026-Q4", TZ)
    assert (q4.start.isoformat(), q4.end.isoformat()) == ("2026-10-01T00:00:00+07:00", "2027-01-01T00:00:00+07:00")
    assert [figures(report(None, period=p))[0][1] for p in ("2026-09", "2026-10", "2026-11", "2026-Q3", "2026-Q4")] \
        == [1, 7, 1, 1, 8]
    for bad in ("2026-13", "2026-Q5", "Oct 2026", "26-10"):
        with pytest.raises(ValueError, match="not a month"):
            parse_period(bad, TZ)


def test_a_group_whose_ratings_were_all_flagged_still_shows_its_flagged_count():
    rows = [r for r in rollup_rows() if r.flagged]
    (only,) = aggregate(rows, "site", satisfied=CONFIG.satisfied, tz=TZ, hierarchy=H)
    assert (only.group, only.count, only.satisfied_rate, only.mean_score, only.flagged) == ("s-new", 0, None, None, 1)


def test_unknown_grouping_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose one of site, device"):
        aggregate([], "colour", satisfied=CONFIG.satisfied, tz=TZ)


def test_combining_groups_gives_the_total():
    from collector.reports.report import combine
    total = combine(report("centre"))
    assert (total.count, total.satisfied_rate, total.mean_score, total.flagged) == (7, 0.5714, 64.3, 1)


def test_reasons_officers_and_services_show_their_configured_names():
    from config.collector import CollectorConfig

    labels = CollectorConfig.model_validate({"labels": {
        "reasons": {"slow": {"vi": "Chờ đợi lâu", "en": "Long waiting time"}, "rude": "Thái độ"},
        "services": {"ho-tich": {"vi": "Hộ tịch", "en": "Civil status"}}}}).labels
    named = Hierarchy.from_config(CONFIG.sites, labels)
    rows = rollup_rows()
    by_reason = aggregate(rows, "reason", satisfied=CONFIG.satisfied, tz=TZ, hierarchy=named)
    assert [(r.group, r.name) for r in by_reason] == [("", "(không ghi)"), ("rude", "Thái độ"), ("slow", "Chờ đợi lâu")]
    by_reason_en = aggregate(rows, "reason", satisfied=CONFIG.satisfied, tz=TZ, hierarchy=named, lang="en")
    assert [r.name for r in by_reason_en][2] == "Long waiting time"
    by_service = aggregate(rows, "service", satisfied=CONFIG.satisfied, tz=TZ, hierarchy=named, lang="en")
    assert [(r.group, r.name) for r in by_service] == [("", "(none)"), ("dat-dai", "dat-dai"), ("ho-tich", "Civil status")]

"""Reports from a real database: SQLite and PostgreSQL give the same figures as the hand-checked pure ones,
the CLI prints them, and CSV/XLSX files read back with the same numbers."""
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.reports import report_queries
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from collector.reports.privacy import hide_few_officers
from collector.reports.report import DIMENSIONS, aggregate, parse_period
from collector.reports.report_queries import ReportSpec, run_report
from tests.unit.test_report_data import CONFIG, load_into, rollup_rows

ROOT = Path(__file__).resolve().parents[2]
OCT = parse_period("2026-10", CONFIG.timezone)

CONFIG_YAML = """kind: collector
timezone: Asia/Ho_Chi_Minh
satisfied: {5: [4, 5], 3: [3]}
sites:
  - slug: p1
    name: "Tỉnh Một"
    communes:
      - slug: c1
        name: "Xã Một"
        centres:
          - site: s-new
            name: "Trung tâm Mới"
            merged_from: [s-old]
            counters: [{device: d1, name: "Quầy 1"}]
      - slug: c2
        name: "Xã Hai"
        centres:
          - site: s-two
            name: "Trung tâm Hai"
            counters: [{device: d1, name: "Quầy A"}]
"""


@pytest.fixture
def db(db_url):
    database = connect(db_url)
    load_into(database)
    yield database
    database.close()


def as_tuples(rows):
    return [(r.group, r.name, r.count, r.satisfied, r.flagged, r.satisfied_rate, r.mean_score, r.level_dict())
            for r in rows]


@pytest.mark.parametrize("include_flagged", [False, True])
def test_every_grouping_from_the_database_equals_the_pure_figures(db, include_flagged):
    h = Hierarchy.from_config(CONFIG.sites)
    in_oct = [r for r in rollup_rows() if OCT.start_ms <= r.start_ms < OCT.end_ms]
    for by in DIMENSIONS:
        got = run_report(db, CONFIG, ReportSpec(OCT, (by,), include_flagged=include_flagged), h)
        want = hide_few_officers(aggregate(in_oct, by, satisfied=CONFIG.satisfied, tz=CONFIG.timezone, hierarchy=h,
                                           include_flagged=include_flagged), (by,), CONFIG.evaluation.min_ratings)
        assert as_tuples(got) == as_tuples(want), by


def test_figures_from_the_database_match_the_hand_count(db):
    rows = run_report(db, CONFIG, ReportSpec(OCT, ("centre",)))
    assert [(r.group, r.count, r.satisfied_rate, r.mean_score, r.flagged) for r in rows] == \
        [("s-new", 4, 0.5, 50.0, 1), ("s-two", 2, 1.0, 100.0, 0), ("s-x", 1, 0.0, 50.0, 0)]
    # --site with a commune slug takes in its centre; the centre slug takes in the merged old site
    c1 = run_report(db, CONFIG, ReportSpec(OCT, ("site",), sites=["c1"]))
    assert [(r.group, r.count) for r in c1] == [("s-new", 3), ("s-old", 1)]


def test_a_zone_with_a_half_hour_offset_reads_the_ratings_table(db):
    india = CONFIG.model_copy(update={"timezone": "Asia/Kolkata"})
    period = parse_period("2026-10", india.timezone)  # starts 18:30 UTC on 30 Sep: not a whole UTC hour
    assert not report_queries.uses_rollup(india.timezone, period.start_ms, period.end_ms)
    rows = run_report(db, india, ReportSpec(period, ("day",)))
    # UTC+5:30: 9 (17:30 UTC 30 Sep) is 23:00 on 30 Sep, out; 6 (16:30 UTC 31 Oct) is 22:00 on 31 Oct, in
    assert [(r.group, r.count, r.satisfied_rate, r.mean_score, r.flagged) for r in rows] == [
        ("2026-10-01", 3, 0.6667, 58.3, 1), ("2026-10-05", 1, 0.0, 25.0, 0), ("2026-10-10", 1, 0.0, 50.0, 0),
        ("2026-10-31", 1, 1.0, 100.0, 0)]


def run_cli(tmp_path, db_url, *args):
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(CONFIG_YAML, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "collector", "report", "--config", str(cfg), "--db", db_url, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_cli_prints_json_csv_xlsx_and_a_vietnamese_table(db, db_url, tmp_path):
    out = run_cli(tmp_path, db_url, "--period", "2026-10", "--by", "counter", "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["period"]["label"], report["by"], report["total"]["count"]) == ("2026-10", "counter", 7)
    # rows written straight to the table carry no outbox sequence: nothing created, nothing missing
    assert report["completeness"]["created"] == 0 and report["completeness"]["missing"] == 0
    got = report["rows"]
    assert [(g["group"], g["count"], g["satisfied_rate"], g["mean_score"], g["flagged"]) for g in got] == \
        [("s-new/d1", 4, 0.5, 50.0, 1), ("s-two/d1", 2, 1.0, 100.0, 0), ("s-x/d9", 1, 0.0, 50.0, 0)]
    assert got[0]["levels"] == {"1/5": 1, "2/5": 1, "4/5": 1, "5/5": 1}
    assert got[0]["name"] == "Quầy 1 (Trung tâm Mới)"

    flagged_in = json.loads(run_cli(tmp_path, db_url, "--period", "2026-10", "--by", "counter", "--format", "json",
                                    "--include-flagged").stdout)["rows"]
    assert (flagged_in[0]["count"], flagged_in[0]["flagged"]) == (5, 1)

    table = run_cli(tmp_path, db_url, "--period", "2026-Q4", "--by", "month")
    assert table.returncode == 0, table.stderr
    assert "Tỷ lệ hài lòng" in table.stdout and "57.1 %" in table.stdout and "Tổng cộng" in table.stdout
    english = run_cli(tmp_path, db_url, "--period", "2026-Q4", "--by", "weekday", "--lang", "en")
    assert "Satisfied" in english.stdout and "Thursday" in english.stdout

    csv_file = tmp_path / "r.csv"
    assert run_cli(tmp_path, db_url, "--period", "2026-10", "--by", "officer", "--format", "csv",
                   "--output", str(csv_file)).returncode == 0
    lines = list(csv.reader(io.StringIO(csv_file.read_text(encoding="utf-8-sig"))))
    assert lines[0] == ["Mức độ hài lòng 2026-10 theo Cán bộ"]
    assert lines[1][:4] == ["Cán bộ", "Tên", "Số đánh giá", "Tỷ lệ hài lòng"]
    blank = lines.index([])  # the completeness table follows the figures
    assert lines[blank + 1][0].startswith("Độ đầy đủ: đã nhận 0/0") and lines[blank + 2][:2] == ["Bản tin đã tạo", "Đã nhận"]
    assert [line[:6] for line in lines[2:blank]] == [
        # officers below evaluation.min_ratings (5) keep a count, never a rate or a score (collector/reports/privacy.py);
        # ratings with no officer are nobody's
        ["", "(không ghi)", "2", "0.5", "75.0", "0"], ["An", "An", "2", "", "", "0"],
        ["Binh", "Binh", "2", "", "", "1"], ["Chi", "Chi", "1", "", "", "0"],
        ["Tổng cộng", "", "7", "0.5714", "64.3", "1"]]

    from openpyxl import load_workbook
    xlsx = tmp_path / "r.xlsx"
    assert run_cli(tmp_path, db_url, "--period", "2026-10", "--by", "centre", "--format", "xlsx",
                   "--output", str(xlsx)).returncode == 0
    sheet = load_workbook(xlsx).active
    values = [[c.value for c in row][:6] for row in sheet.iter_rows()]
    assert values[1] == ["s-new", "Trung tâm Mới", 4, 0.5, 50.0, 1]
    assert values[-1] == ["Tổng cộng", None, 7, 0.5714, 64.3, 1]


def test_cli_errors_are_one_clear_line(tmp_path, db_url):
    out = run_cli(tmp_path, db_url, "--period", "2026-13")
    assert out.returncode == 2 and "not a month (2026-10)" in out.stderr
    out = run_cli(tmp_path, db_url, "--format", "xlsx")
    assert out.returncode == 2 and "add --output" in out.stderr


def test_serve_without_a_password_says_how_to_set_it(tmp_path, capsys, monkeypatch):
    import argparse

    from collector.web import server
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(CONFIG_YAML, encoding="utf-8")
    args = argparse.Namespace(config=str(cfg), db=f"sqlite:///{tmp_path / 'x.db'}", host="127.0.0.1", port=0)
    assert server.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "password: {env: HAILONG_DASHBOARD_PASSWORD}" in err
    cfg.write_text(CONFIG_YAML + "dashboard: {password: {env: HL_TEST_DASH_PW}}\n", encoding="utf-8")
    monkeypatch.delenv("HL_TEST_DASH_PW", raising=False)
    assert server.main(args) == 2
    assert "environment variable HL_TEST_DASH_PW is not set" in capsys.readouterr().err


def test_the_text_report_counts_ratings_made_in_the_speaking_mode_of_its_site_and_period(db, db_url, tmp_path):
    ids = [i for (i,) in db.query("SELECT id FROM ratings WHERE site = 's-two' ORDER BY id")]
    assert ids, "the seeded data has ratings of s-two"
    with db.transaction():
        db.execute("UPDATE ratings SET mode = 'speaking' WHERE id = ?", (ids[0],))
    line = "Đánh giá bằng chế độ đọc / rated in the speaking mode: "
    assert line + "1\n" in run_cli(tmp_path, db_url, "--period", "2026-Q4", "--by", "site").stdout
    assert line + "1\n" in run_cli(tmp_path, db_url, "--period", "2026-Q4", "--by", "site", "--site", "c2").stdout
    assert line + "0\n" in run_cli(tmp_path, db_url, "--period", "2026-Q4", "--by", "site", "--site", "c1").stdout

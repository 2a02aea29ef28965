"""A test the README cites as evidence cannot be skipped quietly: under CI=true its skip fails the run,
elsewhere the run ends by naming it (tests/cited.py). Run on a small project of its own, in a child pytest."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cited import cited_files

ROOT = Path(__file__).resolve().parents[2]

PROJECT = {
    "README.md": "The disk-full behaviour is shown by `tests/test_disk.py`.\n",
    "tests/__init__.py": "",
    "tests/conftest.py": "from tests.cited import pytest_configure  # noqa: F401\n",
    "tests/cited.py": (ROOT / "tests" / "cited.py").read_text(encoding="utf-8"),
    "tests/test_disk.py": (
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def disk():\n"
        "    pytest.skip('cannot mount here')\n\n"
        "def test_a_full_disk_is_survived(disk):\n"
        "    pass\n\n"
        "def test_the_outbox_opens():\n"
        "    pass\n"),
    "tests/test_other.py": (
        "import pytest\n\n"
        "def test_not_cited_may_skip():\n"
        "    pytest.skip('not evidence')\n\n"
        "@pytest.mark.cited\n"
        "def test_marked_by_hand():\n"
        "    pytest.skip('no tool')\n"),
}


def run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    for name, text in PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "tests"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_outside_ci_a_skipped_cited_test_is_named_at_the_end_and_the_run_passes(tmp_path):
    out = run(tmp_path, None)
    assert out.returncode == 0, out.stdout
    assert "2 test(s) the README cites as evidence did not run" in out.stdout
    assert "SKIPPED tests/test_disk.py::test_a_full_disk_is_survived: cannot mount here" in out.stdout
    assert "SKIPPED tests/test_other.py::test_marked_by_hand: no tool" in out.stdout
    assert "PytestWarning: cited as evidence in the README, but skipped: cannot mount here" in out.stdout
    assert "test_not_cited_may_skip: not evidence" not in out.stdout.split("did not run")[1]


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_skipped_cited_test_fails_the_run(tmp_path, ci):
    out = run(tmp_path, ci)
    assert out.returncode == 1, out.stdout
    summary = out.stdout.split("short test summary info")[1]
    assert "ERROR tests/test_disk.py::test_a_full_disk_is_survived" in summary  # skipped in its fixture
    assert "FAILED tests/test_other.py::test_marked_by_hand" in summary
    # the control: a cited test that runs still passes, and an uncited skip is still only a skip
    assert "PASSED tests/test_disk.py::test_the_outbox_opens" in summary
    assert "SKIPPED [1] tests/test_other.py:4: not evidence" in summary


def test_ci_false_is_not_ci(tmp_path):
    out = run(tmp_path, "false")
    assert out.returncode == 0 and "SKIPPED tests/test_disk.py::test_a_full_disk_is_survived" in out.stdout


def test_every_test_file_the_readme_cites_exists_and_the_real_fault_tests_are_among_them():
    cited = cited_files(ROOT / "README.md")
    assert {"tests/integration/test_kiosk_storage_faults.py", "tests/ui/test_kiosk_faults_ui.py"} <= cited
    assert [f for f in sorted(cited) if not (ROOT / f).is_file()] == []

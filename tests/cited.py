"""Tests the README cites as evidence must run, or say loudly that they did not.

A test is *cited* when README.md names its file (``tests/.../test_x.py``) or it carries
``@pytest.mark.cited`` (for evidence cited elsewhere). When a cited test is skipped (a machine that may not
mount a disk image, a missing tool), the run:

- fails that test when ``CI`` is ``true`` (or ``1``, ``yes``) in the environment: the README promises
  what the test shows, and a CI run that did not show it must not pass;
- otherwise passes as before, but warns and ends with a section naming every cited test that did not
  run and why.

Loaded by tests/conftest.py; works with pytest-xdist (the verdict is made where the test runs and
carried in the report).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CITED_FILE = re.compile(r"\btests/[A-Za-z0-9_/]+\.py\b")
MARK_HELP = "cited: the README cites this test as evidence; a skip fails the run under CI=true and is reported otherwise"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def cited_files(readme: Path) -> set[str]:
    """The test files README.md names, as paths relative to the project root."""
    try:
        return set(CITED_FILE.findall(readme.read_text(encoding="utf-8")))
    except OSError:
        return set()


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class CitedSkips:
    """Marks the cited tests, turns their skips into failures under CI and lists them at the end otherwise."""

    def __init__(self, config: pytest.Config):
        self.root = Path(config.rootpath)
        self.skipped: list[tuple[str, str]] = []  # (node id, reason), as reported

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config, items):
        files = cited_files(self.root / "README.md")
        for item in items:
            try:
                rel = Path(item.path).resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                continue
            if rel in files:
                item.add_marker(pytest.mark.cited)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if not report.skipped or hasattr(report, "wasxfail") or item.get_closest_marker("cited") is None:
            return
        reason = _skip_reason(report)
        report.user_properties.append(("cited_skip", reason))
        if in_ci():
            report.outcome = "failed"
            report.longrepr = (f"{item.nodeid} is evidence the README cites, and it was skipped: {reason}\n"
                               "Under CI=true a skipped cited test fails the run: give the CI machine what the "
                               "test needs, or stop citing it.")
        else:
            item.warn(pytest.PytestWarning(f"cited as evidence in the README, but skipped: {reason}"))

    def pytest_runtest_logreport(self, report):
        for key, reason in report.user_properties:
            if key == "cited_skip":
                self.skipped.append((report.nodeid, reason))

    def pytest_terminal_summary(self, terminalreporter):
        if not self.skipped:
            return
        verdict = "FAILED (CI=true)" if in_ci() else "SKIPPED"
        terminalreporter.section(f"{len(self.skipped)} test(s) the README cites as evidence did not run",
                                 red=True, bold=True)
        for nodeid, reason in self.skipped:
            terminalreporter.write_line(f"{verdict} {nodeid}: {reason}", red=True, bold=True)
        if not in_ci():
            terminalreporter.write_line("With CI=true in the environment these are failures.", red=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARK_HELP)
    if not config.pluginmanager.has_plugin("cited-skips"):
        config.pluginmanager.register(CitedSkips(config), "cited-skips")

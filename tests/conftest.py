"""Shared fixtures: a real Mosquitto and a real PostgreSQL per test session, on free loopback ports."""
from __future__ import annotations

import itertools
import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots and logs a person may look at after a run

from tests.servers import CHROMIUM_ARGS, Mosquitto, Postgres, free_port  # noqa: E402
from tests.cited import pytest_configure  # noqa: E402,F401  (a skipped test the README cites: tests/cited.py)

_db_counter = itertools.count()


# The end-to-end suites that load the machine on purpose and time their recovery: one after another.
LOAD_SUITES = {"test_faults.py", "test_poor_link.py", "test_long_outage.py", "test_receipts.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (scripts/test.sh runs three workers) some tests must not overlap: Kivy windows share
    one virtual screen, and the load suites run one at a time. The other end-to-end chains (fleet, enrolment,
    shifts) run one at a time too, but beside the load suites, so the run fits its 15 minutes."""
    for item in items:
        if item.get_closest_marker("window"):
            item.add_marker(pytest.mark.xdist_group("kivy-window"))
        elif item.path.parent.name == "e2e":
            item.add_marker(pytest.mark.xdist_group("e2e" if item.path.name in LOAD_SUITES else "e2e-chains"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


DOC_IMAGES = ROOT / "docs" / "img"


@pytest.fixture(scope="session")
def doc_image():
    """``doc_image(screenshot, name)`` copies a screenshot of tests/artifacts to docs/img/NAME when the run
    was asked to refresh the documentation (``make doc-images``); an ordinary run leaves docs/ alone."""
    def publish(shot: Path, name: str) -> None:
        assert Path(shot).stat().st_size > 5_000, f"{shot} is too small to be a screenshot"
        if os.environ.get("HAILONG_DOC_IMAGES") == "1":
            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            (DOC_IMAGES / name).write_bytes(Path(shot).read_bytes())
    return publish


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory) -> Mosquitto:
    """One broker for the session; tests that restart or kill a broker make their own (mosquitto_factory)."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_factory(tmp_path):
    started: list[Mosquitto] = []

    def make(**kwargs) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"broker{len(started)}", **kwargs)
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Postgres:
    server = Postgres(Path("/tmp") / f"hailong-pg-{os.getpid()}-{free_port()}").start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """An empty database of its own for each test."""
    return postgres_server.fresh_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Run the same test against both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ratings.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module's tests."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        # Now and then Chromium never answers the close, or playwright's driver never exits after it (seen
        # after a test that routed requests); a run must not wait on either for ever. Playwright's calls
        # belong to this thread, so a timer ends those processes instead, and the calls return.
        watchdog = threading.Timer(8, _kill_browsers)
        watchdog.start()
        try:
            b.close()
            pw.stop()
        finally:
            watchdog.cancel()


def _kill_browsers() -> None:
    """End this process's Chromium and playwright driver (node) processes, and say so."""
    import psutil

    ended = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name() or child.name() == "node" or "playwright" in " ".join(child.cmdline()):
                child.kill()
                ended.append(child.name())
        except psutil.Error:
            pass
    print(f"browser fixture: not closed within 8 s; ended {sorted(set(ended))}", file=sys.stderr, flush=True)

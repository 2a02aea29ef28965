"""Which config the kiosk starts with, and the last good copy it keeps (no display needed)."""
import os
from pathlib import Path

import pytest

from kiosk.last_good import SUFFIX, candidates, choose, keep

GOOD = "kind: kiosk\nsite: a\ndevice: quay-01\noutbox: {path: data/outbox.db}\n"


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """The working directory is not the config's folder, as under systemd."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def setup(tmp_path, text):
    folder = tmp_path / "etc"
    folder.mkdir(exist_ok=True)
    cfg = folder / "kiosk.yaml"
    if text is not None:
        cfg.write_text(text, encoding="utf-8")
    return cfg


def test_a_valid_file_is_used_and_its_text_is_what_gets_kept(tmp_path):
    cfg = setup(tmp_path, GOOD)
    start = choose(cfg)
    assert start.cfg.device == "quay-01" and start.source == cfg and not start.fallback
    assert start.problems == [] and start.notice() == "" and start.text == GOOD
    copy = keep(cfg, start.text)
    assert copy == cfg.with_name("kiosk.yaml" + SUFFIX) and copy.read_text(encoding="utf-8") == GOOD
    assert [p.name for p in cfg.parent.iterdir() if ".tmp" in p.name] == []  # the temporary file is gone


@pytest.mark.parametrize("text, problem", [
    (None, "file not found"),
    ("site: a\ndevice: [\n", "not valid YAML"),
    ("kind: kiosk\nsite: a\ndevice: b\nfaces:\n  scale: 9\n", "kiosk.yaml:5: faces.scale: 9 is not allowed; use 2 to 5"),
    ("kind: kiosk\nsite: a\ndevice: b\nbroker:\n  tls: {ca: ca.crt}\n", "broker.tls.ca:"),
])
def test_a_broken_file_falls_back_to_the_last_good_copy(tmp_path, text, problem):
    cfg = setup(tmp_path, GOOD)
    keep(cfg, GOOD)
    if text is None:
        cfg.unlink()
    else:
        cfg.write_text(text, encoding="utf-8")
    start = choose(cfg)
    assert start.fallback and start.source == cfg.with_name("kiosk.yaml" + SUFFIX) and start.text is None
    assert any(problem in p for p in start.problems), start.problems
    # relative paths in the copy mean what they meant beside kiosk.yaml
    assert start.cfg.outbox.path == cfg.parent / "data" / "outbox.db"
    notice = start.notice()
    assert "Running on the last good config" in notice and problem in notice
    # nothing valid: no config, the problems of kiosk.yaml itself
    cfg.with_name("kiosk.yaml" + SUFFIX).unlink()
    start = choose(cfg)
    assert start.cfg is None and any(problem in p for p in start.problems)


def test_an_unusable_copy_is_not_used(tmp_path):
    cfg = setup(tmp_path, "site: [\n")
    cfg.with_name("kiosk.yaml" + SUFFIX).write_text("site: &a x\ndevice: *a\n", encoding="utf-8")
    assert choose(cfg).cfg is None


def test_an_unchanged_copy_is_not_rewritten(tmp_path):
    cfg = setup(tmp_path, GOOD)
    copy = keep(cfg, GOOD)
    os.utime(copy, (1_000_000, 1_000_000))
    keep(cfg, GOOD)
    assert copy.stat().st_mtime == 1_000_000
    keep(cfg, GOOD + "# changed\n")
    assert copy.stat().st_mtime > 1_000_000 and copy.read_text(encoding="utf-8").endswith("# changed\n")


def test_when_the_config_folder_cannot_take_it_the_copy_goes_to_the_working_directory(tmp_path, elsewhere):
    cfg = setup(tmp_path, GOOD)
    cfg.with_name("kiosk.yaml" + SUFFIX).mkdir()  # something in the way, as a read-only /etc would be
    copy = keep(cfg, GOOD)
    assert copy == elsewhere / ("kiosk.yaml" + SUFFIX) and candidates(cfg)[1] == copy
    cfg.write_text("faces: {scale: 9}\n", encoding="utf-8")
    start = choose(cfg)
    assert start.fallback and start.source == copy
    assert start.cfg.outbox.path == cfg.parent / "data" / "outbox.db"


def test_a_missing_sound_is_a_warning_not_a_fallback(tmp_path):
    cfg = setup(tmp_path, GOOD + "audio: {vi: {start: vi.wav}}\n")
    start = choose(cfg)
    assert not start.fallback and start.source == cfg and start.problems == []
    assert start.warnings == [f"kiosk.yaml:5: audio.vi.start: {cfg.parent / 'vi.wav'}: file not found "
                              "(optional: the kiosk runs without it)"]
    assert start.notice() == start.warnings[0]

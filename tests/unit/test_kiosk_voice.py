"""python -m kiosk voice build: a real WAV clip (espeak-ng) for every text the kiosk says in every enabled
language, recorded clips used instead, idempotent by text; config check names a language that cannot speak."""
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from config import load
from kiosk.voice import Clips, built_name, lines, problems
from kiosk.voice_build import VoiceError, build

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "kiosk.yaml"


def example(tmp_path, extra: str = "", enabled: str = "[vi, en]") -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace("  enabled: [vi, en]", f"  enabled: {enabled}", 1)
    assert f"enabled: {enabled}" in text
    (tmp_path / "kiosk.yaml").write_text(text + extra, encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("staff.yaml"), tmp_path / "staff.yaml")
    return tmp_path / "kiosk.yaml"


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() >= 16000
        return w.getnframes() / w.getframerate()


def test_espeak_ng_is_installed_with_a_vietnamese_voice():
    out = subprocess.run(["espeak-ng", "--voices=vi"], capture_output=True, text=True, check=True).stdout
    assert " vi " in out, "scripts/setup.sh installs espeak-ng"


def test_build_on_the_example_gives_a_real_clip_for_every_text_and_a_second_run_builds_nothing(tmp_path):
    cfg = load(example(tmp_path))
    said = lines(cfg)
    keys = {(ln.lang, ln.key) for ln in said}
    for lang in ("vi", "en"):  # the question, each face, the follow-up and each reason, skip, the thank-you
        assert {(lang, k) for k in ("question", "face.very_unhappy", "face.very_happy", "followup_question",
                                    "reason.waiting", "reason.paperwork", "skip", "thanks", "thanks_detail")} <= keys
        assert {(lang, "officer.nguyen-van-an"), (lang, "officer.tran-thi-binh")} <= keys  # the officer on duty
    assert len(said) == 2 * (1 + 5 + 1 + 4 + 1 + 2 + 2)

    first = build(cfg)
    assert first.silent == [] and first.recorded == [] and first.kept == []
    assert len(first.built) == len({p for p in first.built}) == len(said)  # the texts differ: one file each
    assert all(p.parent == tmp_path / "voice" for p in first.built)  # beside kiosk.yaml
    clips = Clips(cfg)
    for ln in said:
        path = clips.get(ln.lang, ln.key)
        assert path is not None, (ln.lang, ln.key)
        length = seconds(path)
        # plausible: speech, not a click or silence, and not longer than slow reading of the text
        assert 0.4 < length < 1.5 + 0.12 * len(ln.text), (ln.key, ln.text, length)
    assert seconds(clips.get("vi", "question")) > 2 * seconds(clips.get("vi", "thanks"))
    stamp = {p: p.stat().st_mtime_ns for p in first.built}

    again = build(cfg)
    assert again.built == [] and sorted(again.kept) == sorted(first.built)
    assert {p: p.stat().st_mtime_ns for p in first.built} == stamp
    assert not [p for p in (tmp_path / "voice").iterdir() if p.suffix != ".wav"]  # no temp files left


def test_a_changed_text_gets_a_new_clip_and_the_same_text_the_same_name():
    assert built_name("vi", "Xin cảm ơn!") == built_name("vi", "Xin cảm ơn!")
    assert built_name("vi", "Xin cảm ơn!") != built_name("vi", "Xin cám ơn!")
    assert built_name("vi", "Xin cảm ơn!") != built_name("vi-vn-x-south", "Xin cảm ơn!")


def test_a_recorded_clip_is_used_instead_and_not_built(tmp_path):
    rec = tmp_path / "sounds" / "vi-thanks.wav"
    rec.parent.mkdir()
    with wave.open(str(rec), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * 16000)
    cfg = load(example(tmp_path, "voice:\n  clips:\n    vi: {thanks: sounds/vi-thanks.wav}\n"))
    report = build(cfg)
    assert report.recorded == [rec]
    assert Clips(cfg).get("vi", "thanks") == rec
    assert not (tmp_path / "voice" / built_name("vi", "Xin cảm ơn!")).exists()
    assert len(report.built) == len(lines(cfg)) - 1


def test_the_old_audio_prompts_count_as_the_question_and_thanks_clips(tmp_path):
    (tmp_path / "q.wav").write_bytes(b"x")
    cfg = load(example(tmp_path, "audio:\n  en: {start: q.wav}\n"))
    assert Clips(cfg).get("en", "question") == tmp_path / "q.wav"


def test_a_language_without_clip_or_voice_is_named_by_build_and_by_config_check(tmp_path):
    path = example(tmp_path, "voice: {enabled: true}\n", enabled="[vi, en, hmn]")
    report = build(load(path))
    assert {(lang, key) for lang, key, _ in report.silent} == {("hmn", "question"), ("hmn", "reason.waiting"),
                                                               ("hmn", "thanks")}
    # faces and reasons the Hmong screen shows in Vietnamese are spoken in Vietnamese
    cli = subprocess.run([sys.executable, "-m", "kiosk", "voice", "build", "--config", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1 and "hmn question: không có bản ghi âm" in cli.stdout, cli.stdout + cli.stderr
    check = subprocess.run([sys.executable, "-m", "config", "check", str(path)], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 1
    assert ("voice: ngôn ngữ hmn: không có bản ghi âm cũng không có giọng đọc cho / language hmn: no clip and no "
            "voice for question, reason.waiting, thanks") in check.stderr, check.stderr
    assert "ngôn ngữ vi" not in check.stderr and "language en" not in check.stderr


def test_config_check_asks_for_the_build_then_is_content(tmp_path):
    path = example(tmp_path, "voice: {enabled: true}\n")
    check = lambda: subprocess.run([sys.executable, "-m", "config", "check", str(path)], cwd=ROOT,  # noqa: E731
                                   capture_output=True, text=True, timeout=60)
    before = check()
    assert before.returncode == 1 and "run: python -m kiosk voice build --config kiosk.yaml" in before.stderr
    assert problems(load(path))  # the same lines, from the module
    cli = subprocess.run([sys.executable, "-m", "kiosk", "voice", "build", "--config", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "tạo mới / built 32," in cli.stdout, cli.stdout + cli.stderr
    again = subprocess.run([sys.executable, "-m", "kiosk", "voice", "build", "--config", str(path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert "tạo mới / built 0, đã có / already there 32" in again.stdout, again.stdout
    after = check()
    assert after.returncode == 0 and after.stdout.strip().endswith(": ok"), after.stderr


def test_an_unknown_voice_is_refused_before_anything_is_built(tmp_path):
    cfg = load(example(tmp_path, "voice:\n  voices: {vi: xx-nope, en: en}\n"))
    with pytest.raises(VoiceError, match="has no voice xx-nope"):
        build(cfg)
    assert not (tmp_path / "voice").exists()


def test_a_language_shown_by_a_picture_is_named_until_every_text_is_recorded(tmp_path):
    path = example(tmp_path, "", enabled="[vi, en, hmn]")
    text = path.read_text(encoding="utf-8").replace("      # picture: lang-hmn.png", "      picture: lang-hmn.png")
    path.write_text(text.replace("  enabled: false               # true: say", "  enabled: true  # say", 1),
                    encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("lang-hmn.png"), tmp_path / "lang-hmn.png")
    found = problems(load(path))
    named = [p for p in found if "language hmn is shown by a picture" in p]
    assert len(named) == 1 and "question" in named[0] and "face.happy" in named[0], found

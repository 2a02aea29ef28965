"""``python -m kiosk voice build --config kiosk.yaml``: renders, ahead of time and offline, a WAV clip with
espeak-ng for every text the kiosk says in every enabled language (kiosk/voice.py), into ``voice.folder``.
Texts with a recorded clip are skipped; a clip already built is kept (same voice and text, same file
name), so a second run builds nothing. Texts with neither a clip nor a voice are reported."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from config.kiosk import KioskConfig

from .voice import clip, lines, spoken, voice_for

ESPEAK = "espeak-ng"
INSTALL = "sudo apt-get install espeak-ng"


class VoiceError(Exception):
    pass


@dataclass
class Report:
    built: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    recorded: list[Path] = field(default_factory=list)
    silent: list[tuple[str, str, str]] = field(default_factory=list)  # (language, key, text)


def installed_voices(espeak: str) -> set[str]:
    """The names ``-v`` takes: languages (``en`` too, as ``en-gb`` and ``en-us`` are listed) and voice files."""
    out = subprocess.run([espeak, "--voices"], capture_output=True, text=True, timeout=30, check=True).stdout
    names = set()
    for row in out.splitlines()[1:]:
        cols = row.split()
        if len(cols) >= 5:
            lang = cols[1]
            names.update({lang, lang.split("-")[0], cols[-1].rsplit("/", 1)[-1], cols[3]})
    return names


def build(cfg: KioskConfig, espeak: str | None = None) -> Report:
    report = Report()
    todo: dict[Path, tuple[str, str]] = {}
    for line in lines(cfg):
        path = clip(cfg, line)
        if path is None:
            report.silent.append((line.lang, line.key, line.text))
        elif line.recorded is not None:
            report.recorded.append(path)
        elif path.is_file():
            report.kept.append(path)
        elif path not in todo:
            todo[path] = (voice_for(cfg, line), spoken(line.text))
    if not todo:
        return report
    exe = espeak or shutil.which(ESPEAK)
    if exe is None:
        raise VoiceError(f"chưa cài espeak-ng / espeak-ng is not installed: {INSTALL}")
    have = installed_voices(exe)
    missing = sorted({v for v, _ in todo.values()} - have)
    if missing:
        raise VoiceError(f"espeak-ng không có giọng / has no voice {', '.join(missing)}: fix voice.voices "
                         f"(espeak-ng --voices lists them)")
    folder = cfg.voice.folder
    folder.mkdir(parents=True, exist_ok=True)
    for path, (voice, text) in todo.items():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            subprocess.run([exe, "-v", voice, "-w", str(tmp), "--", text], capture_output=True, timeout=60,
                           check=True)
            os.replace(tmp, path)  # a half-written clip never carries the final name
        except subprocess.CalledProcessError as exc:
            raise VoiceError(f"espeak-ng -v {voice} failed for {text!r}: {exc.stderr.decode(errors='replace')[:200]}")
        finally:
            tmp.unlink(missing_ok=True)
        report.built.append(path)
    return report


def command(cfg: KioskConfig, config_name: str) -> int:
    """The CLI: builds, prints what it did (Vietnamese first); 1 when some text has no clip and no voice."""
    try:
        r = build(cfg)
    except VoiceError as exc:
        print(f"kiosk voice: {exc}")
        return 2
    print(f"kiosk voice: {cfg.voice.folder}: tạo mới / built {len(r.built)}, đã có / already there {len(r.kept)}, "
          f"bản ghi âm / recorded {len(r.recorded)}")
    for lang, key, text in r.silent:
        print(f"  {lang} {key}: không có bản ghi âm, không có giọng / no clip and no voice: {text!r} "
              f"(voice.clips.{lang}.{key} or voice.voices.{lang} in {config_name})")
    return 1 if r.silent else 0

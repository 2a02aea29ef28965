"""Which config the kiosk starts with, and the copy of the last one that worked.

After every start on a valid kiosk.yaml the kiosk keeps its text as ``kiosk.yaml.last-good`` beside
the file (or, when that folder is not writable by the kiosk's user, in the working directory), written
atomically. At start, a kiosk.yaml that is missing, unreadable, not valid YAML, refused by the schema or
naming a missing required file (CA, client certificate, password file) does not stop the kiosk: it runs
on the last good copy and tells the technician; with no usable copy it shows the config problem page.
No Kivy here: tested without a display.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from config.kiosk import KioskConfig
from config.loader import ConfigError, load_checked, read_text

log = logging.getLogger(__name__)
SUFFIX = ".last-good"


@dataclass
class Startup:
    """The outcome of reading the config at start."""

    config_path: Path
    cfg: Optional[KioskConfig] = None
    source: Optional[Path] = None                        # the file ``cfg`` came from
    problems: list[str] = field(default_factory=list)    # why kiosk.yaml itself cannot be used
    warnings: list[str] = field(default_factory=list)    # optional files missing (sounds)
    text: Optional[str] = None                           # kiosk.yaml's text, when it is valid

    @property
    def fallback(self) -> bool:
        return self.cfg is not None and self.source != self.config_path

    def notice(self) -> str:
        """What the technician view says about the config; empty when all is well."""
        if self.fallback:
            return (f"Đang chạy bằng cấu hình tốt gần nhất / Running on the last good config: {self.source}\n"
                    f"{self.config_path} có lỗi / has problems:\n" + "\n".join(self.problems + self.warnings))
        return "\n".join(self.warnings)


def candidates(config_path: Path) -> list[Path]:
    """Where a last good copy may be: beside the file, then in the working directory."""
    name = config_path.name + SUFFIX
    beside = config_path.parent / name
    here = Path.cwd() / name
    return [beside] if here.resolve() == beside.resolve() else [beside, here]


def choose(config_path: Path | str) -> Startup:
    config_path = Path(config_path)
    start = Startup(config_path)
    try:
        text = read_text(config_path)
        start.cfg, start.warnings = load_checked(config_path, kind="kiosk", text=text)
        start.source, start.text = config_path, text
        return start
    except ConfigError as exc:
        start.problems = list(exc.problems)
    copies = sorted((p for p in candidates(config_path) if p.is_file()), key=lambda p: p.stat().st_mtime,
                    reverse=True)
    for copy in copies:
        try:  # relative paths in the copy mean what they meant in kiosk.yaml
            start.cfg, start.warnings = load_checked(copy, kind="kiosk", base_dir=config_path.resolve().parent)
            start.source = copy
            return start
        except ConfigError as exc:
            log.warning("last good config %s cannot be used: %s", copy, "; ".join(exc.problems))
    return start


def keep(config_path: Path | str, text: str) -> Optional[Path]:
    """Write ``text`` as the last good copy (atomically: a temporary file, fsync, rename). Unchanged
    copies are not rewritten (an SD card wears). Returns the copy's path, or None when no folder took it."""
    config_path = Path(config_path)
    for target in candidates(config_path):
        try:
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                return target
            fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
            dirfd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
            return target
        except OSError as exc:
            log.warning("cannot keep the last good config at %s: %s", target, exc.strerror or exc)
    log.warning("no last good config is kept: give the kiosk's user write access to %s or to its working "
                "directory", config_path.parent)
    return None

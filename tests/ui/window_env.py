"""The environment a kiosk window driver runs in: Kivy without its argument parser and console noise, a
Kivy home of the test's own, no sound card, and an off-screen window when there is no display (Xvfb)."""
from __future__ import annotations

import os
from pathlib import Path


def window_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KCFG_KIVY_LOG_LEVEL": "warning",
           "KIVY_HOME": str(tmp_path / "kivy-home"), "SDL_AUDIODRIVER": "dummy", **extra}
    if not env.get("DISPLAY"):
        env["SDL_VIDEODRIVER"] = "offscreen"
    return env

"""Window settings; they must be set before Kivy creates its window, so this module imports no window."""
from __future__ import annotations

import os
from typing import Optional


def configure(windowed: Optional[tuple[int, int]] = None) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our own command line, not Kivy's
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")  # citizens cannot leave with Escape or the back key
    Config.set("kivy", "pause_on_minimize", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")  # no red dots from a right click
    # No multisampled framebuffer: it costs ~30 MB on a software renderer; face edges are smoothed
    # by anti-aliased outlines instead (faces.py).
    Config.set("graphics", "multisamples", "0")
    if windowed:
        Config.set("graphics", "fullscreen", "0")
        Config.set("graphics", "width", str(windowed[0]))
        Config.set("graphics", "height", str(windowed[1]))
    else:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "show_cursor", "0")

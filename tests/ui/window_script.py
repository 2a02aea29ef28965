"""What every kiosk window driver shares: a 1280x800 window, real touch events, screenshots, and a
script whose yields wait a time or a condition while Kivy keeps drawing frames.

A driver runs in its own process (one Kivy window per process) and imports this module before anything
from Kivy, since the window size must be set first.
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator, Union

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kiosk.display import configure  # noqa: E402

configure((1280, 800))

from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

Step = Union[float, Callable[[], bool]]


def tap_at(x: float, y: float, hold: bool = False):
    """A real touch at window coordinates; with ``hold`` the finger stays down and is returned."""
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    if hold:
        return touch
    touch.touch_up()
    return None


def tap(widget, hold: bool = False):
    return tap_at(*widget.to_window(*widget.center), hold=hold)


def shot(path) -> Path:
    """A screenshot of the window at exactly ``path`` (Kivy may add a counter to the name it is given)."""
    final = Path(path)
    made = Path(Window.screenshot(name=str(final)))
    if made != final:
        made.replace(final)
    return final


def texts(widget, restrict: bool = False) -> list[str]:
    """The non-empty texts Kivy walks from ``widget`` (the whole tree from there unless ``restrict``)."""
    return [w.text for w in widget.walk(restrict=restrict) if isinstance(getattr(w, "text", None), str) and w.text]


def shown(app, *screens: str) -> Callable[[], bool]:
    """A condition: one of these screens is shown and the screen manager takes touches again."""
    return lambda: app.sm.current in screens and not app.sm.transition.is_active


def play(app, script: Iterator[Step], result: dict, patience_s: float = 15, stop_at_end: bool = True) -> None:
    """Step through ``script`` on Kivy's clock. Each yield is a number of seconds to wait, or a condition
    to wait for (checked every 20 ms, given up after ``patience_s``: a loaded machine draws late).
    An exception is kept in ``result["errors"]`` and stops the app, as does the end unless told not to."""

    def advance(_dt):
        try:
            step = next(script)
        except StopIteration:
            if stop_at_end:
                app.stop()
            return
        except Exception:
            result.setdefault("errors", []).append(traceback.format_exc())
            app.stop()
            return
        if not callable(step):
            Clock.schedule_once(advance, step)
            return
        deadline = time.monotonic() + patience_s

        def poll(_dt):
            if step() or time.monotonic() > deadline:
                advance(0)
            else:
                Clock.schedule_once(poll, 0.02)

        Clock.schedule_once(poll, 0.02)

    Clock.schedule_once(advance, 0)


def save(result: dict, path) -> None:
    Path(path).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")

"""What the screen shows when kiosk.yaml cannot be used: never a black screen.

- ``ConfigProblemApp``: with no last good config, a full-screen page for the technician (Vietnamese
  first, then English) with the file, the loader's exact messages and how to fix them. It reads the
  file again every few seconds and returns as soon as it is valid; the caller then restarts the
  kiosk in the same process (``os.execv``), so systemd sees one service that never stopped.
- ``NoticeMarker``: a small, quiet mark in a corner of the citizen screens when the kiosk runs on its
  last good config or without an optional file; the technician view says what it is about.
- ``install_screenshot_signal``: ``kill -USR1 PID`` saves the screen as ``kiosk-screen.png`` in the
  working directory, for remote support (and the tests).

Import ``kiosk.display`` and call ``configure()`` before this module.
"""
from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.utils import escape_markup

from .last_good import Startup, choose
from config.texts import CONFIG_PROBLEM as T

log = logging.getLogger(__name__)
CHECK_EVERY_S = 3.0
CALM_S = 10.0  # a kiosk on its last good copy restarts on the fixed file only after this long untouched
SCREENSHOT = "kiosk-screen.png"
INK = (0.12, 0.12, 0.12, 1)
AMBER = (0.96, 0.62, 0.10, 1)
BG = (0.97, 0.97, 0.95, 1)


def install_screenshot_signal(directory: Path | str = ".") -> None:
    """SIGUSR1 saves the next drawn frame as ``kiosk-screen.png`` in ``directory`` (replaced each time)."""
    target = Path(directory).resolve() / SCREENSHOT

    def shoot(_dt):
        made = Path(Window.screenshot(name=str(target.with_name("kiosk-screen-shot.png"))))
        made.replace(target)
        log.warning("screenshot saved to %s", target)

    signal.signal(signal.SIGUSR1, lambda *_: Clock.schedule_once(shoot, 0))


class NoticeMarker(Label):
    """A small amber tab in a bottom corner: the citizen sees nothing alarming, the technician knows
    to open the technician view."""

    def __init__(self, corner: str = "top-left", **kw):
        unit = Window.height / 100.0
        super().__init__(text=f"[b]![/b] {T['marker']}", markup=True, color=INK, font_size=unit * 2.2,
                         size_hint=(None, None), **kw)
        self.bind(texture_size=self._fit)
        # opposite side of the technician corner, so holding that corner is not in the way
        self.pos_hint = {"y": 0.01, ("x" if "right" in corner else "right"): (0.01 if "right" in corner else 0.99)}
        with self.canvas.before:
            Color(*AMBER[:3], 0.85)
            self._bg = RoundedRectangle(radius=[unit])
        self.bind(pos=self._draw, size=self._draw)

    def _fit(self, _w, ts):
        unit = Window.height / 100.0
        self.size = (ts[0] + unit * 2.4, ts[1] + unit * 1.2)

    def _draw(self, *_):
        self._bg.pos, self._bg.size = self.pos, self.size


def _label(text: str, size: float, bold: bool = False, color=INK, markup: bool = False) -> Label:
    lbl = Label(text=text, font_size=size, bold=bold, color=color, markup=markup, halign="left", valign="top",
                size_hint_y=None)
    # texture only as tall as the text: a full-screen texture costs megabytes on a software renderer
    lbl.bind(width=lambda w, width: setattr(w, "text_size", (width, None)),
             texture_size=lambda w, ts: setattr(w, "height", ts[1]))
    return lbl


class ProblemPage(BoxLayout):
    """Heading band, who to tell, the file, its problems and how to fix them, when it was last read."""

    unit = NumericProperty(8.0)

    def __init__(self, config_path: Path, check: str, every_s: float, **kw):
        super().__init__(orientation="vertical", **kw)
        self.unit = u = Window.height / 100.0
        with self.canvas.before:
            Color(*BG)
            self._bg = Rectangle()
            Color(*AMBER)
            self._band = Rectangle()
        self.bind(pos=self._draw, size=self._draw)
        self.padding = (u * 4, u * 3)
        self.spacing = u * 1.6
        self.head = BoxLayout(orientation="vertical", size_hint_y=None, spacing=u * 0.6)
        self.head.add_widget(_label(T["title_vi"], u * 5.0, bold=True))
        self.head.add_widget(_label(T["title_en"], u * 3.4))
        self.head.bind(minimum_height=self.head.setter("height"), height=self._draw)
        self.add_widget(self.head)
        self.add_widget(_label(T["citizen"], u * 3.0, bold=True))
        self.add_widget(_label(f"{T['file']}: [b]{escape_markup(str(config_path))}[/b]", u * 3.0, markup=True))
        self.add_widget(_label(T["problems"], u * 2.4, color=(0.35, 0.35, 0.35, 1)))
        # the problems, then how to fix them, scrolled together when a file has many problems
        scroll = ScrollView(do_scroll_x=False)
        body = BoxLayout(orientation="vertical", size_hint_y=None, spacing=u * 2.4)
        body.bind(minimum_height=body.setter("height"))
        self.problem_text = _label("", u * 3.0, color=(0.62, 0.12, 0.08, 1))
        self.fix = _label("", u * 2.7, markup=True)
        body.add_widget(self.problem_text)
        body.add_widget(self.fix)
        scroll.add_widget(body)
        self.add_widget(scroll)
        self.status = _label("", u * 2.4, color=(0.35, 0.35, 0.35, 1))
        self.add_widget(self.status)
        self._config_path = config_path
        self._check = check
        self._every_s = every_s

    def _draw(self, *_):
        self._bg.pos, self._bg.size = self.pos, self.size
        band_h = self.head.height + self.unit * 4.5
        self._band.pos = (self.x, self.top - band_h)
        self._band.size = (self.width, band_h)

    def show(self, problems: list[str], checked_at: str) -> None:
        self.problem_text.text = "\n".join(problems)
        missing = bool(problems) and problems[0] == f"{self._config_path}: file not found"
        every = self._every_s
        check = escape_markup(self._check)
        vi = ([T["missing_vi"]] if missing else []) + [T["fix_vi"].format(check=check, every=every)]
        en = ([T["missing_en"]] if missing else []) + [T["fix_en"].format(check=check, every=every)]
        self.fix.text = "\n".join(vi) + "\n\n" + "\n".join(en)
        self.status.text = T["checked"].format(time=checked_at)
        Clock.schedule_once(self._draw, 0)


class ConfigProblemApp(App):
    """Shows the page until the file is valid; ``fixed`` then says whether to start the kiosk."""

    def __init__(self, startup: Startup, every_s: float = CHECK_EVERY_S, **kw):
        super().__init__(**kw)
        self.title = "Hài lòng: cấu hình / config"
        self.startup = startup
        self.every_s = every_s
        self.fixed = False

    def build(self):
        path = self.startup.config_path
        self.page = ProblemPage(path, f"python -m config check {path}", self.every_s)
        self.page.show(self.startup.problems, time.strftime("%H:%M:%S"))
        Window.bind(on_request_close=lambda *_a, **_k: True)  # citizens cannot close it
        Clock.schedule_interval(self._check, self.every_s)
        signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda _dt: self.stop()))
        return self.page

    def _check(self, _dt) -> None:
        try:
            again = choose(self.startup.config_path)
        except Exception as exc:  # the page must stay up whatever the folder does
            log.warning("checking %s failed: %s", self.startup.config_path, exc)
            return
        if again.cfg is not None and not again.fallback:
            log.warning("%s is valid now: starting the kiosk", self.startup.config_path)
            self.page.status.text = T["starting"]
            self.fixed = True
            Clock.schedule_once(lambda _dt: self.stop(), 0.2)
        elif again.cfg is not None:  # a last good copy appeared meanwhile (copied by the technician)
            self.fixed = True
            self.stop()
        else:
            if again.problems != self.startup.problems:  # edited, still wrong: say what is wrong now
                log.warning("%s still has problems:\n  %s", self.startup.config_path, "\n  ".join(again.problems))
                self.startup = again
            self.page.show(again.problems, time.strftime("%H:%M:%S"))


def watch_for_fix(app, config_path: Path, on_fixed, every_s: float = CHECK_EVERY_S,
                  calm_s: float = CALM_S) -> None:
    """While the kiosk runs on its last good copy: once kiosk.yaml is valid again, call ``on_fixed``
    at a calm moment (the rating screen, nobody touching it for ``calm_s``), never during a visit."""
    from .flow import State

    def check(_dt):
        flow = app.flow
        if flow.state is not State.RATING or time.monotonic() - flow.last_touch < calm_s:
            return
        try:
            again = choose(config_path)
        except Exception as exc:
            log.warning("checking %s failed: %s", config_path, exc)
            return
        if again.cfg is not None and not again.fallback:
            log.warning("%s is valid now: restarting the kiosk on it", config_path)
            event.cancel()
            on_fixed()

    event = Clock.schedule_interval(check, every_s)


def run_problem_page(startup: Startup, every_s: float = CHECK_EVERY_S) -> bool:
    """Show the page until the config can be used; True when it can (start the kiosk), False when the
    page was stopped (SIGTERM)."""
    app = ConfigProblemApp(startup, every_s)
    app.run()
    return app.fixed

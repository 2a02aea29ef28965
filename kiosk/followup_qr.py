"""The thank-you screen's one-time QR, drawn with Kivy canvas rectangles (no image library).

Imported only when ``followup_qr.enabled`` (kiosk/app.py), and segno only when the first code is made: a
kiosk without the QR pays nothing for it. The matrix is pure (``dark_runs``), so it is tested without a window.
"""
from __future__ import annotations

from typing import Iterator

from kivy.graphics import Color, Rectangle
from kivy.metrics import mm
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

QUIET = 4  # modules of white around the code, as the standard asks
ERROR = "m"  # 15 % error correction: a scratched or glaring screen still reads


def matrix(text: str) -> list[bytes]:
    """The QR's modules, top row first; 1 is dark."""
    import segno

    return [bytes(row) for row in segno.make(text, error=ERROR, micro=False, boost_error=False).matrix]


def dark_runs(rows: list[bytes]) -> Iterator[tuple[int, int, int]]:
    """(row, first column, length) of each horizontal run of dark modules: a few hundred rectangles, not
    thousands."""
    for y, row in enumerate(rows):
        x, n = 0, len(row)
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                yield y, start, x - start
            else:
                x += 1


class FollowupQr(Widget):
    """A square QR of ``url`` (nothing drawn while it is empty), ``size_mm`` on a side."""

    url = StringProperty("")

    def __init__(self, size_mm: float = 40.0, **kw):
        super().__init__(**kw)
        self.size_hint = (None, None)
        self.size = (mm(size_mm), mm(size_mm))
        self._rows: list[bytes] = []
        self.bind(url=self._remake, pos=self._draw, size=self._draw)

    def _remake(self, *_):
        self._rows = matrix(self.url) if self.url else []
        self._draw()

    def _draw(self, *_):
        self.canvas.clear()
        if not self._rows:
            return
        n = len(self._rows) + 2 * QUIET
        # whole pixels per module where the size allows: sharp edges read better through a phone's camera
        unit = min(self.width, self.height) / n
        unit = float(int(unit)) if unit >= 2 else unit
        side = unit * n
        x0, top = round(self.x + (self.width - side) / 2), round(self.y + (self.height + side) / 2)
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(pos=(x0, top - side), size=(side, side))
            Color(0, 0, 0, 1)
            for y, x, length in dark_runs(self._rows):
                Rectangle(pos=(x0 + (QUIET + x) * unit, top - (QUIET + y + 1) * unit), size=(length * unit, unit))

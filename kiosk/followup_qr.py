"""The thank-you screen's one-time QR, drawn on the Kivy canvas (no image library).

Imported only when ``followup_qr.enabled`` (kiosk/app.py), and segno only when the first code is made: a
kiosk without the QR pays nothing for it. The pixels are pure (``pixels``), so they are tested without a window.
"""
from __future__ import annotations

from kivy.graphics import Color, Rectangle
from kivy.metrics import mm
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

QUIET = 4  # modules of white around the code, as the standard asks
ERROR = "m"  # 15 % error correction: a scratched or glaring screen still reads
# segno's automatic choice of mask scores all eight (9 ms a code here, on the tap's path); any mask reads.
MASK = 0


def matrix(text: str) -> list[bytes]:
    """The QR's modules, top row first; 1 is dark."""
    import segno

    return [bytes(row) for row in segno.make(text, error=ERROR, micro=False, boost_error=False, mask=MASK).matrix]


def pixels(rows: list[bytes]) -> tuple[int, bytes]:
    """(side, RGBA bytes bottom row first, as Kivy textures are laid out) of the code with its quiet zone:
    one pixel per module."""
    side = len(rows) + 2 * QUIET
    white, black = b"\xff\xff\xff\xff", b"\x00\x00\x00\xff"
    blank = white * side
    lines = [blank] * QUIET
    for row in reversed(rows):
        lines.append(white * QUIET + b"".join(black if v else white for v in row) + white * QUIET)
    lines += [blank] * QUIET
    return side, b"".join(lines)


class FollowupQr(Widget):
    """A square QR of ``url`` (nothing drawn while it is empty), ``size_mm`` on a side.

    One rectangle showing a texture of one pixel per module, scaled without smoothing: a texture made once
    per code size and refilled for each code. (A rectangle per dark module, remade for each rating, grew the
    kiosk by about 4 MB a code under Mesa's software renderer.)"""

    url = StringProperty("")

    def __init__(self, size_mm: float = 40.0, **kw):
        super().__init__(**kw)
        self.size_hint = (None, None)
        self.size = (mm(size_mm), mm(size_mm))
        self._texture = None
        self._modules = 0
        self.bind(url=self._remake, pos=self._draw, size=self._draw)

    def _remake(self, *_):
        if not self.url:
            self._modules = 0
            self._draw()
            return
        from kivy.graphics.texture import Texture

        side, data = pixels(matrix(self.url))
        if self._texture is None or self._texture.width != side:
            self._texture = Texture.create(size=(side, side), colorfmt="rgba")
            self._texture.mag_filter = "nearest"
            self._texture.min_filter = "nearest"
        self._texture.blit_buffer(data, colorfmt="rgba", bufferfmt="ubyte")
        self._modules = side
        self._draw()

    def _draw(self, *_):
        self.canvas.clear()
        if not self._modules:
            return
        # whole pixels per module where the size allows: sharp edges read better through a phone's camera
        unit = min(self.width, self.height) / self._modules
        unit = float(int(unit)) if unit >= 2 else unit
        side = unit * self._modules
        x0, y0 = round(self.x + (self.width - side) / 2), round(self.y + (self.height - side) / 2)
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(texture=self._texture, pos=(x0, y0), size=(side, side))

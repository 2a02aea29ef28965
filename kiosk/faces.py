"""Smiley faces drawn with canvas instructions (emoji fonts do not render on the kiosk).

Each level differs by shape as well as colour, so colour-blind citizens can tell them apart:
the mouth bends from a deep frown to an open smile, and the unhappy faces have slanted eyebrows.
"""
from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line, SmoothLine
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

# level -> (fill colour, mouth curve (-1 frown .. +1 smile), eyebrow slant or None, open mouth)
STYLE = {
    "very_unhappy": ((0.84, 0.19, 0.15), -1.0, 0.35, False),
    "unhappy": ((0.96, 0.56, 0.20), -0.5, 0.15, False),
    "neutral": ((0.98, 0.80, 0.25), 0.0, None, False),
    "happy": ((0.55, 0.78, 0.29), 0.55, None, False),
    "very_happy": ((0.18, 0.62, 0.27), 1.0, None, True),
}
INK = (0.13, 0.13, 0.13)


def _quad(p0, p1, p2, steps: int = 24) -> list[float]:
    """Points of a quadratic Bezier curve, flattened for Line."""
    pts = []
    for i in range(steps + 1):
        t = i / steps
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t ** 2
        pts += [a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]]
    return pts


class FaceDrawing(Widget):
    level = StringProperty("neutral")

    def __init__(self, **kw):
        super().__init__(**kw)
        self.bind(pos=self._draw, size=self._draw, level=self._draw)

    def _draw(self, *_):
        colour, curve, brow, open_mouth = STYLE[self.level]
        d = min(self.width, self.height) * 0.92
        x0, y0 = self.center_x - d / 2, self.center_y - d / 2
        cx, cy = self.center
        w = max(2.0, d * 0.045)  # stroke width
        self.canvas.clear()
        with self.canvas:
            Color(*colour)
            Ellipse(pos=(x0, y0), size=(d, d))
            Color(*INK)
            # anti-aliased outline: the window has no multisampling (display.py)
            SmoothLine(circle=(cx, cy, d / 2), width=max(1.0, w * 0.35))
            eye = d * 0.11
            ey = cy + d * 0.10
            for ex in (cx - d * 0.18, cx + d * 0.18):
                Ellipse(pos=(ex - eye / 2, ey - eye * 0.65), size=(eye, eye * 1.3))
            if brow is not None:  # inner ends raised: a worried, sad look
                for side in (-1, 1):
                    outer = (cx + side * d * 0.29, ey + d * 0.13)
                    inner = (cx + side * d * 0.08, ey + d * 0.13 + brow * d * 0.4)
                    Line(points=[*outer, *inner], width=w * 0.8, cap="round")
            mx, my, half = cx, cy - d * 0.22, d * 0.24
            if open_mouth:
                # a wide open smile: the lower half of a disc
                Ellipse(pos=(mx - half, my - half * 0.85 + d * 0.02), size=(half * 2, half * 1.7),
                        angle_start=90, angle_end=270)
            else:
                bend = curve * d * 0.16
                # a smile's ends are higher than its middle; a frown's ends are lower
                y_end = my + bend / 2
                Line(points=_quad((mx - half, y_end), (mx, y_end - bend * 2), (mx + half, y_end)),
                     width=w, cap="round")

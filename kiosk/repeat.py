"""The repeated-press filter: a tap soon after the previous one is kept, but flagged.

Nothing a citizen presses is thrown away (a second visitor may really follow quickly); the flag lets
reports leave out bursts from a child or a nervous finger if a manager wants to.
"""
from __future__ import annotations

RAPID_REPEAT = "rapid_repeat"


class RepeatFilter:
    def __init__(self, window_s: float):
        self.window_s = window_s
        self.last: float | None = None

    def check(self, now: float) -> bool:
        """Record a tap at ``now`` (monotonic seconds); True when it falls within the window of the last one."""
        rapid = self.window_s > 0 and self.last is not None and 0 <= now - self.last < self.window_s
        self.last = now
        return rapid

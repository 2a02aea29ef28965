"""Presses that are not a choice: a hand mashing the screen, a finger still down from the last screen.

Pure logic, fed by the flow with monotonic times. Three rules:

- **settle**: a press in the first ``settle_s`` after a screen appears was aimed at the screen before;
  the flow ignores it (the follow-up must not take a reason from the finger that chose the face).
- **repeat**: a visit whose first touch comes within ``repeat_window_s`` of the touch before it (of any
  kind: a face, a reason, a tap on the thank-you screen, an ignored press) continues what came before,
  and its rating is flagged ``rapid_repeat``. Measured from the last touch, not the last rating, so a
  child who keeps tapping through the thank-you screen is caught whatever its length.
- **burst**: ``BURST_TOUCHES`` touches within ``BURST_S`` is a hand mashing, not a person choosing: a
  face tapped in a burst is flagged, and a reason chosen in a burst is not kept.

Nothing flagged is thrown away (a second visitor may really follow quickly); the flag lets reports
leave such ratings out and count them.
"""
from __future__ import annotations

from collections import deque
from typing import Optional

RAPID_REPEAT = "rapid_repeat"
BURST_TOUCHES = 4   # this many touches...
BURST_S = 1.0       # ...within this many seconds
CLAIM_S = 0.25      # a press this soon after a touch-down is that same touch, not another one


class PressFilter:
    def __init__(self, window_s: float, settle_s: float = 0.0):
        self.window_s = window_s
        self.settle_s = settle_s
        self.last: Optional[float] = None         # the last touch of any kind
        self.recent: deque[float] = deque(maxlen=BURST_TOUCHES)
        self._unclaimed: Optional[float] = None   # a touch-down no press has claimed yet
        self._visit_started = False
        self._visit_rapid = False

    def touch(self, now: float) -> None:
        """A finger came down anywhere on the screen."""
        if not self._visit_started:
            self._visit_started = True
            gap = None if self.last is None else now - self.last
            self._visit_rapid = self.window_s > 0 and gap is not None and 0 <= gap < self.window_s
        self.last = now
        self.recent.append(now)
        self._unclaimed = now

    def press(self, now: float) -> None:
        """A button acted at ``now``: its touch counts once, whether or not ``touch`` already saw it."""
        if self._unclaimed is None or not 0 <= now - self._unclaimed < CLAIM_S:
            self.touch(now)
        self._unclaimed = None

    def new_visit(self) -> None:
        """The rating screen is back (or idle): the next touch starts a visit."""
        self._visit_started = False

    def settled(self, now: float, shown_at: float) -> bool:
        """False in the first ``settle_s`` after a screen appeared at ``shown_at``."""
        return not 0 <= now - shown_at < self.settle_s

    def burst(self, now: float) -> bool:
        return (self.window_s > 0 and len(self.recent) == BURST_TOUCHES
                and 0 <= now - self.recent[0] < BURST_S)

    def rapid(self, now: float) -> bool:
        """Whether a rating chosen at ``now`` is flagged: the visit continued earlier touches, or a burst."""
        return self._visit_rapid or self.burst(now)

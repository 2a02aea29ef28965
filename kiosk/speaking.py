"""The speaking mode's edges, imported by the app only when ``voice.speaking.enabled``: what is said for each
of the flow's ``say:`` events, at which volume (a headset or the speaker), and touch gestures (a swipe moves,
a double tap chooses). Pure: no Kivy, so it is tested without a window; the flow keeps the mode's state."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

# A sound card a headset makes (USB headsets are cards of their own) or a jack the driver names so.
HEADSET_WORDS = ("headset", "headphone", "earphone", "usb audio", "usb-audio", "usb_audio")
CARDS = Path("/proc/asound/cards")

SWIPE_FRACTION = 0.12   # a finger moved across this share of the screen's width is a swipe
DOUBLE_TAP_S = 0.5      # two taps within this long choose
TAP_MOVE_FRACTION = 0.04  # a tap moves less than this share of the width


def headset_plugged(cards: Path = CARDS) -> bool:
    """Whether a headset seems plugged in: a sound card whose name says so (a USB headset, a jack card)."""
    try:
        text = cards.read_text(encoding="utf-8", errors="replace").lower()
    except OSError:
        return False
    return any(word in text for word in HEADSET_WORDS)


def volume(speaking_cfg, plugged: bool) -> float:
    """The speaking mode's volume: the headset's when one is plugged in (or configured so), else low."""
    use_headset = {"yes": True, "no": False}.get(speaking_cfg.headset, plugged)
    return speaking_cfg.headset_volume if use_headset else speaking_cfg.volume


def said(event: str, flow, officer: Optional[str] = None) -> list[str]:
    """The text keys said, one after another, for a flow event in the speaking mode (kiosk/voice.py has
    their clips). ``officer``: the key of the officer on duty, named after the question."""
    if event == "intro":
        return ["speaking_intro", "question", *([f"officer.{officer}"] if officer else []), "back_in.idle"]
    if event == "focus":
        focused = flow.focused()
        return [focused] if focused else []
    if event == "followup":
        return ["followup_question", "back_in.followup"]
    if event == "thanks":
        return ["thanks", "thanks_detail", "back_in.thanks"]
    if event == "listen":  # the choice last heard, else the screen's question
        focused = flow.focused()
        if focused:
            return [focused]
        return {"rating": ["question"], "followup": ["followup_question"],
                "thanks": ["thanks", "thanks_detail", "back_in.thanks"]}.get(flow.state.value, [])
    return []


class Gestures:
    """Touches in the speaking mode: a swipe right (or down) is next, left (or up) previous; a tap ("tap")
    names what is under the finger (a face, a reason), and a second tap within DOUBLE_TAP_S chooses what was
    last named. One finger at a time."""

    def __init__(self, width: float):
        self.width = width
        self.start: dict[object, tuple[float, float]] = {}
        self.last_tap: Optional[float] = None

    def down(self, uid, x: float, y: float) -> None:
        self.start[uid] = (x, y)

    def up(self, uid, x: float, y: float, now: float) -> Optional[str]:
        if uid not in self.start:
            return None
        x0, y0 = self.start.pop(uid)
        dx, dy = x - x0, y - y0
        if max(abs(dx), abs(dy)) >= self.width * SWIPE_FRACTION:
            self.last_tap = None
            if abs(dx) >= abs(dy):
                return "next" if dx > 0 else "previous"
            return "next" if dy < 0 else "previous"  # Kivy's y grows upwards: down is next
        if max(abs(dx), abs(dy)) > self.width * TAP_MOVE_FRACTION:
            return None
        if self.last_tap is not None and 0 <= now - self.last_tap < DOUBLE_TAP_S:
            self.last_tap = None
            return "choose"
        self.last_tap = now
        return "tap"

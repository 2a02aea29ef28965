"""Physical keys: a USB keypad, or arcade buttons wired to a GPIO-to-keyboard adapter (which types keys).

Pure logic, no Kivy: the names are Kivy's own key names (``kivy.core.window.Keyboard.keycodes``; the
part of it a keypad can type is config/keys.py),
and ``HeldKeys`` turns a key's stream of auto-repeat key-downs into one press.
"""
from __future__ import annotations

from typing import Optional

from config.keys import KEYCODES, NAMES, RESERVED, default_face_keys  # noqa: F401  (the key names, for callers)

# A key is released when its key-up comes, or when neither a key-up nor an auto-repeat was seen for this
# long (a key-up lost when the window lost focus must not make the key dead for ever). X repeats a held
# key after 0.5-0.66 s, then 25-30 times a second.
STALE_S = 1.0


def key_name(keycode: int) -> Optional[str]:
    return NAMES.get(keycode)


def pin_key(name: str) -> Optional[str]:
    """What a key does on a PIN screen (officer or technician): a digit, "C" (clear) or "OK"."""
    if len(name) == 1 and name.isdigit():
        return name
    if name.startswith("numpad") and name[6:].isdigit():
        return name[6:]
    return {"enter": "OK", "numpadenter": "OK", "backspace": "C", "delete": "C"}.get(name)


class HeldKeys:
    """Which keys are down. ``down`` is True only for a new press, never for a held key's auto-repeat."""

    def __init__(self, stale_s: float = STALE_S):
        self.stale_s = stale_s
        self._seen: dict[str, float] = {}  # key -> the last key-down (press or auto-repeat) seen

    def down(self, name: str, now: float) -> bool:
        last = self._seen.get(name)
        self._seen[name] = now
        return last is None or not 0 <= now - last < self.stale_s

    def up(self, name: str) -> None:
        self._seen.pop(name, None)

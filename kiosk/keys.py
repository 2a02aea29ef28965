"""Physical keys: a USB keypad, or arcade buttons wired to a GPIO-to-keyboard adapter (which types keys).

Pure logic, no Kivy: the names are Kivy's own key names (``kivy.core.window.Keyboard.keycodes``; the
table below is the part of it a keypad can type, checked against Kivy by tests/ui/test_kiosk_keys.py),
and ``HeldKeys`` turns a key's stream of auto-repeat key-downs into one press.
"""
from __future__ import annotations

import string
from typing import Optional

# Kivy's keycodes for the keys a keypad or a keyboard adapter types.
KEYCODES: dict[str, int] = {
    "backspace": 8, "tab": 9, "enter": 13, "escape": 27, "spacebar": 32, "delete": 127,
    "up": 273, "down": 274, "right": 275, "left": 276, "insert": 277, "home": 278, "end": 279,
    "pageup": 280, "pagedown": 281,
    **{c: ord(c) for c in string.ascii_lowercase + string.digits},
    **{f"numpad{i}": 256 + i for i in range(10)},
    "numpaddecimal": 266, "numpaddivide": 267, "numpadmul": 268, "numpadsubstract": 269,
    "numpadadd": 270, "numpadenter": 271,
    **{f"f{i}": 281 + i for i in range(1, 16)},
}
NAMES: dict[int, str] = {code: name for name, code in KEYCODES.items()}

# Escape is the technician's and Android's back key: the app swallows it, so it cannot be a citizen's key.
RESERVED = ("escape",)

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


def default_face_keys(scale: int) -> list[list[str]]:
    """Key i (top row and numpad) chooses face i, 1 the least satisfied."""
    return [[str(i), f"numpad{i}"] for i in range(1, scale + 1)]


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

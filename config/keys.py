"""The names of physical keys kiosk.yaml may map (``keys:``): Kivy's own key names for what a USB keypad or a
GPIO-to-keyboard adapter types (``kivy.core.window.Keyboard.keycodes``; checked against Kivy by
tests/ui/test_kiosk_keys.py). What a key does at the counter is the kiosk's (kiosk/keys.py)."""
from __future__ import annotations

import string

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


def default_face_keys(scale: int) -> list[list[str]]:
    """Key i (top row and numpad) chooses face i, 1 the least satisfied."""
    return [[str(i), f"numpad{i}"] for i in range(1, scale + 1)]

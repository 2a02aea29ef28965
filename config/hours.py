"""Opening hours as kiosk.yaml writes them (``duty.opening_hours``): ``{"mon-fri": ["07:30-11:30", ...]}``,
checked when the file is read and used by the kiosk's shift memory (kiosk/duty.py)."""
from __future__ import annotations

from datetime import time as dtime

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hours(spec: dict[str, list[str]]) -> dict[int, list[tuple[dtime, dtime]]]:
    """``{"mon-fri": ["07:30-11:30", "13:30-17:00"], "sat": ["07:30-11:30"]}`` -> weekday -> intervals."""
    out: dict[int, list[tuple[dtime, dtime]]] = {}
    for days, spans in spec.items():
        first, _, last = days.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"{days!r}: use day names {', '.join(WEEKDAYS)} or a range like mon-fri")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if b < a:
            raise ValueError(f"{days!r}: the range must run forwards (mon-fri)")
        parsed = []
        for span in spans:
            try:
                start, end = (dtime.fromisoformat(p.strip()) for p in span.split("-"))
            except ValueError:
                raise ValueError(f"{span!r}: write opening hours like 07:30-11:30") from None
            if end <= start:
                raise ValueError(f"{span!r}: the end must be after the start")
            parsed.append((start, end))
        for d in range(a, b + 1):
            out[d] = sorted(out.get(d, []) + parsed)
    return out

"""What each alert rule measures, and the state machine that makes an alert fire once and clear once.

Every function here is pure: the evaluator feeds it figures read from the database and persists the
state it returns. A verdict is True (the condition holds), False (clearly gone: past the hysteresis
band) or None (not enough data, or between the two thresholds: nothing changes).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Optional

OK, PENDING, FIRING, CLEARING = "ok", "pending", "firing", "clearing"
HYSTERESIS = 0.05  # default band between the firing and the clearing threshold of a rate


@dataclass(frozen=True)
class State:
    status: str = OK
    since: Optional[datetime] = None  # when the current status began
    alert_id: Optional[int] = None  # the open alert while firing or clearing
    value: Optional[float] = None
    memo: str = ""  # rule-specific memory (e.g. the last outbox depths)


def step(state: State, verdict: Optional[bool], now: datetime, for_minutes: float = 0,
         quiet: bool = False) -> tuple[State, Optional[str]]:
    """Next state and the event to announce: "fire", "clear" or None.

    ``for_minutes`` is the minimum duration: a condition must hold that long to fire and be gone that
    long to clear. ``quiet`` (centre closed, holiday) freezes an open alert and forgets a pending one, so
    nothing is announced at night.
    """
    hold = timedelta(minutes=for_minutes)
    if quiet:
        return (replace(state, status=OK, since=now) if state.status == PENDING else state), None
    s = state.status
    if s in (OK, PENDING):
        if verdict is True:
            if s == OK and hold:
                return replace(state, status=PENDING, since=now), None
            if s == OK or now - state.since >= hold:
                return replace(state, status=FIRING, since=now), "fire"
            return state, None
        if verdict is False and s == PENDING:
            return replace(state, status=OK, since=now), None
        return state, None
    # FIRING or CLEARING
    if verdict is False:
        if s == FIRING and hold:
            return replace(state, status=CLEARING, since=now), None
        if s == FIRING or now - state.since >= hold:
            return replace(state, status=OK, since=now, alert_id=None), "clear"
        return state, None
    if verdict is True and s == CLEARING:
        return replace(state, status=FIRING, since=now), None
    return state, None


# ------------------------------------------------------------------ verdicts per rule kind
def rate_below(rate: Optional[float], count: int, threshold: float, clear_at: Optional[float],
               min_count: int) -> Optional[bool]:
    """Satisfied rate under ``threshold`` fires; it clears at ``clear_at`` (default threshold + 0.05) or above."""
    if rate is None or count < min_count:
        return None
    clear = min(1.0, threshold + HYSTERESIS) if clear_at is None else clear_at
    if rate < threshold:
        return True
    return False if rate >= clear else None


def share_above(share: Optional[float], count: int, threshold: float, clear_at: Optional[float],
                min_count: int) -> Optional[bool]:
    """Share of negative answers at ``threshold`` or more fires; it clears at ``clear_at`` (default
    threshold - 0.05) or below."""
    if share is None or count < min_count:
        return None
    clear = max(0.0, threshold - HYSTERESIS) if clear_at is None else clear_at
    if share >= threshold:
        return True
    return False if share <= clear else None


def silent(open_minutes: float, minutes: float) -> bool:
    """A kiosk silent for ``minutes`` of opening time (nights and holidays do not count)."""
    return open_minutes >= minutes


def depths_push(memo: str, status_ts: Optional[str], depth: Optional[int], keep: int) -> str:
    """Remember the outbox depth of each new status (``ts=depth`` pairs, the last ``keep``)."""
    if status_ts is None or depth is None:
        return memo
    items = [p for p in memo.split(";") if p]
    if items and items[-1].rsplit("=", 1)[0] == status_ts:
        return memo
    items.append(f"{status_ts}={int(depth)}")
    return ";".join(items[-keep:])


def depths(memo: str) -> list[int]:
    return [int(p.rsplit("=", 1)[1]) for p in memo.split(";") if p]


def backlog_growing(history: list[int], statuses: int, min_depth: int) -> Optional[bool]:
    """Fires when the depth rose at every one of the last ``statuses`` statuses and is at least
    ``min_depth``; clears once it falls (the kiosk is delivering) or drops below ``min_depth``."""
    if len(history) < 2:
        return None
    last = history[-1]
    if len(history) >= statuses:
        tail = history[-statuses:]
        if last >= min_depth and all(b > a for a, b in zip(tail, tail[1:])):
            return True
    if last < min_depth or last < history[-2]:
        return False
    return None


def spike(count: int, threshold: float, clear_at: Optional[float]) -> Optional[bool]:
    """Rejects in the window at ``threshold`` or more fire; the alert clears under ``clear_at`` (default half)."""
    clear = threshold / 2 if clear_at is None else clear_at
    if count >= threshold:
        return True
    return False if count < clear else None

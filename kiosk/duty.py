"""Who is on duty at this counter: officer sign-in with a personal PIN, lockout, sign-out by the
officer, at closing time and after an idle spell. Pure: time comes in as arguments; the wrong-PIN
counts are per officer and kept on disk by kiosk/pin_lockout.py.

Every change of duty returns the durable event to record (``sign_in``, ``sign_out``,
``auto_sign_out``) so a shift is never lost offline; the screen only shows the officer's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time as dtime
from typing import Callable, Optional

from config.hours import parse_hours  # noqa: F401  (kiosk.yaml's hours read, for callers)
from config.pins import verify_pin

from .pin_lockout import MAX_TRIES, PinLockout  # noqa: F401  (MAX_TRIES: the rule's number, for callers)


@dataclass(frozen=True)
class Officer:
    key: str
    name: str
    pin_hash: str
    services: tuple[str, ...] = ()
    photo: Optional[str] = None


@dataclass(frozen=True)
class DutyChange:
    event: str                    # sign_in / sign_out / auto_sign_out
    officer: str
    service: Optional[str]
    detail: str = ""


def pin_checker(duty_cfg) -> Callable[[str, str], bool]:
    """The PIN check a kiosk's ``duty:`` settings ask for: PINs shorter than ``pin_min_digits`` never match,
    and hashes made with a PIN key are checked with the key file ``pin_key`` names (read at each check,
    so a key put in place later works without a restart)."""
    import logging

    from config.pins import read_pin_key

    def check(pin: str, stored: str) -> bool:
        if len(pin or "") < duty_cfg.pin_min_digits:
            return False
        key = None
        if duty_cfg.pin_key is not None:
            try:
                key = read_pin_key(duty_cfg.pin_key.resolve())
            except ValueError as exc:
                logging.getLogger(__name__).error("officer PINs cannot be checked: duty.pin_key: %s", exc)
        return verify_pin(pin, stored, key)

    return check


def closing_time(hours: dict[int, list[tuple[dtime, dtime]]], local: datetime) -> Optional[dtime]:
    spans = hours.get(local.weekday())
    return spans[-1][1] if spans else None


@dataclass
class Duty:
    officers: dict[str, Officer]
    hours: dict[int, list[tuple[dtime, dtime]]] = field(default_factory=dict)
    idle_sign_out_s: float = 0.0          # 0: never for idleness
    lockout_s: float = 300.0
    verify: Callable[[str, str], bool] = verify_pin
    lockout: Optional[PinLockout] = None  # None: counted in memory only

    officer: Optional[Officer] = None
    service: Optional[str] = None
    signed_in_at: float = 0.0
    last_activity: float = 0.0

    def __post_init__(self) -> None:
        if self.lockout is None:
            self.lockout = PinLockout(None, self.lockout_s)

    # ------------------------------------------------------------ sign-in
    def locked(self, now: float, officer_key: Optional[str] = None) -> float:
        """Seconds left of this officer's lockout (without a key: of any officer's), 0 when PINs may be tried."""
        if officer_key is not None:
            return self.lockout.locked(officer_key, now)
        return max((self.lockout.locked(k, now) for k in list(self.lockout.officers)), default=0.0)

    def try_pin(self, officer_key: str, pin: str, now: float) -> str:
        """``ok``, ``wrong`` or ``locked``; five wrong PINs in a row for one officer lock that officer's
        entry (each lockout in a row twice as long); the other officers may still sign in."""
        if self.lockout.locked(officer_key, now):
            return "locked"
        officer = self.officers.get(officer_key)
        if officer is not None and self.verify(pin, officer.pin_hash):
            self.lockout.right(officer_key)
            return "ok"
        return "locked" if self.lockout.wrong(officer_key, now) else "wrong"

    def services_for(self, officer_key: str) -> tuple[str, ...]:
        officer = self.officers.get(officer_key)
        return officer.services if officer else ()

    def sign_in(self, officer_key: str, service: Optional[str], now: float) -> list[DutyChange]:
        """After ``try_pin`` said ok. Signing in over someone else signs them out first."""
        changes = []
        if self.officer is not None:
            changes += self.sign_out(now, detail=f"replaced by {officer_key}")
        officer = self.officers[officer_key]
        if service is None and len(officer.services) == 1:
            service = officer.services[0]
        self.officer, self.service = officer, service
        self.signed_in_at = self.last_activity = now
        changes.append(DutyChange("sign_in", officer.key, service))
        return changes

    def sign_out(self, now: float, auto: bool = False, detail: str = "") -> list[DutyChange]:
        if self.officer is None:
            return []
        change = DutyChange("auto_sign_out" if auto else "sign_out", self.officer.key, self.service, detail)
        self.officer, self.service = None, None
        return [change]

    # ------------------------------------------------------------ the shift
    def activity(self, now: float) -> None:
        """A rating or a touch: the counter is in use."""
        self.last_activity = now

    def tick(self, now: float, local: datetime, signed_in_local: Optional[datetime] = None) -> list[DutyChange]:
        """Sign out automatically at closing time and after ``idle_sign_out_s`` without activity."""
        if self.officer is None:
            return []
        if self.idle_sign_out_s and now - self.last_activity >= self.idle_sign_out_s:
            return self.sign_out(now, auto=True, detail="idle")
        close = closing_time(self.hours, local)
        if self.hours and (close is None or local.time() >= close):
            # Closed all day (a Sunday), or past today's last opening span.
            if signed_in_local is None or signed_in_local.date() != local.date() or close is None \
                    or signed_in_local.time() < close:
                return self.sign_out(now, auto=True, detail="closing time")
        return []

"""The officer's screens at the counter, as a plain state machine: pick your name, enter your PIN,
pick today's service; the same entry signs you out. No Kivy, no clock of its own: ``now`` is
monotonic seconds and ``local`` the counter's local time, both passed in (tests inject them).

Every change of duty goes to ``record`` (the recorder's durable event) before the screen moves on.
The officer never sees a rating here: only names, the keypad and the services.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

from .duty import Duty, DutyChange

PICK, PIN, SERVICE, ON_DUTY = "officer_pick", "officer_pin", "officer_service", "officer_on_duty"
MAX_PIN_LEN = 12


class OfficerEntry:
    def __init__(self, duty: Duty, record: Callable[[DutyChange], None], idle_s: float = 30.0):
        self.duty = duty
        self.record = record
        self.idle_s = idle_s
        self.screen: Optional[str] = None   # None: the citizen's screens
        self.chosen: Optional[str] = None   # the officer key being signed in or out
        self.pin = ""
        self.result = ""                    # "", "wrong", "locked": what the last PIN did
        self.last_touch = 0.0
        self.signed_in_local: Optional[datetime] = None

    @property
    def active(self) -> bool:
        return self.screen is not None

    def _go(self, screen: Optional[str], now: float) -> None:
        self.screen, self.last_touch = screen, now
        if screen in (None, PICK):
            self.chosen, self.pin, self.result = None, "", ""

    def open(self, now: float) -> None:
        self._go(PICK, now)

    def close(self, now: float) -> None:
        self._go(None, now)

    def pick(self, key: str, now: float) -> None:
        if self.screen == PICK and key in self.duty.officers:
            self.chosen, self.pin, self.result = key, "", ""
            self.screen, self.last_touch = PIN, now

    def digit(self, d: str, now: float) -> None:
        if self.screen == PIN and d.isdigit() and len(self.pin) < MAX_PIN_LEN:
            self.pin += d
            self.last_touch = now

    def clear(self, now: float) -> None:
        if self.screen == PIN:
            self.pin, self.last_touch = "", now

    def submit(self, now: float, local: datetime) -> str:
        """``ok``, ``wrong`` or ``locked``. The officer on duty goes to the sign-out screen; anyone
        else signs in (straight away with one service, after picking one with several)."""
        if self.screen != PIN or self.chosen is None:
            return ""
        entered, self.pin, self.last_touch = self.pin, "", now
        self.result = self.duty.try_pin(self.chosen, entered, now)
        if self.result != "ok":
            return self.result
        if self.duty.officer is not None and self.duty.officer.key == self.chosen:
            self.screen = ON_DUTY
        elif len(self.duty.services_for(self.chosen)) > 1:
            self.screen = SERVICE
        else:
            self._sign_in(None, now, local)
        return "ok"

    def pick_service(self, service: str, now: float, local: datetime) -> None:
        if self.screen == SERVICE and service in self.duty.services_for(self.chosen):
            self._sign_in(service, now, local)

    def _sign_in(self, service: Optional[str], now: float, local: datetime) -> None:
        for change in self.duty.sign_in(self.chosen, service, now):
            self.record(change)
        self.signed_in_local = local
        self._go(None, now)

    def sign_out(self, now: float) -> None:
        """The officer on duty, after their PIN, ends the shift."""
        if self.screen == ON_DUTY:
            for change in self.duty.sign_out(now):
                self.record(change)
            self.signed_in_local = None
            self._go(None, now)

    def change_service(self, now: float) -> None:
        if self.screen == ON_DUTY and len(self.duty.services_for(self.chosen)) > 1:
            self.screen, self.last_touch = SERVICE, now

    def tick(self, now: float, local: datetime) -> list[DutyChange]:
        """Closes forgotten officer screens, and signs out at closing time or after the idle time."""
        if self.screen is not None and now - self.last_touch >= self.idle_s:
            self._go(None, now)
        changes = self.duty.tick(now, local, self.signed_in_local)
        for change in changes:
            self.record(change)
        if changes:
            self.signed_in_local = None
        return changes

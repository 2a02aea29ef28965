"""The screen flow as a plain state machine: no Kivy, no clock of its own, no I/O but one sink.

Every method takes ``now`` (monotonic seconds) so tests drive time explicitly. The Kivy layer
forwards touches here and draws whatever ``state`` and ``lang`` say. A finished rating goes to
``sink`` (the durable outbox) BEFORE the state becomes THANKS: if the sink raises, the citizen does
not see a thank-you for a rating that was not kept.

Presses that are not a choice (kiosk/repeat.py): a press in the first ``settle_s`` after a screen
appears is ignored; a rating flagged ``rapid_repeat`` (mashing, or a visit that continues the last
one's touches) asks no follow-up, and a reason chosen in a burst of touches is not kept.

Physical keys (``key_down``/``key_up``, names from kiosk.yaml ``keys``) take the same paths as touches: a
face key is ``tap_face``, so the same filters flag it; a held key's auto-repeat is not a new press. On the
technician's PIN screen digits, Enter and Backspace type the PIN.

The speaking mode (``voice.speaking``), for a citizen who cannot see: ``speak_on`` (a key, or a long press
anywhere) says how to rate (``say:intro``); ``move`` reaches the choices of the screen one by one, faces or
reasons then skip (``say:focus``, the app names ``focus``); ``choose`` takes the one last heard. Its ratings
carry ``speaking`` (the recorder puts the flag on the wire); its time-outs are longer and announced; the
mode ends when the rating screen comes back, for the next citizen.
"""
from __future__ import annotations

import hmac
import logging
from datetime import datetime
from enum import Enum
from typing import Callable, Optional

from broker.contract import Rating, new_event_id, utcnow
from config.kiosk import FACES_FOR_SCALE, KioskConfig

from .keys import HeldKeys, pin_key
from .repeat import RAPID_REPEAT, PressFilter

log = logging.getLogger(__name__)


class State(str, Enum):
    RATING = "rating"
    FOLLOWUP = "followup"
    THANKS = "thanks"
    PIN = "pin"            # technician PIN entry, after the hidden corner hold
    TECHNICIAN = "technician"


TECH_TIMEOUT_S = 300.0  # the technician view closes itself if left open
MAX_PIN_LEN = 12


class Flow:
    def __init__(self, cfg: KioskConfig, sink: Callable[[Rating], None],
                 notify: Callable[[str], None] = lambda event: None,
                 utc: Callable[[], datetime] = utcnow, now: float = 0.0):
        self.cfg = cfg
        self.sink = sink
        self.notify = notify  # "changed", "audio:start", "audio:thanks", "exit"
        self.utc = utc
        self.faces = FACES_FOR_SCALE[cfg.faces.scale]
        self.reasons = list(cfg.followup.reasons) if cfg.followup.enabled else []
        self.presses = PressFilter(cfg.repeat_window_s, cfg.settle_s)
        self.state = State.RATING
        self.lang = cfg.languages.default
        self.entered = now          # when the current state began
        self.shown = float("-inf")  # when the current screen appeared; the first one is settled already
        self.last_touch = now       # any touch, for the idle timeout
        self.session_open = False   # a citizen has started interacting since the rating screen came back
        self.pending: Optional[tuple[int, str, list[str], datetime]] = None  # rating waiting for a reason
        self.corner_since: Optional[float] = None
        self.rated_speaking = False
        self.pin = ""
        self.pin_failures = 0
        self.last_rating: Optional[Rating] = None
        self.held = HeldKeys()
        self.speaking_on = cfg.voice.enabled and cfg.voice.speaking.enabled  # the mode is offered
        self.speaking = False   # this visit is in the speaking mode
        self.focus = -1         # speaking mode: the choice last heard (-1: none yet)
        self.key_actions: dict[str, tuple[str, int]] = {}  # key name -> ("face", i) / ("listen", 0) / ("back", 0)
        if cfg.keys.enabled:
            for i, names in enumerate(cfg.keys.faces or [], start=1):
                self.key_actions.update({n: ("face", i) for n in names})
            self.key_actions.update({n: ("listen", 0) for n in cfg.keys.listen})
            self.key_actions.update({n: ("back", 0) for n in cfg.keys.back})
            if self.speaking_on:
                for kind in ("speak", "next", "previous", "choose"):
                    self.key_actions.update({n: (kind, 0) for n in getattr(cfg.keys, kind)})

    @property
    def thanks_s(self) -> float:
        """How long the thank-you stays: longer when it shows the follow-up QR (the same for every face)."""
        qr = self.cfg.followup_qr
        base = self.cfg.voice.speaking.thank_you_s if self.speaking else self.cfg.timeouts.thank_you_s
        return max(base, qr.seconds) if qr.enabled else base

    @property
    def followup_s(self) -> float:
        return self.cfg.voice.speaking.followup_s if self.speaking else self.cfg.timeouts.followup_s

    @property
    def idle_s(self) -> float:
        return self.cfg.voice.speaking.idle_s if self.speaking else self.cfg.timeouts.idle_s

    # ------------------------------------------------------------ helpers
    def _go(self, state: State, now: float) -> None:
        self.state = state
        self.entered = self.shown = now
        self.focus = -1
        if state is State.RATING:
            self.session_open = False
            self.speaking = False  # the next citizen starts with the ordinary screen
            self.presses.new_visit()
        self.notify("changed")

    def touch(self, now: float) -> None:
        """Any touch-down anywhere (the Kivy root sees each one first): keeps the screen from going idle,
        feeds the press filter; the first one of a visit plays the prompt."""
        self.presses.touch(now)
        self._awake(now)

    def _press(self, now: float) -> bool:
        """A button of the current screen acted; False when the screen has not settled (ignore it)."""
        self.presses.press(now)
        self._awake(now)
        if not self.presses.settled(now, self.shown):
            log.info("press %.2f s after the %s screen appeared: ignored", now - self.shown, self.state.value)
            return False
        return True

    def _awake(self, now: float) -> None:
        self.last_touch = now
        if self.state is State.RATING and not self.session_open:
            self.session_open = True
            self.notify("audio:start")

    def _record(self, rating: int, reason: Optional[str], flags: list[str], ts: datetime, now: float) -> Rating:
        msg = Rating(id=new_event_id(), site=self.cfg.site, device=self.cfg.device, ts=ts, rating=rating,
                     scale=self.cfg.faces.scale, reason=reason, lang=self.lang, officer=self.cfg.officer,
                     service=self.cfg.service, flags=flags)
        self.rated_speaking = self.speaking  # the recorder reads it in sink: the rating's speaking flag
        self.sink(msg)  # durable before the thank-you shows
        self.last_rating = msg
        self.pending = None
        self._go(State.THANKS, now)
        self.notify("audio:thanks")
        return msg

    # ------------------------------------------------------------ citizen
    def tap_face(self, rating: int, now: float) -> Optional[Rating]:
        """A face was tapped (1 = least satisfied). Returns the recorded Rating, or None while a reason is asked."""
        if self.state is not State.RATING:
            return None
        if not 1 <= rating <= self.cfg.faces.scale:
            raise ValueError(f"rating {rating} outside 1..{self.cfg.faces.scale}")
        if not self._press(now):
            return None
        flags = [RAPID_REPEAT] if self.presses.rapid(now) else []
        ts = self.utc()  # the moment of the tap, not of the reason
        # a flagged rating asks nothing: the next press of a mashing hand would pick the "reason"
        if self.reasons and rating <= self.cfg.followup.ask_at_or_below and not flags:
            self.pending = (rating, self.lang, flags, ts)
            self._go(State.FOLLOWUP, now)
            if self.speaking:
                self.notify("say:followup")
            return None
        return self._record(rating, None, flags, ts, now)

    def choose_reason(self, key: Optional[str], now: float) -> Optional[Rating]:
        """A reason button (or skip, ``key=None``) on the follow-up screen."""
        if self.state is not State.FOLLOWUP or self.pending is None:
            return None
        if key is not None and key not in {r.key for r in self.reasons}:
            raise ValueError(f"unknown reason {key!r}")
        if not self._press(now):
            return None
        rating, _lang, flags, ts = self.pending
        if self.presses.burst(now):  # the face was a choice, this press was not: keep no reason
            return self._record(rating, None, [*flags, RAPID_REPEAT], ts, now)
        return self._record(rating, key, flags, ts, now)

    def skip(self, now: float) -> Optional[Rating]:
        return self.choose_reason(None, now)

    def key_down(self, name: str, now: float, faces_shown: bool = True) -> Optional[Rating]:
        """A physical key went down. On the rating screen face key i taps face i; on the follow-up screen it
        chooses reason i and back skips; listen asks for the current screen's words to be spoken
        (``audio:listen``). A held key's auto-repeat does nothing. ``faces_shown`` is False while the app
        shows something else over the flow (the waiting or out-of-order screen): the key is only a touch."""
        if self.state is State.PIN:  # the technician types the PIN on a keypad as on the screen's
            pressed = pin_key(name)
            if pressed is None or not self.held.down(name, now):
                return None
            if pressed == "OK":
                self.submit_pin(now)
            elif pressed == "C":
                self.clear_pin(now)
            else:
                self.press_digit(pressed, now)
            return None
        action = self.key_actions.get(name)
        if action is None or not self.held.down(name, now):
            return None  # not a citizen's key, or the same press still held (auto-repeat)
        kind, index = action
        if self.state is State.TECHNICIAN:
            return None  # the technician's view is worked by touch
        if kind in ("speak", "next", "previous", "choose"):
            if not faces_shown:
                self.touch(now)
                return None
            if kind == "speak":
                self.speak_on(now)
                return None
            if not self.speaking:
                self.touch(now)
                return None
            return self.choose(now) if kind == "choose" else self.move(1 if kind == "next" else -1, now)
        if faces_shown and kind == "face" and self.state is State.RATING:
            return self.tap_face(index, now)
        if faces_shown and self.state is State.FOLLOWUP:
            if kind == "face" and index <= len(self.reasons):
                return self.choose_reason(self.reasons[index - 1].key, now)
            if kind == "back":
                return self.skip(now)
        opening = self.state is State.RATING and not self.session_open
        self.touch(now)  # like a touch where nothing can be pressed: keeps awake, feeds the mash filter
        if kind == "listen" and not opening:  # the visit's first key already played the question
            self.notify("audio:listen")
        return None

    # ------------------------------------------------------------ speaking mode
    def choices(self) -> list[str]:
        """What ``move`` goes through on this screen, as text keys: face.<level>, reason.<key>, skip."""
        if self.state is State.RATING:  # the faces, then the languages (each said in itself)
            langs = self.cfg.languages.enabled
            return [f"face.{level}" for level in self.faces] + ([f"lang.{c}" for c in langs] if len(langs) > 1 else [])
        if self.state is State.FOLLOWUP:
            return [f"reason.{r.key}" for r in self.reasons] + ["skip"]
        return []

    def speak_on(self, now: float) -> bool:
        """Turns the speaking mode on (a key or a long press) on the rating screen; says how to rate."""
        if not self.speaking_on or self.state is not State.RATING:
            return False
        self.last_touch = now
        self.session_open = True  # the intro says the question: no separate start prompt
        if not self.speaking:
            self.speaking = True
            self.focus = -1
            self.notify("changed")
        self.notify("say:intro")  # a second press hears it again
        return True

    def move(self, step: int, now: float) -> None:
        """Speaking mode: the next (``step`` 1) or previous (-1) choice, named aloud (``say:focus``)."""
        choices = self.choices()
        self.last_touch = now  # not a press: listening to each choice in turn is no mashing
        if not self.speaking or not choices:
            return
        self.focus = (self.focus + step) % len(choices) if self.focus >= 0 else (0 if step > 0 else len(choices) - 1)
        self.notify("say:focus")

    def focus_to(self, choice: str, now: float) -> None:
        """Speaking mode: a finger on a face or reason names it (``say:focus``); a double tap then chooses it."""
        choices = self.choices()
        self.last_touch = now
        if self.speaking and choice in choices:
            self.focus = choices.index(choice)
            self.notify("say:focus")

    def focused(self) -> Optional[str]:
        choices = self.choices()
        return choices[self.focus] if 0 <= self.focus < len(choices) else None

    def choose(self, now: float) -> Optional[Rating]:
        """Speaking mode: takes the choice last heard; before any was heard, says how to move (the intro)."""
        if not self.speaking:
            return None
        choice = self.focused()
        if choice is None:
            self.last_touch = now
            self.notify("say:intro" if self.state is State.RATING else "say:followup")
            return None
        if choice.startswith("lang."):  # the kiosk speaks that language from now on
            self.last_touch = now
            if choice[5:] != self.lang:
                self.lang = choice[5:]
                self.notify("changed")
            self.focus = -1
            self.notify("say:intro")
            return None
        if choice.startswith("face."):
            return self.tap_face(self.focus + 1, now)
        return self.choose_reason(None if choice == "skip" else choice[7:], now)

    def key_up(self, name: str, now: float) -> None:
        self.held.up(name)

    def set_lang(self, lang: str, now: float) -> None:
        if lang not in self.cfg.languages.enabled:
            raise ValueError(f"language {lang!r} is not enabled")
        if not self._press(now):
            return
        if lang != self.lang:
            self.lang = lang
            self.notify("changed")
            self.notify("audio:start")

    # ------------------------------------------------------------ technician
    def corner_down(self, now: float) -> None:
        if self.cfg.technician is not None and self.state in (State.RATING, State.THANKS):
            self.corner_since = now

    def corner_up(self, now: float) -> None:
        self.tick(now)
        self.corner_since = None

    def press_digit(self, digit: str, now: float) -> None:
        if self.state is State.PIN and digit.isdigit() and len(self.pin) < MAX_PIN_LEN:
            self.pin += digit
            self.last_touch = now
            self.notify("changed")

    def clear_pin(self, now: float) -> None:
        if self.state is State.PIN:
            self.pin = ""
            self.last_touch = now
            self.notify("changed")

    def _technician_pin_ok(self, entered: str) -> bool:
        tech = self.cfg.technician
        if tech.pin_hash is not None:  # delivered with enrolment or a push: only its hash is on the device
            from .duty import pin_checker

            return bool(entered) and pin_checker(self.cfg.duty)(entered, tech.pin_hash)
        try:
            expected = tech.pin.resolve()
        except ValueError as exc:  # PIN not set on this device: the view stays closed
            log.error("technician PIN unavailable: %s", exc)
            return False
        return bool(expected) and hmac.compare_digest(entered.encode(), expected.encode())

    def submit_pin(self, now: float) -> bool:
        if self.state is not State.PIN:
            return False
        self.last_touch = now
        entered, self.pin = self.pin, ""
        if self._technician_pin_ok(entered):
            self.pin_failures = 0
            self._go(State.TECHNICIAN, now)
            return True
        self.pin_failures += 1
        log.warning("wrong technician PIN (%d failed attempts)", self.pin_failures)
        if self.pin_failures % 3 == 0:
            self._go(State.RATING, now)
        else:
            self.notify("changed")
        return False

    def leave_technician(self, now: float) -> None:
        if self.state in (State.PIN, State.TECHNICIAN):
            self.pin = ""
            self.lang = self.cfg.languages.default
            self._go(State.RATING, now)

    def request_exit(self) -> bool:
        """Only the technician view may close the app."""
        if self.state is State.TECHNICIAN:
            self.notify("exit")
            return True
        return False

    # ------------------------------------------------------------ time
    def tick(self, now: float) -> None:
        """Called often (a few times a second) by the UI clock; applies every timeout due at ``now``."""
        t = self.cfg.timeouts
        if self.corner_since is not None and now - self.corner_since >= self.cfg.technician.hold_s:
            self.corner_since = None
            self.pin = ""
            self.last_touch = now
            self._go(State.PIN, now)
            return
        if self.state is State.FOLLOWUP and now - self.entered >= self.followup_s:
            rating, _lang, flags, ts = self.pending
            self._record(rating, None, flags, ts, now)  # the rating counts even without a reason
        elif self.state is State.THANKS and now - self.entered >= self.thanks_s:
            self._go(State.RATING, now)
        elif self.state is State.PIN and now - self.last_touch >= t.idle_s:
            self.leave_technician(now)
        elif self.state is State.TECHNICIAN and now - self.last_touch >= max(TECH_TIMEOUT_S, t.idle_s):
            self.leave_technician(now)
        if self.state is State.RATING and now - self.last_touch >= self.idle_s:
            if self.speaking:
                self.speaking = False
                self.notify("changed")
            self.session_open = False
            self.presses.new_visit()
            if self.lang != self.cfg.languages.default:
                self.lang = self.cfg.languages.default
                self.notify("changed")

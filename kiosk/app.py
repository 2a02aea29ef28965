"""The Kivy app: draws what the flow says and forwards touches to it. Layout is in kiosk.kv.

Import ``kiosk.display`` and call ``configure()`` before this module: Kivy reads window settings
when the window is created.
"""
from __future__ import annotations

import dataclasses
from collections import deque
import logging
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import Screen

from broker.contract import rating_topic
from config.kiosk import KioskConfig

from . import __version__
from .faces import FaceDrawing  # noqa: F401  (used by kiosk.kv)
from .flow import Flow, State
from .keys import key_name, pin_key
from .clock import KioskClock, clock_wrong_text
from .duty import Duty, DutyChange, Officer, closing_time, parse_hours, pin_checker
from . import pin_lockout
from .shift_memory import ShiftMemory, beside_outbox as shift_file
from .officer_ui import ON_DUTY, PIN as OFFICER_PIN, SERVICE as OFFICER_SERVICE, OfficerEntry
from .outbox import Outbox
from .recorder import Recorder
from .requests import Requests
from config.texts import FAULT_HINTS, OFFICER_SCREENS, Texts, officer_text
from .uplink import Uplink

log = logging.getLogger(__name__)
KV = Path(__file__).with_name("kiosk.kv")
CORNER_FRACTION = 0.14  # the hidden technician corner: this share of the shorter screen side
KEY_ESCAPE, KEY_BACK = 27, 1001
CLOCK_WARN_S = 60.0  # the technician view calls the clock wrong past this
# what the listen key says on each screen
LISTEN_TEXT = {State.RATING: "question", State.FOLLOWUP: "followup_question", State.THANKS: "thanks"}


RESTART = 75  # run_app's answer when the kiosk stopped to start again on a new kiosk.yaml
CONFIG_CALM_S = 5.0  # a pushed config takes effect only after the screen was untouched this long


class FaceButton(ButtonBehavior, BoxLayout):
    level = StringProperty("neutral")
    label = StringProperty("")
    rating = NumericProperty(0)


class LangButton(Button):
    code = StringProperty("")
    current = BooleanProperty(False)


class KioskScreen(Screen):
    pass


class OfficerButton(ButtonBehavior, BoxLayout):
    """A name on the officer's pick screen, with the photo when one is configured."""
    key = StringProperty("")
    label = StringProperty("")
    photo = StringProperty("")


class OfficerBadge(BoxLayout):
    """The discreet officer entry: the officer line of the rating screen (a faint person sign when
    nobody is on duty). Held for ``duty.hold_s`` it opens the officer's screens; a short press does
    nothing, so a citizen's touch never opens them."""

    def on_touch_down(self, touch):
        if self.disabled or not self.collide_point(*touch.pos):
            return super().on_touch_down(touch)
        app = App.get_running_app()
        touch.ud["officer_badge"] = Clock.schedule_once(lambda _dt: app.on_officer_entry(), app.cfg.duty.hold_s)
        return False  # the touch goes on to whatever lies below (a language button)

    def on_touch_up(self, touch):
        ev = touch.ud.pop("officer_badge", None)
        if ev is not None:
            ev.cancel()
        return super().on_touch_up(touch)


class WaitingScreen(Screen):
    pass


class OfficerPickScreen(KioskScreen):
    pass


class OfficerPinScreen(KioskScreen):
    pass


class OfficerServiceScreen(KioskScreen):
    pass


class OfficerOnDutyScreen(KioskScreen):
    pass


class RatingScreen(KioskScreen):
    pass


class FollowupScreen(KioskScreen):
    pass


class ThanksScreen(KioskScreen):
    pass


class OutOfOrderScreen(KioskScreen):
    """Shown instead of a thank-you when a rating could not be made durable (a storage fault), and
    for as long as the fault lasts: an honest "out of order, tell the counter" in every enabled
    language, with a drawn warning sign that needs no reading."""


class PinScreen(KioskScreen):
    pass


class TechScreen(KioskScreen):
    pass


class KioskRoot(FloatLayout):
    """Sees every touch first: keeps the screen awake and watches the hidden technician corner."""

    def _in_corner(self, touch) -> bool:
        app = App.get_running_app()
        side = min(self.width, self.height) * CORNER_FRACTION
        corner = app.cfg.technician.corner if app.cfg.technician else "top-left"
        left = touch.x <= self.x + side if "left" in corner else touch.x >= self.right - side
        top = touch.y >= self.top - side if corner.startswith("top") else touch.y <= self.y + side
        return left and top

    def on_touch_down(self, touch):
        app = App.get_running_app()
        now = time.monotonic()
        if app.entry.active:  # the officer's screens: not a citizen's visit, no technician corner
            app.entry.last_touch = now
            return super().on_touch_down(touch)
        app.duty.activity(now)  # the counter is in use: no idle sign-out
        app.flow.touch(now)
        if self._in_corner(touch):
            touch.ud["kiosk_corner"] = True
            app.flow.corner_down(now)
        elif app.speaking_ui is not None and app.sm.current in ("rating", "followup", "thanks"):
            if app.flow.speaking:  # gestures only: no button is pressed by a finger looking for it
                touch.ud["speaking"] = True
                app.gestures.width = self.width
                app.gestures.down(touch.uid, touch.x, touch.y)
                return True
            badge = self.ids.badge
            if app.sm.current == "rating" and not (not badge.disabled and badge.collide_point(*touch.pos)):
                # Held for voice.speaking.hold_s anywhere, the touch turns the speaking mode on; a shorter
                # one reaches the buttons when the finger lifts.
                touch.ud["speak_hold"] = Clock.schedule_once(lambda _dt: self._speak_hold(touch),
                                                             app.cfg.voice.speaking.hold_s)
                touch.ud["speak_from"] = touch.pos
                return True
        return super().on_touch_down(touch)

    def _speak_hold(self, touch) -> None:
        touch.ud["speak_hold"] = None
        App.get_running_app().flow.speak_on(time.monotonic())

    def on_touch_move(self, touch):
        if touch.ud.get("speaking"):
            return True
        if "speak_hold" in touch.ud:  # held back from the buttons until it lifts (or turns the mode on)
            ev = touch.ud["speak_hold"]
            x0, y0 = touch.ud["speak_from"]
            if ev and max(abs(touch.x - x0), abs(touch.y - y0)) > self.width * 0.04:  # a moving finger: no hold
                ev.cancel()
                touch.ud["speak_hold"] = False
            return True
        return super().on_touch_move(touch)

    def on_touch_up(self, touch):
        app = App.get_running_app()
        if touch.ud.get("kiosk_corner"):
            app.flow.corner_up(time.monotonic())
        if touch.ud.get("speaking"):
            now = time.monotonic()
            action = app.gestures.up(touch.uid, touch.x, touch.y, now)
            if action == "choose":
                app.flow.choose(now)
            elif action == "tap":
                choice = app.choice_at(touch.pos)
                if choice is not None:
                    app.flow.focus_to(choice, now)
            elif action in ("next", "previous"):
                app.flow.move(1 if action == "next" else -1, now)
            return True
        if "speak_hold" in touch.ud:
            ev = touch.ud.pop("speak_hold")
            if ev is None:
                return True  # the long press turned the speaking mode on
            if ev:
                ev.cancel()
            super().on_touch_down(touch)  # a short press: the buttons under it get it now
        return super().on_touch_up(touch)


class KioskApp(App):
    unit = NumericProperty(8.0)  # 1% of the window height; every size in kiosk.kv is a multiple
    t_question = StringProperty("")
    t_followup = StringProperty("")
    t_skip = StringProperty("")
    t_thanks = StringProperty("")
    t_thanks_detail = StringProperty("")
    t_qr_caption = StringProperty("")
    t_speaking = StringProperty("")       # the speaking mode's banner (nothing of the choice)
    pin_mask = StringProperty("")
    pin_wrong = BooleanProperty(False)
    tech_info = StringProperty("")
    t_out_of_order = StringProperty("")   # every enabled language, one line each
    t_out_of_order_detail = StringProperty("")
    config_notice = StringProperty("")  # set when running on the last good config or without a file
    t_officer = StringProperty("")        # "Cán bộ tiếp nhận: <name>" while an officer is on duty
    officer_photo = StringProperty("")
    badge_right = BooleanProperty(False)  # the badge moves right when the technician corner is bottom-left
    t_waiting = StringProperty("")
    t_waiting_detail = StringProperty("")
    o_title = StringProperty("")          # officer screens: title, PIN mask, message
    o_pin_mask = StringProperty("")
    o_message = StringProperty("")
    o_texts = OFFICER_SCREENS

    def __init__(self, cfg: KioskConfig, config_path: Path | str, outbox_path: Path | str,
                 host: Optional[str] = None, port: Optional[int] = None, config_hash: Optional[str] = None,
                 start_uplink: bool = True, **kw):
        super().__init__(**kw)
        self.title = "Hài lòng"
        self.cfg = cfg
        self.config_path = str(Path(config_path).resolve())
        self.texts = Texts(cfg)
        self.outbox = Outbox(outbox_path)
        self.topic = rating_topic(cfg.site, cfg.device, cfg.broker.topic_prefix)
        # Contract v2: every rating and event carries the tap's boot and monotonic time and the
        # outbox's epoch and seq; a request from the desk attaches its dossier and ticket.
        self.clock = KioskClock()
        self.requests = Requests(cfg.requests.mode, per_minute=cfg.requests.max_per_minute)
        self.duty = Duty({m.key: Officer(m.key, m.name, m.pin_hash, tuple(m.services),
                                         str(m.photo) if m.photo and Path(m.photo).is_file() else None)
                          for m in cfg.staff},
                         hours=parse_hours(cfg.duty.opening_hours), idle_sign_out_s=cfg.duty.idle_sign_out_s,
                         lockout_s=cfg.duty.lockout_s, verify=pin_checker(cfg.duty),
                         lockout=pin_lockout.beside_outbox(outbox_path, cfg.duty.lockout_s, self.clock.boot))
        # The counter's local time, for closing time: a seam, so tests set the hour without waiting.
        self.local_now: Callable[[], datetime] = datetime.now
        self.entry = OfficerEntry(self.duty, self._record_duty, idle_s=cfg.timeouts.idle_s)
        self.recorder = Recorder(cfg, self.outbox, self.clock, requests=self.requests, duty=self.duty)
        self.uplink = Uplink(cfg, self.outbox, config_hash=config_hash, host=host, port=port, wire_v2=True,
                             clock=self.clock, inbound=self._inbound, status_extra=self._status_extra)
        self.start_uplink = start_uplink
        self.config_taker = self._config_taker(cfg)
        self.restart_for_config = False  # a pushed config was applied (or rolled back): restart when calm
        self.restarting = False          # stopped to restart: run_app returns RESTART
        self.flow = Flow(cfg, self._keep, self._on_flow_event, now=time.monotonic())
        self._sounds: dict[tuple[str, str], object] = {}
        self._last_key: tuple = ()
        self._voice = None     # kiosk.voice.Clips, made at the first clip when voice is on
        self._playing = None
        self._queue: list[tuple[str, Path]] = []  # clips still to say, one after another
        self._queue_ev = None
        self.speaking_ui = None  # kiosk.speaking, imported only when voice.speaking is on
        self.gestures = None
        self._headset = False
        self.played: deque[str] = deque(maxlen=200)  # "lang:text:file" of the last clips played, in order (tests)
        self._unvoiced: set[tuple[str, str]] = set()  # texts without a clip, logged once
        self._tech_clock = None
        self.shift_memory = ShiftMemory(shift_file(outbox_path))
        self._restore_shift()

    # ------------------------------------------------------------ build
    def load_kv(self, filename=None):
        # explicit, so the rules are loaded once whatever the App subclass is called
        if KV.name not in {Path(f).name for f in Builder.files}:
            Builder.load_file(str(KV))
        return True

    def build(self):
        root = KioskRoot()
        self.sm = root.ids.sm
        self.unit = Window.height / 100.0
        Window.bind(size=lambda _w, size: setattr(self, "unit", size[1] / 100.0))
        Window.bind(on_keyboard=self._on_keyboard, on_request_close=self._on_request_close)
        if self.cfg.keys.enabled:
            Window.bind(on_key_down=self._on_key_down, on_key_up=self._on_key_up)
        self._build_faces()
        self._build_langs()
        self._build_reasons()
        self._build_keypad()
        self._build_officers()
        self._build_followup_qr()
        if self.flow.speaking_on:
            from . import speaking

            self.speaking_ui = speaking
            self.gestures = speaking.Gestures(Window.width)
        self.badge_right = bool(self.cfg.technician) and self.cfg.technician.corner == "bottom-left"
        if self.config_notice:
            from .config_problem import NoticeMarker

            root.add_widget(NoticeMarker(self.cfg.technician.corner if self.cfg.technician else "top-left"))
        self._render()
        Clock.schedule_interval(lambda _dt: self.flow.tick(time.monotonic()), 0.1)
        Clock.schedule_interval(lambda _dt: self._expire_requests(), 1.0)
        Clock.schedule_interval(lambda _dt: self._duty_tick(), 0.5)
        Clock.schedule_interval(lambda _dt: self._follow_config(), 1.0)
        # the outbox heals itself in the background: follow it (out of order <-> normal) without a touch
        Clock.schedule_interval(lambda _dt: self._follow_fault(), 0.5)
        # systemd stops the service with SIGTERM: close cleanly (SDL would turn it into a close request)
        signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda _dt: self.stop()))
        if self.start_uplink:
            self.uplink.start()
        return root

    def _build_followup_qr(self) -> None:
        """The thank-you QR, only when followup_qr is on: its module (and segno) is not imported otherwise."""
        self.followup_qr = None
        qr_cfg = self.cfg.followup_qr
        if not qr_cfg.enabled:
            return
        from kivy.uix.anchorlayout import AnchorLayout
        from kivy.uix.label import Label

        from .followup_qr import FollowupQr

        self.followup_qr = FollowupQr(qr_cfg.size_mm)
        holder = AnchorLayout(anchor_x="center", size_hint_y=None, height=self.followup_qr.height)
        holder.add_widget(self.followup_qr)
        caption = Label(size_hint_y=None, halign="center", color=(0.1, 0.1, 0.1, 1))
        self.bind(t_qr_caption=caption.setter("text"))
        self.bind(unit=lambda _a, u: setattr(caption, "font_size", u * 3.4))
        caption.font_size = self.unit * 3.4
        caption.bind(width=lambda c, w: setattr(c, "text_size", (w, None)),
                     texture_size=lambda c, ts: setattr(c, "height", ts[1]))
        slot = self._screen("thanks").ids.qr_slot
        slot.add_widget(caption)
        slot.add_widget(holder)
        slot.spacing = self.unit * 1.5
        caption.bind(height=lambda *_: setattr(slot, "height", caption.height + holder.height + slot.spacing))
        slot.height = holder.height + caption.height + slot.spacing

    def _screen(self, name: str) -> Screen:
        return self.sm.get_screen(name)

    def _build_faces(self):
        box = self._screen("rating").ids.faces
        for i, level in enumerate(self.flow.faces, start=1):
            btn = FaceButton(level=level, rating=i)
            btn.bind(on_press=lambda b: self.on_face(int(b.rating)))
            box.add_widget(btn)

    def _build_langs(self):
        box = self._screen("rating").ids.langs
        for code in self.cfg.languages.enabled:
            custom = self.cfg.languages.custom.get(code)
            picture = getattr(custom, "picture", None)
            if picture is not None and Path(picture).is_file():
                btn = self._picture_lang(code, str(picture))
            else:
                btn = LangButton(code=code, text=self.texts.name(code), size_hint_x=None)
                btn.bind(texture_size=lambda b, ts: setattr(b, "width", ts[0] + self.unit * 6))
            btn.bind(on_press=lambda b: self.on_lang(b.code))
            box.add_widget(btn)

    def _picture_lang(self, code: str, picture: str) -> LangButton:
        """A language without a written form (or in a script the font lacks): its button shows a picture
        (languages.custom.<code>.picture), the technician's choice of what its speakers recognise."""
        from kivy.uix.image import Image

        btn = LangButton(code=code, text="", size_hint_x=None, width=self.unit * 16)
        self.bind(unit=lambda _a, u: setattr(btn, "width", u * 16))
        img = Image(source=picture, fit_mode="contain")
        btn.add_widget(img)
        btn.bind(pos=lambda b, p: setattr(img, "pos", (p[0] + self.unit, p[1] + self.unit * 0.6)),
                 size=lambda b, s: setattr(img, "size", (s[0] - 2 * self.unit, s[1] - 1.2 * self.unit)))
        return btn

    def _build_reasons(self):
        grid = self._screen("followup").ids.reasons
        for reason in self.flow.reasons:
            btn = self._big_button()
            btn.reason_key = reason.key
            btn.bind(on_press=lambda b: self.on_reason(b.reason_key))
            grid.add_widget(btn)

    def _build_keypad(self):
        pad = self._screen("pin").ids.keypad
        for key in "123456789C0":
            btn = self._big_button(text=key)
            btn.bind(on_press=lambda b: self.on_pin_key(b.text))
            pad.add_widget(btn)
        ok = self._big_button(text="OK")
        ok.bind(on_press=lambda b: self.on_pin_ok())
        pad.add_widget(ok)

    def _build_officers(self):
        grid = self._screen("officer_pick").ids.names
        for m in sorted(self.duty.officers.values(), key=lambda o: o.name):
            btn = OfficerButton(key=m.key, label=m.name, photo=m.photo or "")
            btn.bind(on_press=lambda b: self.on_officer_pick(b.key))
            grid.add_widget(btn)
        pad = self._screen("officer_pin").ids.keypad
        for key in "123456789C0":
            btn = self._big_button(text=key)
            btn.bind(on_press=lambda b: self.on_officer_key(b.text))
            pad.add_widget(btn)
        ok = self._big_button(text="OK")
        ok.bind(on_press=lambda b: self.on_officer_ok())
        pad.add_widget(ok)

    def _build_services(self):
        grid = self._screen("officer_service").ids.services
        grid.clear_widgets()
        names = {p.key: p.name for p in self.cfg.services}
        for key in self.duty.services_for(self.entry.chosen or ""):
            btn = self._big_button(text=names.get(key, key))
            btn.service_key = key
            btn.bind(on_press=lambda b: self.on_officer_service(b.service_key))
            grid.add_widget(btn)

    def _big_button(self, **kw):
        from kivy.factory import Factory

        return Factory.BigButton(**kw)

    # ------------------------------------------------------------ events from the flow
    def _keep(self, rating) -> None:
        # Committed before the thank-you screen is drawn. If the disk refuses, the outbox keeps the
        # rating in memory and names the fault; _render then shows "out of order" instead of thanks.
        self.recorder.rating(rating, speaking=self.flow.rated_speaking)
        if self.followup_qr is not None:
            # The thank-you frame comes first; the QR is made and drawn on the next one (a few ms), so the
            # tap-to-thanks time stays what it was. The last citizen's code is gone before the screen shows.
            link, qr = self.recorder.followup_link or "", self.followup_qr
            qr.url = ""
            Clock.schedule_once(lambda _dt: setattr(qr, "url", link), 0)

    # ------------------------------------------------------------ messages to the kiosk (v2)
    def _inbound(self, kind: str, topic: str, payload: bytes) -> None:
        """On the uplink thread: decode here, act on the Kivy thread."""
        from broker.contract import ContractError, Request, decode

        if kind == "config":
            Clock.schedule_once(lambda _dt: self._take_config(topic, payload), 0)
            return
        if kind != "request":
            return
        try:
            req = decode(topic, payload, self.cfg.broker.topic_prefix)
        except ContractError as exc:
            log.warning("ignored a request that does not follow the contract: %s", exc)
            return
        if isinstance(req, Request):
            Clock.schedule_once(lambda _dt: self._take_request(req), 0)

    def _take_request(self, req) -> None:
        for gone in self.requests.offer(req, time.monotonic()):
            self._request_expired(gone, "replaced by a newer request")
        self._render()  # on_request: the faces come out of the waiting screen

    def _request_expired(self, req, detail: str) -> None:
        self.recorder.event("request_expired", request=req.id, dossier=req.dossier, ticket=req.ticket,
                            service=req.service, officer=req.officer, detail=detail)

    def _expire_requests(self) -> None:
        gone_any = False
        for gone in self.requests.expire(time.monotonic()):
            self._request_expired(gone, "nobody answered in time")
            gone_any = True
        if gone_any:
            self._render()

    def _status_extra(self) -> dict:
        problem = self.config_notice or (self.config_taker.config_error if self.config_taker else "") or ""
        notice = " ".join("".join(c if c.isprintable() else " " for c in problem).split())
        officer = self.duty.officer  # read on the uplink thread: one attribute read, never half-changed
        return {"config_error": notice[:500] or None, "officer": officer.key if officer else None,
                "pushes": "on" if self.config_taker is not None else "off"}

    # ------------------------------------------------------------ officers on duty
    def _record_duty(self, change: DutyChange) -> None:
        """Sign-in, sign-out and automatic sign-out: durable events, so a shift is never lost offline."""
        self.recorder.event(change.event, officer=change.officer, service=change.service,
                            detail=change.detail or None)
        if change.event == "sign_in":  # kept beside the outbox: a power cut does not end it silently
            self.shift_memory.signed_in(change.officer, change.service, datetime.now().astimezone(), time.monotonic())
        else:
            self.shift_memory.signed_out()

    def _restore_shift(self) -> None:
        """Started after a stop mid-shift (a power cut): sign the officer in again when it is safe."""
        now = datetime.now().astimezone()
        close = closing_time(self.duty.hours, now) if self.duty.hours else None
        closing = now.replace(hour=close.hour, minute=close.minute, second=0, microsecond=0) if close else None
        if self.duty.hours and close is None:
            closing = now  # closed today
        back = self.shift_memory.restorable(now, self.cfg.duty.idle_sign_out_s, closing)
        if back is None or back["officer"] not in self.duty.officers:
            return
        log.warning("signed in again after a restart mid-shift: %s", back["officer"])
        for change in self.duty.sign_in(back["officer"], back.get("service"), time.monotonic()):
            if change.event == "sign_in":
                change = dataclasses.replace(change, detail="restored after a restart")
            self._record_duty(change)

    def _duty_tick(self) -> None:
        if self.duty.officer is not None:  # when the counter was last in use, for a restart mid-shift
            mono = time.monotonic()
            used = datetime.now().astimezone() - timedelta(seconds=max(0.0, mono - self.duty.last_activity))
            self.shift_memory.touch(used, mono)
        state = lambda: (self.entry.screen, self.duty.officer,  # noqa: E731
                         self.duty.locked(time.monotonic(), self.entry.chosen) > 0)
        before = state()
        self.entry.tick(time.monotonic(), self.local_now())
        if before != state() or self.entry.screen == OFFICER_PIN:  # the lockout countdown moves
            self._render()

    # ------------------------------------------------------------ configs pushed by the fleet tool
    def _config_taker(self, cfg):
        if cfg.fleet is None:
            return None
        from broker.fleet import FleetKeyError, load_public

        from .config_apply import ConfigTaker

        try:
            key = load_public(cfg.fleet.public_key)
        except FleetKeyError as exc:
            log.error("pushed configs are refused: %s", exc)
            return None
        return ConfigTaker(Path(self.config_path), cfg.site, cfg.device, [key], cfg.broker.topic_prefix,
                           rollback_after_s=cfg.fleet.rollback_after_s)

    def _take_config(self, topic: str, payload: bytes) -> None:
        if self.config_taker is None:
            return
        self._config_outcome(self.config_taker.offer(topic, payload, time.monotonic()))

    def _config_outcome(self, outcome) -> None:
        if outcome is None or outcome.event is None:
            return
        self.recorder.event(outcome.event, config_hash=outcome.config_hash,
                            detail=" ".join(outcome.detail.split())[:500] or None)
        if outcome.config is not None:  # a new config (or the previous one back): restart on it when calm
            self.restart_for_config = True

    def _follow_config(self) -> None:
        """Every second: confirm a new config once the broker is reached, roll back one that never
        reaches it, and restart on a changed kiosk.yaml at a calm moment (the rating screen, nobody
        touching it), so no visit is cut and every tap is already in the outbox."""
        taker = self.config_taker
        if taker is not None:
            # The taker confirms only a connection made with the new config: after the restart onto it.
            if self.uplink.connected:
                taker.connected(self.uplink.connections)
            self._config_outcome(taker.tick(time.monotonic()))
        if self.restart_for_config and self.flow.state is State.RATING \
                and time.monotonic() - self.flow.last_touch >= CONFIG_CALM_S:
            log.warning("a new kiosk.yaml was applied: restarting on it")
            self.restarting = True
            self.stop()

    @property
    def out_of_order(self) -> bool:
        """A storage fault: the next tap could not be made durable, so no face is offered."""
        return self.outbox.fault is not None and self.flow.state not in (State.PIN, State.TECHNICIAN)

    def _follow_fault(self) -> None:
        if self.out_of_order != (self.sm.current == "outoforder"):
            self._render()

    def _screen_name(self) -> str:
        if self.entry.active:
            return self.entry.screen
        if self.out_of_order:
            return "outoforder"
        if self.flow.state is State.RATING and not self.requests.should_ask(time.monotonic()):
            return "waiting"  # on_request: calm until the desk asks
        return self.flow.state.value

    def _render_officer(self, lang: str) -> None:
        on_duty = self.duty.officer
        self.t_officer = officer_text(lang, "officer_on_duty", self.cfg.languages.default,
                                      name=on_duty.name) if on_duty else ""
        self.officer_photo = (on_duty.photo or "") if on_duty else ""
        self.t_waiting = officer_text(lang, "waiting", self.cfg.languages.default)
        self.t_waiting_detail = officer_text(lang, "waiting_detail", self.cfg.languages.default)
        e, o = self.entry, OFFICER_SCREENS
        chosen = self.duty.officers.get(e.chosen or "")
        name = chosen.name if chosen else ""
        self.o_title = {OFFICER_PIN: o["pin"], OFFICER_SERVICE: o["service"], ON_DUTY: o["on_duty"]}.get(
            e.screen, o["pick"]).format(name=name)
        self.o_pin_mask = "•" * len(e.pin)
        left = self.duty.locked(time.monotonic(), e.chosen) if e.chosen else 0
        if e.screen == OFFICER_PIN and left:
            self.o_message = o["locked"].format(left=f"{int(left) // 60}:{int(left) % 60:02d}")
        elif e.screen == OFFICER_PIN and e.result == "wrong" and not e.pin:
            self.o_message = o["wrong"]
        else:
            self.o_message = ""

    def _on_flow_event(self, event: str) -> None:
        if event == "changed":
            self._render()
        elif event.startswith("say:") or event.startswith("audio:"):
            if self.out_of_order:  # no spoken thanks for a rating the disk refused
                return
            kind = event.split(":", 1)[1]
            if self.flow.speaking and self.speaking_ui is not None:
                if kind == "intro":  # the volume of this visit: a headset plugged in now, or the speaker
                    self._headset = self.speaking_ui.headset_plugged()
                officer = self.duty.officer.key if self.duty.officer else self.cfg.officer
                self._say(self.speaking_ui.said(kind, self.flow, officer))
            elif event.startswith("audio:"):
                self._play(kind)
        elif event == "exit":
            self.stop()

    def _render(self) -> None:
        lang, t = self.flow.lang, self.texts
        self.t_question = t.get(lang, "question")
        self.t_followup = t.get(lang, "followup_question")
        self.t_skip = t.get(lang, "skip")
        self.t_thanks = t.get(lang, "thanks")
        self.t_thanks_detail = t.get(lang, "thanks_detail")
        self.t_qr_caption = t.get(lang, "qr_caption")
        self.t_speaking = t.get(lang, "speaking_banner") if self.flow.speaking and \
            self.flow.state in (State.RATING, State.FOLLOWUP) else ""
        langs = [lang] + [c for c in self.cfg.languages.enabled if c != lang]
        self.t_out_of_order = "\n".join(dict.fromkeys(t.get(c, "out_of_order") for c in langs))
        self.t_out_of_order_detail = "\n".join(dict.fromkeys(t.get(c, "out_of_order_detail") for c in langs))
        for btn in self._screen("rating").ids.faces.children:
            btn.label = t.face(lang, btn.level)
        for btn in self._screen("rating").ids.langs.children:
            btn.current = btn.code == lang
        reasons = {r.key: r for r in self.flow.reasons}
        for btn in self._screen("followup").ids.reasons.children:
            btn.text = t.reason(lang, reasons[btn.reason_key])
        self.pin_mask = "•" * len(self.flow.pin)
        self.pin_wrong = self.flow.state is State.PIN and self.flow.pin_failures > 0 and not self.flow.pin
        self._render_officer(lang)
        state = self._screen_name()
        if state == OFFICER_SERVICE and self.sm.current != state:
            self._build_services()
        if self.sm.current != state:
            self.sm.current = state
        if self.flow.state is State.TECHNICIAN:
            self._refresh_tech()
            if self._tech_clock is None:
                self._tech_clock = Clock.schedule_interval(lambda _dt: self._refresh_tech(), 1.0)
        elif self._tech_clock is not None:
            self._tech_clock.cancel()
            self._tech_clock = None

    def _local(self, when: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A time as the dashboard shows it: in the config's zone, not the device's own (often UTC)."""
        from zoneinfo import ZoneInfo

        return when.astimezone(ZoneInfo(self.cfg.timezone)).strftime(fmt)

    def _refresh_tech(self) -> None:
        """The technician view, Vietnamese first: a commune's technician reads it at the counter."""
        up = self.uplink
        depth = self.outbox.depth()
        warn = depth > self.cfg.outbox.warn_depth
        last = self._local(up.last_sent, "%Y-%m-%d %H:%M:%S") if up.last_sent else "-"
        shown = {"connected": "đã kết nối / connected", "connecting": "đang kết nối / connecting",
                 "disconnected": "mất kết nối / disconnected", "not started": "chưa chạy / not started",
                 "stopped": "đã dừng / stopped"}.get(up.state, up.state)
        state = f"[color={'1a8a2a' if up.state == 'connected' else 'c0392b'}]{shown}[/color]"
        lines = [
            f"Điểm / Site: {self.cfg.site}    Thiết bị / Device: {self.cfg.device}",
            f"Phiên bản / App version: {__version__}",
            f"Cấu hình / Config: {self.config_path}",
            f"Máy chủ / Broker: {up.host}:{up.port} (MQTT {self.cfg.broker.protocol})  {state}",
            f"Hộp thư đi / Outbox: {depth} đang chờ / waiting" + (
                f"  [color=c0392b][b]CẢNH BÁO / WARNING: quá / above warn_depth {self.cfg.outbox.warn_depth}[/b][/color]"
                if warn else ""),
            f"Gửi lần cuối / Last sent: {last}  ({self.cfg.timezone})",
            self._receipt_line(),
            self._clock_line(),
        ]
        if up.last_error and up.state != "connected":
            lines.append(f"Lỗi gần nhất / Last error: {up.last_error[:120]}")
        lines += self._storage_lines()
        if self.config_notice:
            from kivy.utils import escape_markup

            lines += [f"[color=b35c00]{escape_markup(line[:160])}[/color]"
                      for line in self.config_notice.splitlines()[:6]]
        self.tech_info = "\n".join(lines)

    def _receipt_line(self) -> str:
        """What the broker took that the database has not confirmed yet (receipts), Vietnamese first."""
        up = self.uplink
        if up.receipts == "fallback":
            return ("[color=c0392b]Chờ CSDL: không có biên nhận, tin máy chủ MQTT / no receipts from the "
                    "collector: trusting the broker[/color]")
        if up.receipts == "off":
            return "Chờ CSDL / waiting for the database: biên nhận tắt / receipts off"
        n, oldest = self.outbox.waiting()  # counted now: the view refreshes every second
        if not n:
            return "Chờ CSDL / waiting for the database: 0"
        since = oldest
        try:
            since = self._local(datetime.fromisoformat(oldest.replace("Z", "+00:00")))
        except (AttributeError, ValueError):
            pass
        return f"Chờ CSDL / waiting for the database: {n}, cũ nhất / oldest {since}"

    def _clock_line(self) -> str:
        """How far this kiosk's clock is from the collector's (heard on <prefix>/time)."""
        off = self.uplink.clock_offset_s
        synced = "NTP đã đồng bộ / NTP synced" if self.clock.is_synced() else "không có NTP / no NTP"
        if off is None:
            return f"Đồng hồ / Clock: {synced}; chưa nghe giờ máy thu / collector's time not heard yet"
        return (f"Đồng hồ / Clock: {synced}; " + (clock_wrong_text(off) if abs(off) >= CLOCK_WARN_S
                                                   else "đúng (trong một phút) / right (within a minute)")
                + f"  (máy này / this kiosk: {self._local(datetime.now(timezone.utc))})")

    def _storage_lines(self) -> list[str]:
        from kivy.utils import escape_markup

        box, red = self.outbox, "[color=c0392b][b]{}[/b][/color]"
        lines = []
        if self.uplink.duplicate_id:
            lines.append(red.format("Một kiosk khác dùng cùng mã thiết bị / another kiosk uses this device id")
                         + ": mỗi kiosk cần tài khoản riêng / give each its own (broker add-device)")
        if box.fault:
            held = f"; giữ trong bộ nhớ / held in memory: {len(box.memory)}" if box.memory else ""
            lines.append(red.format(f"Lưu trữ / Storage: {box.fault.upper()}") + f"{held} - {FAULT_HINTS.get(box.fault, '')}")
        else:
            lines.append(f"Lưu trữ / Storage: ok  (epoch {(box.epoch or '-')[:8]}, seq {box.seq_last})")
        report = box.salvage
        if report and "moved_to" in report:
            lines.append(red.format("Hộp thư đi bị hỏng / Outbox was corrupt") + f": cứu được / salvaged "
                         f"{report['salvaged']}, không đọc được / unreadable {report['unreadable']}; tệp hỏng giữ "
                         f"lại / damaged file kept as {escape_markup(Path(report['moved_to']).name)}")
        elif report:
            known = report.get("at_last_stop")
            lines.append(red.format("Hộp thư đi bị mất hoặc rỗng / Outbox was missing or empty") + ": " +
                         (f"mất {known} đánh giá đang chờ / {known} ratings waiting at the last stop are lost"
                          if known is not None else "mất các đánh giá đang chờ / ratings waiting in it are lost")
                         + "; đã bắt đầu hộp thư mới / a new outbox was started")
        return lines

    def _clip(self, kind: str) -> tuple[Optional[Path], str]:
        """The file to play for a flow event (start, thanks, listen) and the text key it says. With voice on,
        the clips built by ``python -m kiosk voice build`` (kiosk/voice.py, imported only then); else the
        optional audio prompts."""
        if not self.cfg.voice.enabled:
            return self.cfg.audio.get(self.flow.lang, {}).get(kind), kind
        if self._voice is None:
            from .voice import Clips

            self._voice = Clips(self.cfg)
        key = {"start": "question", "thanks": "thanks"}.get(kind) or LISTEN_TEXT.get(self.flow.state)
        if key is None:
            return None, kind
        path = self._voice.get(self.flow.lang, key)
        if path is None and (self.flow.lang, key) not in self._unvoiced:
            self._unvoiced.add((self.flow.lang, key))
            log.warning("không có câu nói / no clip for %s in %s: run python -m kiosk voice build", key, self.flow.lang)
        return path, key

    def _play(self, kind: str) -> None:
        """Optional spoken prompt; a missing or broken file is logged once and otherwise ignored."""
        path, said = self._clip(kind)
        if path is not None:
            self._say_files([(said, path)])

    def _say(self, keys: list[str]) -> None:
        """The speaking mode: these texts of the screen's language, one after another (kiosk/voice.py clips)."""
        if self._voice is None:
            from .voice import Clips

            self._voice = Clips(self.cfg)
        items = []
        for key in keys:
            path = self._voice.get(self.flow.lang, key)
            if path is not None:
                items.append((key, path))
            elif (self.flow.lang, key) not in self._unvoiced:
                self._unvoiced.add((self.flow.lang, key))
                log.warning("không có câu nói / no clip for %s in %s: run python -m kiosk voice build", key,
                            self.flow.lang)
        self._say_files(items)

    def _say_files(self, items: list[tuple[str, Path]]) -> None:
        """New words cut the last ones short, and what was still to be said."""
        if self._queue_ev is not None:
            self._queue_ev.cancel()
            self._queue_ev = None
        self._queue = list(items)
        self._next_clip()

    def _volume(self) -> float:
        if self.flow.speaking and self.speaking_ui is not None:
            return self.speaking_ui.volume(self.cfg.voice.speaking, self._headset)
        return self.cfg.voice.volume if self.cfg.voice.enabled else 1.0

    def _next_clip(self, *_args) -> None:
        self._queue_ev = None
        while self._queue:
            said, path = self._queue.pop(0)
            key = (self.flow.lang, said)
            try:
                if key not in self._sounds:
                    from kivy.core.audio import SoundLoader

                    sound = SoundLoader.load(str(path)) if Path(path).is_file() else None
                    if sound is None:
                        log.warning("audio prompt %s cannot be played (missing or unsupported file)", path)
                    self._sounds[key] = sound
                sound = self._sounds[key]
                if sound is None:
                    continue
                if self._playing is not None and self._playing is not sound:
                    self._playing.stop()  # a new screen's words cut the last ones short
                sound.stop()
                sound.volume = self._volume()
                sound.play()
                self._playing = sound
                self.played.append(f"{self.flow.lang}:{said}:{Path(path).name}")
                if self._queue:
                    self._queue_ev = Clock.schedule_once(self._next_clip, max(0.2, sound.length or 0) + 0.15)
                return
            except Exception as exc:  # audio must never take the kiosk down
                log.warning("audio prompt %s failed: %s", path, exc)
                self._sounds[key] = None

    # ------------------------------------------------------------ touches
    def on_face(self, rating: int) -> None:
        self.flow.tap_face(rating, time.monotonic())

    def on_reason(self, key: str) -> None:
        self.flow.choose_reason(key, time.monotonic())

    def on_skip(self) -> None:
        self.flow.skip(time.monotonic())

    def on_lang(self, code: str) -> None:
        self.flow.set_lang(code, time.monotonic())

    def on_pin_key(self, key: str) -> None:
        if key == "C":
            self.flow.clear_pin(time.monotonic())
        else:
            self.flow.press_digit(key, time.monotonic())

    def on_pin_ok(self) -> None:
        self.flow.submit_pin(time.monotonic())
        self._render()

    def on_officer_entry(self) -> None:
        if self.sm.current in ("rating", "waiting") and not self.entry.active:
            self.entry.open(time.monotonic())
            self._render()

    def on_officer_pick(self, key: str) -> None:
        self.entry.pick(key, time.monotonic())
        self._render()

    def on_officer_key(self, key: str) -> None:
        if key == "C":
            self.entry.clear(time.monotonic())
        else:
            self.entry.digit(key, time.monotonic())
        self._render()

    def on_officer_ok(self) -> None:
        self.entry.submit(time.monotonic(), self.local_now())
        self._render()

    def on_officer_service(self, key: str) -> None:
        self.entry.pick_service(key, time.monotonic(), self.local_now())
        self._render()

    def on_officer_sign_out(self) -> None:
        self.entry.sign_out(time.monotonic())
        self._render()

    def on_officer_change_service(self) -> None:
        self.entry.change_service(time.monotonic())
        self._render()

    def on_officer_cancel(self) -> None:
        self.entry.close(time.monotonic())
        self._render()

    def on_leave_technician(self) -> None:
        self.flow.leave_technician(time.monotonic())

    def on_exit(self) -> None:
        self.flow.request_exit()

    def choice_at(self, pos) -> Optional[str]:
        """Speaking mode: the face or reason (or skip) under a finger, as the flow names its choices."""
        if self.sm.current == "rating":
            for btn in self._screen("rating").ids.faces.children:
                if btn.collide_point(*btn.to_widget(*pos)):
                    return f"face.{btn.level}"
        elif self.sm.current == "followup":
            screen = self._screen("followup")
            for btn in screen.ids.reasons.children:
                if btn.collide_point(*btn.to_widget(*pos)):
                    return f"reason.{btn.reason_key}"
            if screen.ids.skip.collide_point(*screen.ids.skip.to_widget(*pos)):
                return "skip"
        return None

    def _on_key_down(self, _window, keycode, *_args):
        """A physical key (keypad, arcade buttons): the flow decides, as for a touch (kiosk.yaml keys)."""
        name = key_name(keycode)
        if (name, keycode) != self._last_key:  # for the technician finding a button's name (-v)
            self._last_key = (name, keycode)
            log.info("phím / key %s (keycode %s)%s", name, keycode,
                     "" if name in self.flow.key_actions else ": không dùng / not in keys")
        if name is None:
            return False
        now = time.monotonic()
        if self.entry.active:  # the officer's screens: a keypad types the PIN; the rest is by touch
            pressed = pin_key(name)
            if self.entry.screen == OFFICER_PIN and pressed is not None and self.flow.held.down(name, now):
                self.on_officer_ok() if pressed == "OK" else self.on_officer_key(pressed)
            return False
        self.duty.activity(now)
        self.flow.key_down(name, now, faces_shown=self._screen_name() == self.flow.state.value)
        return False

    def _on_key_up(self, _window, keycode, *_args):
        name = key_name(keycode)
        if name is not None:
            self.flow.key_up(name, time.monotonic())
        return False

    def _on_keyboard(self, _window, key, *_args):
        # Escape and Android's back key are swallowed: only the technician view closes the app.
        return key in (KEY_ESCAPE, KEY_BACK)

    def _on_request_close(self, *_args, **_kw):
        return self.flow.state is not State.TECHNICIAN  # True keeps the window open

    def on_stop(self):
        # A shift must not run on in the reports after the kiosk stopped: end it while the outbox is open.
        for change in self.duty.sign_out(time.monotonic(), auto=True, detail="kiosk stopped"):
            self._record_duty(change)
        self.uplink.stop()
        self.outbox.close()


def run_app(cfg: KioskConfig, config_path, outbox_path, host=None, port=None, windowed=None, config_hash=None,
            config_notice: str = "", on_start=None) -> int:
    app = KioskApp(cfg, config_path, outbox_path, host, port, config_hash)
    app.config_notice = config_notice
    if on_start is not None:
        app.bind(on_start=on_start)
    app.run()
    return RESTART if app.restarting else 0

"""kiosk.yaml: one counter's terminal."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .common import (BrokerConnection, SipasElement, ConfigPath, InputFile, Key, LangCode, OptionalInputFile, Secret, Slug, Strict,
                     TimeZone)
from .pins import hash_key_id
from .staff import PinHash, StaffInclude, StaffMember, load_staff, unique_keys

# The five face shapes, least to most satisfied; a kiosk with fewer faces uses a subset.
FACE_LEVELS = ("very_unhappy", "unhappy", "neutral", "happy", "very_happy")
FACES_FOR_SCALE = {
    2: ("unhappy", "happy"),
    3: ("unhappy", "neutral", "happy"),
    4: ("very_unhappy", "unhappy", "happy", "very_happy"),
    5: FACE_LEVELS,
}


class Faces(Strict):
    scale: Annotated[int, Field(ge=2, le=5, description="how many faces: 2 to 5")] = 5
    satisfied: Optional[list[int]] = Field(
        None, description="which ratings count as satisfied (default: the top two, or the top one for 2-3 faces)")

    @model_validator(mode="after")
    def _satisfied_in_scale(self) -> "Faces":
        if self.satisfied is None:
            self.satisfied = list(range(self.scale - (1 if self.scale <= 3 else 2) + 1, self.scale + 1))
        bad = [r for r in self.satisfied if not 1 <= r <= self.scale]
        if bad:
            raise ValueError(f"satisfied ratings {bad} are outside 1 to {self.scale}")
        return self


class LanguageTexts(Strict):
    """Every word a screen shows, in one language. Missing texts fall back to the default language."""

    name: Annotated[str, Field(min_length=1, description="the language's name in itself, e.g. Tiếng Việt")]
    question: Optional[str] = None
    faces: Optional[dict[Literal[FACE_LEVELS], str]] = None  # type: ignore[valid-type]
    followup_question: Optional[str] = None
    skip: Optional[str] = None
    thanks: Optional[str] = None
    thanks_detail: Optional[str] = None
    speaking_intro: Optional[str] = None
    back_in: Optional[str] = Field(None, description="the announced time-out, with {seconds}")
    picture: Optional[OptionalInputFile] = Field(
        None, description="PNG shown on the language button instead of the name (a language with no written "
                          "form, or a script the font lacks); its texts are then heard from voice.clips")


class Languages(Strict):
    default: LangCode = "vi"
    enabled: list[LangCode] = Field(default_factory=lambda: ["vi", "en"], min_length=1,
                                    description="language buttons shown, in order")
    custom: dict[LangCode, LanguageTexts] = Field(
        default_factory=dict, description="added languages, or overrides of shipped texts")

    @model_validator(mode="after")
    def _default_enabled(self) -> "Languages":
        if self.default not in self.enabled:
            raise ValueError(f"default language {self.default!r} must be in enabled {self.enabled}")
        from .texts import SHIPPED

        missing = [c for c in self.enabled if c not in SHIPPED and c not in self.custom]
        if missing:
            raise ValueError(f"languages {missing} have no texts; add them under languages.custom "
                             f"(shipped: {', '.join(sorted(SHIPPED))})")
        return self


class Reason(Strict):
    key: Key
    texts: dict[LangCode, Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    element: Optional[SipasElement] = Field(
        None, description="the SIPAS element the reason is about (access, procedure, staff, result, feedback): "
                          "reports group reasons by it (name it in collector.yaml labels.reason_elements too)")


class Followup(Strict):
    enabled: bool = True
    ask_at_or_below: Annotated[int, Field(ge=1, le=4, description="ask after ratings at or below this, 1 to 4")] = 2
    reasons: list[Reason] = Field(default_factory=list, max_length=8)

    @field_validator("reasons")
    @classmethod
    def _unique(cls, reasons: list[Reason]) -> list[Reason]:
        keys = [r.key for r in reasons]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"reason keys must be unique; repeated: {', '.join(dup)}")
        return reasons


class FollowupQr(Strict):
    """The thank-you screen's one-time QR: the citizen says more on their phone (docs/followup.md). Off by
    default; when on, every rating carries the hash of a fresh token and the QR links to the public form."""

    enabled: bool = False
    base_url: Optional[Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
                                            max_length=100)]] = Field(
        None, description="the public form's address, e.g. https://gopy.tinh.gov.vn (the QR opens <base_url>/f/...)")
    size_mm: Annotated[float, Field(ge=20, le=100, description="the QR's side on screen, 20 to 100 mm")] = 40.0
    seconds: Annotated[float, Field(ge=3, le=120, description="how long the thank-you screen shows it, 3 to 120 s")] = 20.0

    @model_validator(mode="after")
    def _base(self) -> "FollowupQr":
        if self.enabled and not self.base_url:
            raise ValueError("followup_qr.enabled needs base_url, the public form's address (https://...) / "
                             "bật mã QR cần base_url: địa chỉ trang góp ý")
        return self


class Person(Strict):
    key: Key
    name: Annotated[str, Field(min_length=1, max_length=128)]


class Timeouts(Strict):
    thank_you_s: Annotated[float, Field(ge=1, le=60, description="1 to 60 seconds")] = 4.0
    followup_s: Annotated[float, Field(ge=3, le=120, description="3 to 120 seconds")] = 12.0
    idle_s: Annotated[float, Field(ge=5, le=3600, description="5 to 3600 seconds")] = 30.0


KeyNames = Annotated[list[Annotated[str, Field(min_length=1, max_length=20)]], Field(min_length=1, max_length=4)]


def _key_list(value):
    """One key name or a list of them (a keypad's "1" and the numpad's "numpad1" for the same face)."""
    if isinstance(value, (str, int)):
        value = [value]
    # YAML reads a bare 1 as a number: the key "1" is meant
    return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value] \
        if isinstance(value, list) else value


SPEAKING_KEYS = {"speak": ["numpadmul", "f1"], "next": ["numpadadd", "right"],
                 "previous": ["numpadsubstract", "left"], "choose": ["numpadenter", "enter"]}


class Keys(Strict):
    """Physical keys (a USB keypad, or arcade buttons on a GPIO-to-keyboard adapter): one key per face, plus
    listen and back. Names are Kivy's: "1", "numpad1", "a", "enter", "f1", ... (docs/kiosk-raspberry-pi.md).
    On the follow-up screen face key i chooses reason i and back skips; a held key is one press."""

    enabled: bool = True
    faces: Optional[list[KeyNames]] = Field(
        None, description="one entry per face, least satisfied first (default: 1..N and numpad1..numpadN)")
    listen: KeyNames = Field(default_factory=lambda: ["0", "numpad0"],
                             description="says the current screen's question again (with voice on)")
    back: KeyNames = Field(default_factory=lambda: ["backspace", "numpaddecimal"],
                           description="skips the follow-up question")
    # The speaking mode (voice.speaking): turn it on, move from one choice to the next, choose.
    speak: Optional[KeyNames] = Field(None, description="turns the speaking mode on (voice.speaking.enabled); "
                                                       "default numpadmul, f1")
    next: Optional[KeyNames] = Field(None, description="speaking mode: the next face or reason; default numpadadd, right")
    previous: Optional[KeyNames] = Field(None, description="speaking mode: the previous one; default numpadsubstract, left")
    choose: Optional[KeyNames] = Field(None, description="speaking mode: chooses the face or reason just heard; default "
                                                        "numpadenter, enter")

    @field_validator("faces", mode="before")
    @classmethod
    def _faces_lists(cls, value):
        return [_key_list(v) for v in value] if isinstance(value, list) else value

    @field_validator("listen", "back", "speak", "next", "previous", "choose", mode="before")
    @classmethod
    def _one_or_list(cls, value):
        return _key_list(value)

    @model_validator(mode="after")
    def _known_and_distinct(self) -> "Keys":
        given = {k for kind in ("listen", "back", "speak", "next", "previous", "choose")
                 for k in (getattr(self, kind) or [])} | {k for keys in self.faces or [] for k in keys}
        for kind, default in SPEAKING_KEYS.items():  # a default the key map already uses elsewhere is left out
            if getattr(self, kind) is None:
                setattr(self, kind, [k for k in default if k not in given])
        from .keys import KEYCODES, RESERVED

        named = [(kind, k) for kind in ("listen", "back", "speak", "next", "previous", "choose")
                 for k in getattr(self, kind)] + [
            (f"faces[{i}]", k) for i, keys in enumerate(self.faces or []) for k in keys]
        for where, key in named:
            if key in RESERVED:
                raise ValueError(f"keys.{where}: phím {key!r} dành cho kỹ thuật viên / the {key!r} key is kept for "
                                 f"the technician; choose another")
            if key not in KEYCODES:
                raise ValueError(f"keys.{where}: không biết phím {key!r} / unknown key {key!r}; allowed: 0-9, a-z, "
                                 f"numpad0-numpad9, numpadenter, numpadadd, numpadsubstract, numpadmul, numpaddivide, "
                                 f"numpaddecimal, enter, spacebar, backspace, tab, up, down, left, right, f1-f15")
        seen: dict[str, str] = {}
        for where, key in named:
            if key in seen and seen[key] != where:
                raise ValueError(f"keys: phím {key!r} dùng hai lần ({seen[key]}, {where}) / the key {key!r} is given "
                                 f"twice ({seen[key]} and {where}); each key does one thing")
            seen[key] = where
        return self


class Speaking(Strict):
    """The speaking mode, for a citizen who cannot see the screen: turned on by keys.speak or a long press
    anywhere; the kiosk says how to rate, each face or reason as it is reached (keys.next / keys.previous or a
    swipe), and keys.choose or a double tap chooses. The screen shows nothing of the choice, and the speech
    goes to a headset when one is plugged in, else plays at a low volume."""

    enabled: bool = Field(False, description="offer the speaking mode (needs voice.enabled)")
    hold_s: Annotated[float, Field(ge=1, le=10, description="a press held this long anywhere turns it on")] = 2.0
    headset: Literal["auto", "yes", "no"] = Field(
        "auto", description="auto: a headset is looked for at each visit (a USB or jack headset card); yes / no")
    volume: Annotated[float, Field(ge=0.05, le=1, description="through the speaker, 0.05 to 1")] = 0.3
    headset_volume: Annotated[float, Field(ge=0.05, le=1, description="through a headset, 0.05 to 1")] = 0.8
    followup_s: Annotated[float, Field(ge=10, le=300, description="the follow-up question, 10 to 300 s")] = 45.0
    thank_you_s: Annotated[float, Field(ge=3, le=60, description="the thank-you, 3 to 60 s")] = 10.0
    idle_s: Annotated[float, Field(ge=20, le=600, description="no key or touch this long ends the mode")] = 90.0


class Voice(Strict):
    """Speech (issue 28): every text the kiosk says, per language, from a recorded clip given here, else from a
    clip built ahead of time by ``python -m kiosk voice build`` with espeak-ng. Nothing is synthesised at the
    counter; the kiosk plays the built WAV files (docs/kiosk-raspberry-pi.md)."""

    enabled: bool = Field(False, description="speak the question when a visit starts, the thank-you, and on listen")
    folder: ConfigPath = Field(Path("voice"), description="where voice build puts the clips (beside kiosk.yaml)")
    voices: dict[LangCode, Annotated[str, Field(pattern=r"^[A-Za-z0-9_+-]{1,40}$")]] = Field(
        default_factory=lambda: {"vi": "vi", "en": "en"},
        description="espeak-ng voice per language (espeak-ng --voices); a language without one needs clips")
    volume: Annotated[float, Field(ge=0.05, le=1, description="0.05 to 1, outside the speaking mode")] = 1.0
    speaking: Speaking = Field(default_factory=Speaking)
    clips: dict[LangCode, dict[Annotated[str, Field(pattern=r"^(question|followup_question|skip|thanks|thanks_detail"
                                                         r"|speaking_intro|back_in\.(followup|thanks|idle)"
                                                         r"|officer\.[a-z0-9][a-z0-9_-]{0,63}|lang\.[a-z]{2,3}"
                                                         r"|face\.[a-z_]+|reason\.[a-z0-9][a-z0-9_-]{0,63})$")],
                               OptionalInputFile]] = Field(
        default_factory=dict, description="recorded clips: language -> text (question, face.happy, reason.waiting, "
                                          "thanks, ...) -> WAV file; used instead of built speech")

    @model_validator(mode="after")
    def _speaking_needs_voice(self) -> "Voice":
        if self.speaking.enabled and not self.enabled:
            raise ValueError("voice.speaking.enabled needs voice.enabled: true (the mode speaks the built clips) / "
                             "chế độ đọc cần bật voice.enabled")
        return self


class Technician(Strict):
    pin: Optional[Secret] = Field(None, description="{env: NAME} or {file: PATH} holding 4 to 12 digits")
    # The province's way to give a technician PIN with enrolment and pushes: only its hash travels
    # (python -m config hash-pin [--key pin.key]), checked with duty.pin_key when made with a key.
    pin_hash: Optional[PinHash] = Field(None, description="made by 'python -m config hash-pin'; instead of pin")
    corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-left"
    hold_s: Annotated[float, Field(ge=1, le=10)] = 3.0

    @model_validator(mode="after")
    def _one_pin(self) -> "Technician":
        if (self.pin is None) == (self.pin_hash is None):
            raise ValueError("give the technician PIN one way: pin ({env: ...} or {file: ...}) or pin_hash "
                             "(python -m config hash-pin) / mã PIN kỹ thuật: pin hoặc pin_hash, một trong hai")
        return self


class Outbox(Strict):
    path: ConfigPath = Path("outbox.db")
    warn_depth: Annotated[int, Field(ge=10)] = 10000
    # A message leaves the outbox when a collector's receipt says the database holds it, not at the
    # broker's PUBACK (a broker that loses power loses what it held). false: trust the PUBACK.
    receipts: bool = True
    # A message the broker took but no receipt came for is sent again: at every new connection, when a
    # collector is heard again, when no receipt at all came for this long (doubling up to an hour), and
    # while receipts come, when a later message was receipted this long after it was taken.
    resend_after_s: Annotated[int, Field(ge=10, le=3600)] = 90
    # After this many hours connected with messages waiting and no receipt at all (a collector that
    # sends none), trust the PUBACK and say so in the status; a receipt turns receipts back on. 0: never.
    receipt_fallback_h: Annotated[float, Field(ge=0, le=8760)] = 72


class Display(Strict):
    fullscreen: bool = True
    size: Optional[Annotated[str, Field(pattern=r"^\d{3,5}x\d{3,5}$", description="WIDTHxHEIGHT like 1280x800")]] = None


class Duty(Strict):
    """Officers on duty: opening hours end a shift that nobody closed, and so does an idle spell."""

    opening_hours: dict[str, list[str]] = Field(
        default_factory=lambda: {"mon-fri": ["07:00-11:30", "13:00-17:00"]},
        description="day or day range (mon-fri) -> local spans like 07:30-11:30; signed out after the last")
    idle_sign_out_s: Annotated[float, Field(ge=0, le=86_400, description="0 (never) to 86400 seconds")] = 3600.0
    lockout_s: Annotated[float, Field(ge=30, le=3600, description="30 to 3600 seconds")] = 300.0
    hold_s: Annotated[float, Field(ge=1, le=10, description="press on the officer badge this long to open")] = 2.0
    pin_key: Optional[Secret] = Field(
        None, description="{file: pin.key} (python -m config pin-key): the PIN key the officers' hashes were made "
                          "with (python -m config hash-pin --key); kept on the kiosk, never pushed")
    pin_min_digits: Annotated[int, Field(ge=4, le=12, description="shorter PINs are refused at the keypad")] = 4

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, spec: dict[str, list[str]]) -> dict[str, list[str]]:
        from .hours import parse_hours

        parse_hours(spec)
        return spec


class RequestsCfg(Strict):
    mode: Literal["open", "on_request"] = Field(
        "open", description="open: faces always; on_request: only while a request from the desk is pending")
    max_per_minute: Annotated[int, Field(ge=1, le=120, description="1 to 120 new requests a minute; more are dropped")] = 10
    officer_from_request: bool = Field(
        False, description="true: with nobody signed in, a request's officer goes on the rating (only an officer "
                           "listed in staff or officers, when any are listed); false: the request's officer is ignored")


class Fleet(Strict):
    """Configs pushed from the province's fleet tool, signed with its Ed25519 key."""

    public_key: InputFile = Field(description="fleet.pub from the province, the public half of its signing key")
    rollback_after_s: Annotated[float, Field(ge=5, le=86400, description="5 to 86400 seconds")] = 300.0


class KioskConfig(Strict):
    kind: Literal["kiosk"] = "kiosk"
    site: Slug = Field(description="the centre's slug, lower-case letters, digits and '-'")
    device: Slug = Field(description="this counter's slug, lower-case letters, digits and '-'")
    broker: BrokerConnection = Field(default_factory=BrokerConnection)
    faces: Faces = Field(default_factory=Faces)
    languages: Languages = Field(default_factory=Languages)
    followup: Followup = Field(default_factory=Followup)
    followup_qr: FollowupQr = Field(default_factory=FollowupQr)
    officer: Optional[Key] = Field(None, description="key of the officer at this counter")
    service: Optional[Key] = Field(None, description="key of the procedure served here")
    officers: list[Person] = Field(default_factory=list)
    services: list[Person] = Field(default_factory=list)
    staff: list[StaffMember] = Field(
        default_factory=list, description="officers who sign in here, inline or {file: staff.yaml} of the centre")
    duty: Duty = Field(default_factory=Duty)
    requests: RequestsCfg = Field(default_factory=RequestsCfg)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    keys: Keys = Field(default_factory=Keys)
    # A visit whose first touch comes within repeat_window_s of the last touch (any kind, the thank-you
    # screen included), or a face tapped in a burst of touches, is flagged rapid_repeat; 0 flags nothing.
    repeat_window_s: Annotated[float, Field(ge=0, le=60, description="0 to 60 seconds")] = 3.0
    # A press this soon after a screen appears was aimed at the screen before, and is ignored.
    settle_s: Annotated[float, Field(ge=0, le=1, description="0 to 1 second")] = 0.4
    technician: Optional[Technician] = None
    outbox: Outbox = Field(default_factory=Outbox)
    audio: dict[LangCode, dict[Literal["start", "thanks"], OptionalInputFile]] = Field(
        default_factory=dict, description="spoken prompts; a missing file is reported and the kiosk runs silent")
    voice: Voice = Field(default_factory=dict)  # a dict, validated: its folder is resolved beside the file
    status_interval_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    display: Display = Field(default_factory=Display)
    # The times the technician view shows, in the zone the dashboard shows them (not the Pi's own, often UTC).
    timezone: TimeZone = "Asia/Ho_Chi_Minh"
    fleet: Optional[Fleet] = Field(None, description="take configs pushed by the fleet tool (python -m broker fleet push)")

    @field_validator("staff", mode="before")
    @classmethod
    def _include_staff(cls, value, info: ValidationInfo):
        if isinstance(value, dict):
            include = StaffInclude.model_validate(value)
            base = (info.context or {}).get("base_dir") or Path.cwd()
            return load_staff(include, Path(base))
        return value

    @field_validator("staff")
    @classmethod
    def _unique_staff(cls, staff: list[StaffMember]) -> list[StaffMember]:
        return unique_keys(staff)

    @model_validator(mode="after")
    def _people_known(self) -> "KioskConfig":
        if self.officer and self.officers and self.officer not in {p.key for p in self.officers}:
            raise ValueError(f"officer {self.officer!r} is not in officers")
        if self.service and self.services and self.service not in {p.key for p in self.services}:
            raise ValueError(f"service {self.service!r} is not in services")
        if self.services:
            known = {p.key for p in self.services}
            for member in self.staff:
                unknown = sorted(set(member.services) - known)
                if unknown:
                    raise ValueError(f"staff {member.key!r}: services {unknown} are not in services")
        keyed = [m.key for m in self.staff if hash_key_id(m.pin_hash)]
        if self.technician is not None and hash_key_id(self.technician.pin_hash):
            keyed.append("technician")
        if keyed and self.duty.pin_key is None:
            raise ValueError(f"{'technician' if keyed[0] == 'technician' else 'staff ' + repr(keyed[0])}: mã PIN được băm bằng khóa PIN, hãy cho thiết bị khóa đó / the PIN "
                             f"hash was made with a PIN key; give the kiosk that key: duty: {{pin_key: {{file: pin.key}}}}")
        if self.keys.faces is None:
            from .keys import default_face_keys

            self.keys.faces = default_face_keys(self.faces.scale)
            taken = {k for kind in ("listen", "back", "speak", "next", "previous", "choose")
                     for k in getattr(self.keys, kind)}
            clash = sorted(taken & {k for keys in self.keys.faces for k in keys})
            if clash:
                raise ValueError(f"keys: phím {clash} vừa là phím mặt cười mặc định vừa là listen/back / the keys "
                                 f"{clash} are default face keys and listen or back too; give keys.faces or other keys")
        elif len(self.keys.faces) != self.faces.scale:
            raise ValueError(f"keys.faces: cần {self.faces.scale} mục, mỗi mặt cười một mục / give {self.faces.scale} "
                             f"entries, one per face (faces.scale is {self.faces.scale}), not {len(self.keys.faces)}")
        if self.followup.ask_at_or_below >= self.faces.scale:
            raise ValueError(f"followup.ask_at_or_below ({self.followup.ask_at_or_below}) must be below "
                             f"faces.scale ({self.faces.scale})")
        return self

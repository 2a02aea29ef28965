"""Wire contract v1 and v2: topics and payloads shared by kiosks, collectors and third parties.

Change it only with a version bump and a test. ``decode`` is the single gate every
received message passes: whatever bytes arrive, it returns a model or raises
``ContractError`` with a short machine reason, never anything else.

v2 adds completeness (``epoch`` + gap-free ``seq``), time a collector can trust without the kiosk's
clock (``boot`` + ``mono_ms`` + ``clock``), attribution (``request``, ``dossier``, ``ticket``) and four
kinds beside ``rating`` and ``status``: ``event`` (kiosk -> collector, durable), ``request`` (desk ->
kiosk), ``config`` (fleet -> kiosk, signed) and ``receipt`` (collector -> kiosk, see ``Receipt``). Both
versions are accepted on the same topics: the payload's ``v`` says which. v2 models subclass their v1
model, so ``isinstance(m, Rating)`` holds for both.
"""
from __future__ import annotations

import functools
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Annotated, Literal, NamedTuple, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

# The names config/ checks YAML files with, defined there (config imports nothing of broker/); the same objects.
from config.contract_types import (  # noqa: F401
    DEFAULT_PREFIX, MAX_CONFIG_PAYLOAD_BYTES, SLUG_PATTERN, ContractError, check_prefix, is_slug,
)

VERSION = 2          # the newest version; kiosks send it, collectors accept 1 and 2
VERSIONS = (1, 2)
MAX_PAYLOAD_BYTES = 4096          # rating, status, event, request
# Integers are bounded by what both databases store: PostgreSQL INTEGER for counts and sequence
# numbers, BIGINT (and exact JSON numbers) for milliseconds.
MAX_INT32 = 2**31 - 1
MAX_SAFE_INT = 2**53 - 1
KINDS = ("rating", "status", "event", "request", "config", "receipt")
INBOUND_KINDS = ("rating", "status", "event")  # what collectors take; request and config go to kiosks


# ---------------------------------------------------------------- topics
class Topic(NamedTuple):
    prefix: str
    site: str
    device: str
    kind: str  # one of KINDS

    def __str__(self) -> str:
        return f"{self.prefix}/{self.site}/{self.device}/{self.kind}"


def _topic(prefix: str, site: str, device: str, kind: str) -> str:
    check_prefix(prefix)
    for name, value in (("site", site), ("device", device)):
        if not is_slug(value):
            raise ContractError(f"bad_{name}", f"{value!r} is not a slug ([a-z0-9][a-z0-9-]{{0,63}})")
    return f"{prefix}/{site}/{device}/{kind}"


def rating_topic(site: str, device: str, prefix: str = DEFAULT_PREFIX) -> str:
    return _topic(prefix, site, device, "rating")


def status_topic(site: str, device: str, prefix: str = DEFAULT_PREFIX) -> str:
    return _topic(prefix, site, device, "status")


def event_topic(site: str, device: str, prefix: str = DEFAULT_PREFIX) -> str:
    return _topic(prefix, site, device, "event")


def request_topic(site: str, device: str, prefix: str = DEFAULT_PREFIX) -> str:
    return _topic(prefix, site, device, "request")


def config_topic(site: str, device: str, prefix: str = DEFAULT_PREFIX) -> str:
    return _topic(prefix, site, device, "config")


def receipt_topic(site: str, device: str, prefix: str = DEFAULT_PREFIX) -> str:
    return _topic(prefix, site, device, "receipt")


def time_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Where collectors say what time it is (v2): a kiosk without NTP learns how wrong its clock is."""
    check_prefix(prefix)
    return f"{prefix}/time"


def subscription(kind: str = "+", prefix: str = DEFAULT_PREFIX, share_group: str | None = None) -> str:
    """Topic filter for all sites and devices; ``$share/<group>/...`` when a group is given."""
    check_prefix(prefix)
    flt = f"{prefix}/+/+/{kind}"
    return f"$share/{share_group}/{flt}" if share_group else flt


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> Topic:
    if not isinstance(topic, str) or not isinstance(prefix, str):
        raise ContractError("bad_topic", f"{topic!r} is not under {prefix}/")
    return _parse_topic(topic, prefix)


# A kiosk sends every message on the same few topics: parsing each once saves about a tenth of the
# collector's time per message. Bounded, so a stream of made-up topics cannot grow it (errors are
# not cached).
@functools.lru_cache(maxsize=4096)
def _parse_topic(topic: str, prefix: str) -> Topic:
    if not topic.startswith(prefix + "/"):
        raise ContractError("bad_topic", f"{topic!r} is not under {prefix}/")
    rest = topic[len(prefix) + 1:].split("/")
    if len(rest) != 3 or rest[2] not in KINDS:
        raise ContractError("bad_topic", f"{topic!r} is not {prefix}/<site>/<device>/{'|'.join(KINDS)}")
    site, device, kind = rest
    if not is_slug(site) or not is_slug(device):
        raise ContractError("bad_topic", f"{topic!r}: site and device must be slugs")
    return Topic(prefix, site, device, kind)


# ---------------------------------------------------------------- field types
def _parse_ts(value: object) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and 10 < len(value) <= 40 and ("T" in value or "t" in value):
        try:
            dt = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError("not an RFC 3339 timestamp") from None
    else:
        raise ValueError("must be an RFC 3339 UTC timestamp string like 2026-11-23T08:15:00Z")
    if dt.tzinfo is None or dt.utcoffset().total_seconds() != 0:
        raise ValueError("must be in UTC (end with Z)")
    # 1970: a Raspberry Pi without a real-time clock boots there after a power cut; its ratings are
    # real and v2 places them on real time (see ``boot``/``mono_ms``), so they must not be refused.
    if not 1970 <= dt.year <= 2200:
        raise ValueError("year out of range (1970 to 2200)")
    return dt.astimezone(timezone.utc)


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z``. isoformat, not strftime: the collector
    formats every rating it stores, and this was the hottest line of its profile."""
    if dt.tzinfo is not timezone.utc:
        dt = dt.astimezone(timezone.utc)
    return dt.isoformat(timespec="milliseconds")[:23] + "Z"


UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Names reach reports, spreadsheets and terminals: control characters (escape sequences, NUL) and
# format characters (right-to-left overrides, zero-width) are refused. Checked in pydantic's core
# (Rust regex, which knows Unicode categories).
TEXT_PATTERN = r"^[^\p{Cc}\p{Cf}]*$"

UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(_parse_ts),
    PlainSerializer(format_ts, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}),
]
# Strict strings with patterns are checked in pydantic's core, not in Python: the collector
# validates tens of thousands of these a second.
# Lower-cased in pydantic's core too: a Python validator here cost a call per id (two per v2 rating).
EventId = Annotated[StrictStr, StringConstraints(pattern=UUID_PATTERN, to_lower=True),
                    WithJsonSchema({"type": "string", "format": "uuid"})]
Slug = Annotated[StrictStr, Field(pattern=SLUG_PATTERN)]
Key = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Lang = Annotated[StrictStr, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=TEXT_PATTERN)]
ShortText = Annotated[StrictStr, Field(max_length=500, pattern=TEXT_PATTERN)]
Code = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$")]
Flag = Annotated[StrictStr, Field(pattern=r"^[a-z0-9_]{1,32}$")]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_INT32)]
Seq = Annotated[StrictInt, Field(ge=1, le=MAX_INT32)]
Millis = Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INT)]
BootId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Hash = Annotated[StrictStr, Field(max_length=128, pattern=r"^[A-Za-z0-9:_-]*$")]
ClockState = Literal["synced", "unsynced"]
# Bool and float are refused here even where the fast path would coerce them ("v": true, "v": 1.0).
V1 = Annotated[StrictInt, Field(ge=1, le=1), WithJsonSchema({"const": 1})]
V2 = Annotated[StrictInt, Field(ge=2, le=2), WithJsonSchema({"const": 2})]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def encode(self) -> bytes:
        return encode(self)


class Rating(_Message):
    """One tap on a face. ``id`` is made on the kiosk at the tap and is the deduplication key."""

    v: V1 = 1
    id: EventId
    site: Slug
    device: Slug
    ts: UtcTimestamp
    rating: StrictInt = Field(ge=1, le=5)
    scale: StrictInt = Field(ge=2, le=5)
    reason: Optional[Key] = None
    lang: Lang
    officer: Optional[Name] = None
    service: Optional[Name] = None
    flags: list[Flag] = Field(default_factory=list, max_length=8)

    @model_validator(mode="after")
    def _rating_within_scale(self) -> "Rating":
        if self.rating > self.scale:
            raise ValueError("rating must be between 1 and scale")
        return self


class Status(_Message):
    """Device health, published retained; the last will is the same with state ``offline``."""

    v: V1 = 1
    site: Slug
    device: Slug
    state: Literal["online", "offline"]
    ts: UtcTimestamp
    app_version: Name
    outbox_depth: Count
    last_rating_ts: Optional[UtcTimestamp] = None
    config_hash: Optional[Hash] = None


class Durable(BaseModel):
    """The v2 fields every durable kiosk message carries (ratings and events)."""

    epoch: EventId         # made when the kiosk's outbox was created; a new outbox starts a new epoch
    seq: Seq               # numbers ratings and events of the epoch together, 1, 2, 3, ... no gaps
    boot: BootId           # the kiosk's current boot: the origin of mono_ms
    mono_ms: Millis        # monotonic milliseconds since that boot, at the tap
    clock: ClockState      # whether ts came from a confirmed clock


class RatingV2(Durable, Rating):
    """v1's rating plus completeness, trustworthy time and the request it answered."""

    v: V2 = 2
    request: Optional[EventId] = None
    dossier: Optional[Code] = None
    ticket: Optional[Code] = None
    # The thank-you screen's one-time QR (broker/followup_tokens.py): SHA-256 (hex) of the token the QR
    # carries, never the token itself. Optional: a kiosk without the QR, or older, leaves it out.
    followup_hash: Optional[Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]] = None
    # How the citizen rated when not by sight: "speaking", in the kiosk's speaking mode (speech through a
    # headset or at low volume, keys or swipes). Optional: absent or null for an ordinary rating and from older
    # kiosks; reports count the ratings made this way.
    mode: Optional[Literal["speaking"]] = None


class StatusV2(Status):
    """v1's status plus where the boot's monotonic clock stands, the outbox's last seq and faults."""

    v: V2 = 2
    boot: BootId
    mono_ms: Millis
    clock: ClockState
    epoch: EventId
    seq_last: Count         # highest seq the outbox has given in this epoch (0: none yet)
    officer: Optional[Name] = None
    config_error: Optional[ShortText] = None
    fault: Optional[ShortText] = None  # storage or outbox trouble the counter cannot see (disk full, ...)
    # Receipts (see ``Receipt``): messages the broker took that no collector has said are stored yet,
    # the oldest one's tap time, and whether the kiosk waits for receipts ("on") or, having heard none
    # for its configured time, trusts the broker's PUBACK ("fallback"; "off" when configured so).
    unreceipted: Optional[Count] = None
    unreceipted_since: Optional[UtcTimestamp] = None
    receipts: Optional[Literal["on", "fallback", "off"]] = None
    # Configs pushed by the fleet: "on" when the kiosk checks and takes them (it has a fleet public key),
    # "off" when it ignores them (configured by hand without fleet.public_key, or the key cannot be read).
    # None: a kiosk older than this field.
    pushes: Optional[Literal["on", "off"]] = None


EVENT_TYPES = ("sign_in", "sign_out", "auto_sign_out", "request_expired", "config_applied",
               "config_rejected", "outbox_salvaged")


class _EventHead(_Message):
    v: V2 = 2
    id: EventId
    site: Slug
    device: Slug
    ts: UtcTimestamp


class Event(Durable, _EventHead):  # this order puts "v" first on the wire, where the fast path looks
    """A durable non-rating fact, sent through the outbox like a rating (v2 only)."""

    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    officer: Optional[Name] = None
    service: Optional[Name] = None
    request: Optional[EventId] = None
    dossier: Optional[Code] = None
    ticket: Optional[Code] = None
    config_hash: Optional[Hash] = None
    detail: Optional[ShortText] = None
    # outbox_salvaged: the outbox epoch whose messages were (partly) lost, the last seq it had numbered,
    # and how many waited in it, as far as the kiosk knows: the collector counts that epoch's end from it.
    lost_epoch: Optional[EventId] = None
    lost_seq_last: Optional[Count] = None
    lost: Optional[Count] = None


class Request(_Message):
    """From a desk or queue system to one kiosk: ask the citizen in front of it now (v2 only)."""

    v: V2 = 2
    id: EventId
    site: Slug
    device: Slug
    ts: UtcTimestamp
    dossier: Optional[Code] = None
    ticket: Optional[Code] = None
    service: Optional[Name] = None
    officer: Optional[Name] = None
    expires_s: StrictInt = Field(default=600, ge=1, le=86_400)


class ConfigPush(_Message):
    """A device's whole kiosk.yaml from the fleet tool, retained, signed with Ed25519 (v2 only).

    ``sig`` is base64 of the signature over ``signed_bytes()``: the site, device, time and the
    SHA-256 of the YAML, so a config cannot be replayed onto another device."""

    v: V2 = 2
    site: Slug
    device: Slug
    ts: UtcTimestamp
    yaml: Annotated[StrictStr, Field(max_length=60_000)]
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    key_id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    sig: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9+/=]{1,200}$")]

    def signed_bytes(self) -> bytes:
        return f"hailong-config\n{self.site}\n{self.device}\n{format_ts(self.ts)}\n{self.sha256}".encode()


class TimeSignal(_Message):
    """A collector's clock (kept by NTP at the centre), published every half minute on ``<prefix>/time``
    (QoS 0, not retained: a stale time is worse than none). Kiosks show how far off their own is."""

    v: V2 = 2
    ts: UtcTimestamp


RECEIPT_MAX_RANGES = 150  # 150 of the widest ranges (24 bytes each) stay under MAX_PAYLOAD_BYTES; more go in several


def _check_range(r: tuple[int, int]) -> tuple[int, int]:
    if r[0] > r[1]:
        raise ValueError("a range is [first, last] with first <= last")
    return r


SeqRange = Annotated[tuple[Seq, Seq], AfterValidator(_check_range)]


class Receipt(_Message):
    """From a collector to one kiosk, after a database commit: the messages of ``epoch`` numbered in
    ``seqs`` (ranges [first, last], inclusive) are in the database. Only then does the kiosk forget them.

    A collector speaks only for what its own committed transaction holds (stored now or found already
    stored), so collectors sharing one database never need to agree on anything: each receipt is true
    when it is sent, whoever else sends others. Published QoS 1, not retained, on the kiosk's own
    ``receipt`` topic; only collector accounts may publish there, and a kiosk reads only its own. A lost
    receipt costs a resend (the collector stores by id once and receipts the copy again), never a rating."""

    v: V2 = 2
    site: Slug
    device: Slug
    ts: UtcTimestamp
    epoch: EventId
    seqs: list[SeqRange] = Field(min_length=1, max_length=RECEIPT_MAX_RANGES)


def decode_time(payload: bytes) -> TimeSignal:
    """Validate a time signal; raises only ContractError."""
    if not isinstance(payload, (bytes, bytearray)) or len(payload) > 256:
        raise ContractError("too_large", "a time signal is a few dozen bytes")
    try:
        return TimeSignal.model_validate_json(payload)
    except ValueError as exc:
        raise ContractError("bad_time", str(exc)[:200]) from None


Message = Union[Rating, Status, Event, Request, ConfigPush, Receipt]
# (kind, v) -> model
_MODELS = {("rating", 1): Rating, ("rating", 2): RatingV2, ("status", 1): Status, ("status", 2): StatusV2,
           ("event", 2): Event, ("request", 2): Request, ("config", 2): ConfigPush, ("receipt", 2): Receipt}


def max_payload(kind: str) -> int:
    return MAX_CONFIG_PAYLOAD_BYTES if kind == "config" else MAX_PAYLOAD_BYTES


# ---------------------------------------------------------------- encode / decode
def encode(message: Message) -> bytes:
    return message.model_dump_json().encode("utf-8")


def _field_reason(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
    name = loc[0] if loc else "payload"
    if first.get("type") == "extra_forbidden":
        return f"unknown_field:{name}"
    if first.get("type") == "missing":
        return f"missing_field:{name}"
    if not loc:  # model-level check (rating > scale)
        return "bad_field:rating"
    return f"bad_field:{name}"


def decode(topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX) -> Message:
    """Validate one received message. Raises only ContractError."""
    try:
        return _decode(topic, payload, prefix)
    except ContractError:
        raise
    except Exception as exc:  # last line of defence: input must never crash a caller
        raise ContractError("invalid", f"{type(exc).__name__}: {exc}"[:200]) from None


# The version of a well-formed payload, read from its first bytes without parsing it: kiosks write
# "v" first. Anything else (spaces, another order) takes the full check, which reads "v" itself.
_LEADING_V = re.compile(rb'\A\s*\{\s*"v"\s*:\s*([0-9]+)\s*[,}]')


def _decode(topic: str, payload: bytes, prefix: str) -> Message:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    limit = max_payload(_kind_of(topic))
    if len(payload) > limit:
        raise ContractError("too_large", f"{len(payload)} bytes > {limit}")
    t = parse_topic(topic, prefix)
    if not payload:
        raise ContractError("empty", "zero-length payload")
    # Fast path: parse and validate in pydantic's core in one step. Whatever it accepts the full
    # check below accepts too (a property test holds it to that); rejections take the full check,
    # which finds the precise reason.
    lead = _LEADING_V.match(payload)
    model = _MODELS.get((t.kind, int(lead.group(1)))) if lead and len(lead.group(1)) < 3 else None
    if model is not None:
        try:
            msg = model.model_validate_json(payload)
        except ValueError:
            pass
        else:
            if msg.site == t.site and msg.device == t.device:
                return msg
    return _decode_checked(t, payload)


def _kind_of(topic: object) -> str:
    return topic.rsplit("/", 1)[-1] if isinstance(topic, str) else ""


def _decode_checked(t: Topic, payload: bytes) -> Message:
    """Step by step, so a rejection names its reason."""
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ContractError("bad_json", str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise ContractError("bad_json", f"payload is a JSON {type(obj).__name__}, not an object")
    v = obj.get("v")
    model = _MODELS.get((t.kind, v)) if type(v) is int else None
    if model is None:
        known = [str(ver) for (kind, ver) in _MODELS if kind == t.kind]
        raise ContractError("unknown_version", f"v={v!r}; {t.kind} messages are v{' or v'.join(known)}"[:200])
    try:
        msg = model.model_validate(obj)
    except ValidationError as exc:
        raise ContractError(_field_reason(exc), str(exc.errors(include_url=False)[0].get("msg"))[:200]) from None
    if msg.site != t.site or msg.device != t.device:
        raise ContractError("topic_mismatch", f"payload says {msg.site}/{msg.device}, topic says {t.site}/{t.device}")
    return msg


def json_schema() -> dict:
    """JSON Schema of both payloads, as committed in docs/contract.schema.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Smiley feedback wire contract v1 and v2",
        "description": (
            "Topics: <prefix>/<site>/<device>/<kind>. rating (QoS 1, not retained, kiosk -> collector), "
            "status (QoS 1, retained; the last will says offline), event (v2, QoS 1, not retained, kiosk -> "
            "collector), request (v2, QoS 1, not retained, desk -> kiosk), config (v2, QoS 1, retained, fleet "
            "-> kiosk, Ed25519-signed), receipt (v2, QoS 1, not retained, collector -> kiosk: these seqs of this epoch "
            "are stored; a kiosk deletes a message only then); and <prefix>/time (v2, QoS 0, collector -> kiosks, TimeSignal). "
            f"Default prefix {DEFAULT_PREFIX}. Payloads are UTF-8 JSON objects of "
            f"at most {MAX_PAYLOAD_BYTES} bytes ({MAX_CONFIG_PAYLOAD_BYTES} for config); the field v says the "
            "version, and a collector accepts v1 and v2 on the same topics."
        ),
        "$defs": {"Rating": Rating.model_json_schema(), "Status": Status.model_json_schema(),
                  "RatingV2": RatingV2.model_json_schema(), "StatusV2": StatusV2.model_json_schema(),
                  "Event": Event.model_json_schema(), "Request": Request.model_json_schema(),
                  "ConfigPush": ConfigPush.model_json_schema(), "TimeSignal": TimeSignal.model_json_schema(),
                  "Receipt": Receipt.model_json_schema()},
    }


def new_event_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

"""Wire contract v1: topics and payloads shared by kiosks, collectors and third parties.

Change it only with a version bump and a test. ``decode`` is the single gate every
received message passes: whatever bytes arrive, it returns a model or raises
``ContractError`` with a short machine reason, never anything else.
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
    StrictStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

VERSION = 1
DEFAULT_PREFIX = "hailong/v1"
MAX_PAYLOAD_BYTES = 4096
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
KINDS = ("rating", "status")


class ContractError(ValueError):
    """A message that does not follow the contract. ``reason`` is short and machine-readable
    (``bad_json``, ``too_large``, ``bad_field:rating``, ``topic_mismatch``, ...)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def is_slug(value: object) -> bool:
    return isinstance(value, str) and _SLUG_RE.fullmatch(value) is not None


# ---------------------------------------------------------------- topics
class Topic(NamedTuple):
    prefix: str
    site: str
    device: str
    kind: str  # "rating" or "status"

    def __str__(self) -> str:
        return f"{self.prefix}/{self.site}/{self.device}/{self.kind}"


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise ContractError("bad_prefix", f"{prefix!r} is not a topic prefix like 'hailong/v1'")
    return prefix


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
        raise ContractError("bad_topic", f"{topic!r} is not {prefix}/<site>/<device>/rating|status")
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
    if not 2000 <= dt.year <= 2200:
        raise ValueError("year out of range")
    return dt.astimezone(timezone.utc)


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z``. isoformat, not strftime: the collector
    formats every rating it stores, and this was the hottest line of its profile."""
    if dt.tzinfo is not timezone.utc:
        dt = dt.astimezone(timezone.utc)
    return dt.isoformat(timespec="milliseconds")[:23] + "Z"


UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(_parse_ts),
    PlainSerializer(format_ts, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}),
]
# Strict strings with patterns are checked in pydantic's core, not in Python: the collector
# validates tens of thousands of these a second.
EventId = Annotated[StrictStr, Field(pattern=UUID_PATTERN), AfterValidator(lambda s: s.lower()),
                    WithJsonSchema({"type": "string", "format": "uuid"})]
Slug = Annotated[StrictStr, Field(pattern=SLUG_PATTERN)]
Key = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Lang = Annotated[StrictStr, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]
Flag = Annotated[StrictStr, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def encode(self) -> bytes:
        return encode(self)


class Rating(_Message):
    """One tap on a face. ``id`` is made on the kiosk at the tap and is the deduplication key."""

    v: Literal[1] = 1
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

    v: Literal[1] = 1
    site: Slug
    device: Slug
    state: Literal["online", "offline"]
    ts: UtcTimestamp
    app_version: Name
    outbox_depth: StrictInt = Field(ge=0)
    last_rating_ts: Optional[UtcTimestamp] = None
    config_hash: Optional[Annotated[StrictStr, Field(max_length=128)]] = None


Message = Union[Rating, Status]
_MODELS = {"rating": Rating, "status": Status}


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


def _decode(topic: str, payload: bytes, prefix: str) -> Message:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    t = parse_topic(topic, prefix)
    if not payload:
        raise ContractError("empty", "zero-length payload")
    # Fast path: parse and validate in pydantic's core in one step. Whatever it accepts the full
    # check below accepts too (a property test holds it to that); rejections take the full check,
    # which finds the precise reason.
    try:
        msg = _MODELS[t.kind].model_validate_json(payload)
    except ValueError:
        pass
    else:
        if msg.site == t.site and msg.device == t.device:
            return msg
    return _decode_checked(t, payload)


def _decode_checked(t: Topic, payload: bytes) -> Message:
    """Step by step, so a rejection names its reason."""
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ContractError("bad_json", str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise ContractError("bad_json", f"payload is a JSON {type(obj).__name__}, not an object")
    if obj.get("v") != VERSION or type(obj.get("v")) is not int:
        raise ContractError("unknown_version", f"v={obj.get('v')!r}; this collector speaks v{VERSION}")
    try:
        msg = _MODELS[t.kind].model_validate(obj)
    except ValidationError as exc:
        raise ContractError(_field_reason(exc), str(exc.errors(include_url=False)[0].get("msg"))[:200]) from None
    if msg.site != t.site or msg.device != t.device:
        raise ContractError("topic_mismatch", f"payload says {msg.site}/{msg.device}, topic says {t.site}/{t.device}")
    return msg


def json_schema() -> dict:
    """JSON Schema of both payloads, as committed in docs/contract.schema.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Smiley feedback wire contract v{VERSION}",
        "description": (
            f"Topics: <prefix>/<site>/<device>/rating (QoS 1, not retained) and "
            f"<prefix>/<site>/<device>/status (QoS 1, retained). Default prefix {DEFAULT_PREFIX}. "
            f"Payloads are UTF-8 JSON objects of at most {MAX_PAYLOAD_BYTES} bytes."
        ),
        "$defs": {"Rating": Rating.model_json_schema(), "Status": Status.model_json_schema()},
    }


def new_event_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

"""The common case first: a well-formed contract v2 rating, checked without building a pydantic model.

Nearly every message a collector receives is a v2 rating a kiosk wrote: fields in the kiosk's order,
``ts`` as ``format_ts`` writes it, the usual ids, names and codes. ``msgspec`` parses and type-checks
such a payload in C (strict integers, no unknown field, bounds); the checks left (the contract's patterns, names
without control or format characters, rating within scale, the time, the topic's site and device) are a
handful of string operations, most of them a cache lookup. That is several times cheaper than ``RatingV2.model_validate_json``,
which was the largest part of the collector's time under load.

This path only ever says "accepted, with these values" or "not mine": anything it does not accept
(another version, another kind, a retained message, an unknown field, a timestamp in another form, a
name with a character it is not sure of, any mistake at all) goes to ``broker.contract.decode``, the
single gate that names a rejection's reason. So the reasons in the rejects table never change here. A
property test (tests/unit/test_collector_fastpath.py) holds the two to the same answer and the same
stored values on generated and mutated payloads.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, Optional

import msgspec
from msgspec import Meta

from broker.contract import MAX_INT32, MAX_SAFE_INT, ContractError, parse_topic
from collector.storage.placement import place
from collector.storage.records import RatingRow

# The contract's patterns (broker/contract.py) in ASCII classes, matched whole (fullmatch: "$" would also
# match before a final newline, which pydantic's regex does not). msgspec checks types, integer bounds and
# list lengths in C; patterns it would run through Python's re for every field of every message, so they
# are checked here, and the strings that repeat from message to message (a kiosk's epoch, boot, language,
# reasons, flags) are looked up in a small cache of strings already checked.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LANG = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}")
_FLAG = re.compile(r"[a-z0-9_]{1,32}")
_BOOT = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Only the form format_ts writes (what kiosks send): its text is then already the stored form.
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CACHE_MAX = 4096


class RatingV2(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The fields of ``broker.contract.RatingV2`` with their JSON types; patterns and names are checked
    after decoding (``rating_v2``)."""

    v: Annotated[int, Meta(ge=2, le=2)]
    id: str
    site: str  # must equal the topic's (a slug already)
    device: str
    ts: str
    rating: Annotated[int, Meta(ge=1, le=5)]
    scale: Annotated[int, Meta(ge=2, le=5)]
    reason: Optional[str] = None
    lang: str
    officer: Optional[str] = None
    service: Optional[str] = None
    flags: Annotated[list[str], Meta(max_length=8)] = []
    epoch: str
    seq: Annotated[int, Meta(ge=1, le=MAX_INT32)]
    boot: str
    mono_ms: Annotated[int, Meta(ge=0, le=MAX_SAFE_INT)]
    clock: Literal["synced", "unsynced"]
    request: Optional[str] = None
    dossier: Optional[str] = None
    ticket: Optional[str] = None
    followup_hash: Optional[str] = None


_decode = msgspec.json.Decoder(RatingV2).decode
_HEAD = b'{"v":2,'  # how a kiosk's v2 payload starts (encode() writes "v" first, no spaces)


class _Checked:
    """Whether strings match a pattern, remembered for the strings that repeat (bounded)."""

    __slots__ = ("pattern", "seen")

    def __init__(self, pattern: str):
        self.pattern, self.seen = re.compile(pattern).fullmatch, {}

    def __call__(self, text: str) -> bool:
        ok = self.seen.get(text)
        if ok is None:
            if len(self.seen) >= _CACHE_MAX:
                self.seen.clear()
            ok = self.seen[text] = self.pattern(text) is not None
        return ok


_epoch_ok, _boot_ok, _lang_ok = _Checked(_UUID.pattern), _Checked(_BOOT.pattern), _Checked(_LANG.pattern)
_reason_ok, _flag_ok, _ticket_ok = _Checked(_KEY.pattern), _Checked(_FLAG.pattern), _Checked(_CODE.pattern)


def _fields_ok(r: RatingV2) -> bool:
    return (_UUID.fullmatch(r.id) is not None and _STAMP.fullmatch(r.ts) is not None and _epoch_ok(r.epoch)
            and _boot_ok(r.boot) and _lang_ok(r.lang) and (r.reason is None or _reason_ok(r.reason))
            and (not r.flags or all(_flag_ok(f) for f in r.flags))
            and (r.request is None or _UUID.fullmatch(r.request) is not None)
            and (r.dossier is None or _CODE.fullmatch(r.dossier) is not None)
            and (r.ticket is None or _ticket_ok(r.ticket))
            and (r.followup_hash is None or _HEX64.fullmatch(r.followup_hash) is not None))


def _name_ok(text: str | None) -> bool:
    """The contract's Name: 1 to 128 characters, no control (Cc) or format (Cf) character. ``isprintable``
    is stricter (it also refuses separators other than the space, private use, unassigned code points and
    surrogates): whatever it refuses takes the full check, which decides."""
    return text is None or (0 < len(text) <= 128 and text.isprintable())


class FastRating:
    """A v2 rating accepted here: the decoded fields, ``ts_ms`` the tap's time as the full path computes it."""

    __slots__ = ("r", "ts_ms")

    def __init__(self, r: RatingV2, ts_ms: int):
        self.r, self.ts_ms = r, ts_ms


def rating_v2(topic: str, payload: bytes, prefix: str) -> FastRating | None:
    """The rating if the payload is a well-formed v2 rating for this topic, else None (then call
    ``broker.contract.decode``, which accepts or names the reason). Never raises."""
    if not payload.startswith(_HEAD) or not topic.endswith("/rating"):
        return None
    try:
        t = parse_topic(topic, prefix)
        r = _decode(payload)
    except (msgspec.DecodeError, ContractError):  # ValidationError is a DecodeError
        return None
    except Exception:  # noqa: BLE001  whatever else: not ours to judge
        return None
    if r.site != t.site or r.device != t.device or r.rating > r.scale or not _fields_ok(r) \
            or not (_name_ok(r.officer) and _name_ok(r.service)):
        return None
    try:
        dt = datetime.fromisoformat(r.ts)
    except ValueError:  # a day or hour that does not exist
        return None
    if not 1970 <= dt.year <= 2200:
        return None
    # The contract lower-cases ids (EventId); the other fields are stored as sent.
    r.id = r.id.lower()
    r.epoch = r.epoch.lower()
    if r.request is not None:
        r.request = r.request.lower()
    return FastRating(r, int(dt.timestamp() * 1000))


def rating_row(f: FastRating, received_at: str, received_ms: int, offset_ms: int | None) -> RatingRow:
    """As ``collector.storage.records.rating_row`` makes it from the pydantic model (the property test compares them)."""
    r = f.r
    p = place(f.ts_ms, received_ms, mono_ms=r.mono_ms, clock=r.clock, offset_ms=offset_ms)
    return RatingRow(r.id, 2, r.site, r.device, r.ts, f.ts_ms, r.rating, r.scale, r.reason, r.lang, r.officer,
                     r.service, ",".join(r.flags), received_at, p.at_ms, int(p.unverified), r.epoch, r.seq, r.boot,
                     r.mono_ms, r.clock, r.request, r.dossier, r.ticket)

"""Building wire contract v2 messages on the kiosk (pure: every input is an argument).

A rating is decided by the screen flow (a v1 ``Rating``: faces, reason, language, flags); the
outbox gives it its place in the epoch (``epoch``, ``seq``) in the same transaction that stores it,
and this module joins the two with the tap's time stamp and the request it answered.
"""
from __future__ import annotations

from typing import Optional

from broker.contract import Event, Rating, RatingV2, new_event_id

from .clock import Stamp


def rating_v2(rating: Rating, stamp: Stamp, epoch: str, seq: int, *, request: Optional[str] = None,
              dossier: Optional[str] = None, ticket: Optional[str] = None,
              followup_hash: Optional[str] = None, mode: Optional[str] = None) -> RatingV2:
    fields = rating.model_dump(exclude={"v"})
    fields["ts"] = rating.ts
    return RatingV2(**fields, epoch=epoch, seq=seq, boot=stamp.boot, mono_ms=stamp.mono_ms, clock=stamp.clock,
                    request=request, dossier=dossier, ticket=ticket, followup_hash=followup_hash,
                    mode=mode)


def event(kind: str, site: str, device: str, stamp: Stamp, epoch: str, seq: int, **fields) -> Event:
    """A durable event (sign_in, request_expired, config_applied, outbox_salvaged, ...)."""
    return Event(id=fields.pop("id", None) or new_event_id(), site=site, device=device, ts=stamp.ts,
                 epoch=epoch, seq=seq, boot=stamp.boot, mono_ms=stamp.mono_ms, clock=stamp.clock, type=kind,
                 **fields)

"""From the flow's decisions to durable wire contract v2 messages in the outbox.

The flow decides a rating (faces, reason, language, flags) as a v1 ``Rating``; the recorder adds
what the counter knows at that moment: the tap's monotonic time on this boot and whether the clock
was confirmed, the request it answers (dossier, ticket, service), the officer on duty, and, inside
the outbox's own transaction, the epoch and gap-free seq. Events (shifts, expired requests,
configs) go the same way, so nothing a manager counts is lost offline.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable, Optional

from broker.contract import Rating, encode, event_topic, format_ts, new_event_id, rating_topic
from config.kiosk import KioskConfig

from .clock import KioskClock, Stamp
from .messages import event, rating_v2


class Recorder:
    def __init__(self, cfg: KioskConfig, outbox, clock: Optional[KioskClock] = None,
                 requests=None, duty=None, monotonic: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.outbox = outbox
        self.clock = clock or KioskClock()
        self.requests = requests   # kiosk.requests.Requests, when the kiosk takes requests
        self.duty = duty           # kiosk.duty.Duty, when officers sign in
        self.monotonic = monotonic
        self.followup_link: Optional[str] = None  # the thank-you QR's link for the last rating, when it is on
        prefix = cfg.broker.topic_prefix
        self.rating_topic = rating_topic(cfg.site, cfg.device, prefix)
        self.event_topic = event_topic(cfg.site, cfg.device, prefix)

    def _tap_stamp(self, ts) -> Stamp:
        """The stamp of a tap that happened at wall time ``ts`` (the face, before any reason was
        chosen): the monotonic clock is read now and moved back by the seconds since then."""
        now = self.clock.stamp()
        back_ms = int((now.ts - ts) / timedelta(milliseconds=1))
        back_ms = min(max(back_ms, 0), 3_600_000)  # a wall clock set meanwhile must not move it far
        return Stamp(ts, now.boot, max(0, now.mono_ms - back_ms), now.clock)

    def rating(self, r: Rating, speaking: bool = False) -> Optional[int]:
        """The flow's sink: commit the rating (v2) before the thank-you shows. Returns the outbox row,
        or None when the disk refused it and it waits in memory (the app then shows out of order)."""
        stamp = self._tap_stamp(r.ts)
        req = self.requests.answer(self.monotonic()) if self.requests is not None else None
        officer, service = r.officer, r.service
        if self.duty is not None and self.duty.officer is not None:
            officer, service = self.duty.officer.key, self.duty.service or service
            self.duty.activity(self.monotonic())
        if req is not None:
            signed_in = self.duty is not None and self.duty.officer is not None
            if not signed_in and self._officer_from_request(req.officer):
                officer = req.officer
            service = req.service or service
        r = r.model_copy(update={"officer": officer, "service": service})
        # The thank-you QR: a fresh token per rating, kept only in memory for the screen; the rating carries
        # its hash (broker/followup_tokens.py). Shown whatever face was pressed.
        followup_hash, self.followup_link = None, None
        qr = self.cfg.followup_qr
        if qr.enabled and qr.base_url:
            from broker import followup_tokens as tokens

            token = tokens.new_token()
            followup_hash = tokens.token_hash(r.id, token)
            self.followup_link = tokens.link(qr.base_url, r.id, token, r.lang)  # the form opens in the kiosk's language

        def build(epoch: str, seq: int) -> bytes:
            return encode(rating_v2(r, stamp, epoch, seq, request=req.id if req else None,
                                    dossier=req.dossier if req else None, ticket=req.ticket if req else None,
                                    followup_hash=followup_hash, mode="speaking" if speaking else None))

        return self.outbox.add(build, self.rating_topic, id=r.id, created=format_ts(r.ts))

    def _officer_from_request(self, key: Optional[str]) -> bool:
        """Whether a request's officer may go on the rating when nobody is signed in: only when
        ``requests.officer_from_request`` allows it, and only an officer this kiosk lists (its staff or
        officers, when it lists any). Otherwise any desk account could put any name on a rating."""
        if not key or not self.cfg.requests.officer_from_request:
            return False
        known = {m.key for m in self.cfg.staff} | {p.key for p in self.cfg.officers}
        return not known or key in known

    def event(self, kind: str, **fields) -> Optional[int]:
        """A durable event (sign_in, sign_out, auto_sign_out, request_expired, config_applied, ...)."""
        stamp, event_id = self.clock.stamp(), new_event_id()

        def build(epoch: str, seq: int) -> bytes:
            return encode(event(kind, self.cfg.site, self.cfg.device, stamp, epoch, seq, id=event_id, **fields))

        return self.outbox.add(build, self.event_topic, id=event_id, created=format_ts(stamp.ts))

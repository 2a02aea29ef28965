"""Rating requests from the desk or queue system: "ask the citizen in front of this counter now".

Pure: the uplink hands over decoded ``Request`` messages with the monotonic time they arrived.
In ``on_request`` mode the kiosk asks only while a request is pending; in ``open`` mode it always
asks and a pending request only adds its details (dossier, ticket, service, officer) to the next
rating. A request runs out ``expires_s`` after it ARRIVED (the kiosk's wall clock may be wrong, its
monotonic clock is not); one that runs out unanswered, or is replaced by a newer one, becomes a
``request_expired`` event, so managers see how many citizens were asked and how many answered.

A desk (or a stolen desk account) cannot flood the kiosk: at most ``per_minute`` new requests are taken
a minute (a bucket of that many, filled again evenly over the minute); the others are dropped before
they replace anything, so they write nothing to the outbox.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Optional

from broker.contract import Request

Mode = Literal["open", "on_request"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    request: Request
    arrived: float  # monotonic seconds

    def expires_at(self) -> float:
        return self.arrived + self.request.expires_s


class Requests:
    def __init__(self, mode: Mode = "open", per_minute: float = 10):
        self.mode = mode
        self.pending: Optional[Pending] = None
        self.seen: dict[str, float] = {}  # request id -> arrival: a redelivered request is not asked twice
        self.per_minute = per_minute
        self._tokens = float(per_minute)
        self._filled_at: Optional[float] = None
        self.dropped = 0  # requests refused for coming too fast

    def _allowed(self, now: float) -> bool:
        if self._filled_at is not None:
            self._tokens = min(float(self.per_minute),
                               self._tokens + max(0.0, now - self._filled_at) * self.per_minute / 60.0)
        self._filled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def offer(self, request: Request, now: float) -> list[Request]:
        """A request arrived. Returns requests that end unanswered because this one replaces them."""
        if request.id in self.seen:
            return []
        if not self._allowed(now):
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("requests come faster than %g a minute: %d dropped so far (request for %s/%s)",
                            self.per_minute, self.dropped, request.site, request.device)
            return []
        self.seen[request.id] = now
        if len(self.seen) > 1000:  # forget the oldest ids; QoS 1 redelivery happens within minutes
            for rid in sorted(self.seen, key=self.seen.get)[:500]:
                del self.seen[rid]
        replaced = [self.pending.request] if self.pending else []
        self.pending = Pending(request, now)
        return replaced

    def expire(self, now: float) -> list[Request]:
        """Requests whose time ran out unanswered (to be recorded as request_expired)."""
        if self.pending and now >= self.pending.expires_at():
            gone, self.pending = self.pending.request, None
            return [gone]
        return []

    def should_ask(self, now: float) -> bool:
        """Whether the faces are offered now."""
        if self.mode == "open":
            return True
        return self.pending is not None and now < self.pending.expires_at()

    def answer(self, now: float) -> Optional[Request]:
        """The request the rating just given answers (and consumes), if one is pending."""
        if self.pending and now < self.pending.expires_at():
            req, self.pending = self.pending.request, None
            return req
        return None

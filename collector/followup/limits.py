"""Rate limits of the public form: token buckets per key (a client address, a link), in memory, bounded."""
from __future__ import annotations

from collections import OrderedDict
from threading import Lock


class Buckets:
    """``burst`` at once, then ``per_s`` a second, per key. At most ``max_keys`` keys are remembered (the
    least recently seen are forgotten), so a flood of distinct keys costs bounded memory."""

    def __init__(self, per_s: float, burst: int, max_keys: int = 50_000):
        self.per_s, self.burst, self.max_keys = per_s, burst, max_keys
        self._keys: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = Lock()

    def take(self, key: str, now: float) -> float:
        """0 when allowed (one taken), else the seconds until the next one is."""
        with self._lock:
            level, last = self._keys.pop(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.per_s)
            if level >= 1:
                self._keys[key] = (level - 1, now)
                wait = 0.0
            else:
                self._keys[key] = (level, now)
                wait = (1 - level) / self.per_s
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            return wait

"""Limits on what an anonymous caller can make the engine do: token buckets per key (a client
address, a chat) and counts of what a key holds open at once. In memory, per node: a flood
is stopped where it arrives."""

from __future__ import annotations

import time
from collections import defaultdict

MAX_KEYS = 100_000


class RateLimit:
    """Bursts of up to `burst` events per key, refilled at `per_s` a second."""

    def __init__(self, burst: float, per_s: float):
        self.burst = burst
        self.per_s = per_s
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def take(self, key: str) -> float | None:
        """None when the event may go ahead (and counts it), else the seconds until it may."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_s)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.per_s
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > MAX_KEYS:  # many addresses: forget the oldest half
            for old in list(self._buckets)[:MAX_KEYS // 2]:
                del self._buckets[old]
        return None


class OpenCount:
    """How many of something (sockets) each key holds open, at most `limit` each."""

    def __init__(self, limit: int):
        self.limit = limit
        self._open: dict[str, int] = defaultdict(int)

    def enter(self, key: str) -> bool:
        if self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    def leave(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

"""A rate-limited, de-duplicating work queue on the simulation clock (client-go's workqueue, in sim time)."""

from __future__ import annotations

import heapq
from collections import OrderedDict

# client-go's DefaultControllerRateLimiter: per-item exponential back-off from 5 ms to 1000 s.
BASE_DELAY = 0.005
MAX_DELAY = 1000.0


class WorkQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._ready: OrderedDict[str, None] = OrderedDict()
        self._delayed: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._counter = 0

    def __len__(self) -> int:
        return len(self._ready) + len(self._due)

    def add(self, key: str) -> None:
        """Make ``key`` ready now; a key already waiting is not added twice."""
        self._due.pop(key, None)
        self._ready[key] = None

    def add_after(self, key: str, at: float) -> None:
        """Make ``key`` ready at sim time ``at`` (an earlier pending time wins)."""
        if key in self._ready:
            return
        current = self._due.get(key)
        if current is not None and current <= at:
            return
        self._due[key] = at
        self._counter += 1
        heapq.heappush(self._delayed, (at, self._counter, key))

    def add_rate_limited(self, key: str, now: float) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(MAX_DELAY, BASE_DELAY * (2**failures))
        self.add_after(key, now + delay)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def promote(self, now: float) -> None:
        """Move every delayed key whose time has come to the ready list, in time order."""
        while self._delayed and self._delayed[0][0] <= now:
            at, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) == at:
                del self._due[key]
                self._ready[key] = None

    def pop(self, now: float) -> str | None:
        self.promote(now)
        if not self._ready:
            return None
        key, _ = self._ready.popitem(last=False)
        return key

    def next_due(self) -> float | None:
        while self._delayed and self._due.get(self._delayed[0][2]) != self._delayed[0][0]:
            heapq.heappop(self._delayed)
        return self._delayed[0][0] if self._delayed else None

    def ready_count(self, now: float) -> int:
        self.promote(now)
        return len(self._ready)

    def has_ready(self, now: float) -> bool:
        self.promote(now)
        return bool(self._ready)

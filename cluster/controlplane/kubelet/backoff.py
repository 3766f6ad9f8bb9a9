"""client-go's ``flowcontrol.Backoff`` on the sim clock, as the kubelet uses it twice.

Crashing containers (``CrashLoopBackOff``) and failing image pulls (``ImagePullBackOff``)
both back off from 10 s, doubling to 300 s (``backOffPeriod``/``MaxContainerBackOff`` in
``pkg/kubelet``). An entry not touched for twice the maximum (10 min) has expired and
starts again at 10 s, which is why a container that ran for 10 minutes restarts promptly.
The kubelet adds no jitter to these two, so the simulation needs none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INITIAL = 10.0
_EPS = 1e-6  # sim times are floats: a back-off that ends now has ended
MAXIMUM = 300.0


@dataclass
class _Entry:
    backoff: float
    last_update: float


@dataclass
class Backoff:
    initial: float = INITIAL
    maximum: float = MAXIMUM
    entries: dict[str, _Entry] = field(default_factory=dict)

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def get(self, key: str) -> float:
        entry = self.entries.get(key)
        return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float, now: float) -> float:
        """Move ``key`` one step on: start at the initial delay, else double up to the maximum."""
        entry = self.entries.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = _Entry(self.initial, now)
        else:
            entry = _Entry(min(entry.backoff * 2, self.maximum), now)
        self.entries[key] = entry
        return entry.backoff

    def in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """IsInBackOffSince: less than the current delay has passed since ``event_time``."""
        entry = self.entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return now - event_time < entry.backoff - _EPS

    def in_backoff_since_update(self, key: str, now: float) -> bool:
        """IsInBackOffSinceUpdate: less than the current delay has passed since the last step."""
        entry = self.entries.get(key)
        if entry is None or self._expired(now, entry):
            return False
        return now - entry.last_update < entry.backoff - _EPS

    def until(self, key: str, since: float) -> float:
        """When the back-off that started at ``since`` ends."""
        entry = self.entries.get(key)
        return since + (entry.backoff if entry else 0.0)

    def forget(self, prefix: str) -> None:
        for key in [k for k in self.entries if k.startswith(prefix)]:
            del self.entries[key]

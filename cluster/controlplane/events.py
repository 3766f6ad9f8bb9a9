"""client-go's EventRecorder and EventCorrelator: core/v1 Events, aggregated, counted and rate-limited.

As in client-go (tools/record/events_cache.go), a recorder remembers what it emitted
instead of reading Events back from the API, and runs every event through three steps:

1. the aggregator: more than 10 events that differ only by message (same source, object,
   type and reason) within 10 minutes become one event, "(combined from similar events): …";
2. the logger: a repeat of an event already emitted bumps its ``count`` and
   ``lastTimestamp`` with a patch, anything else is a new Event named ``<object>.<hex UnixNano>``;
3. the spam filter: a source may emit a burst of 25 events about one object, then one
   every 5 minutes (a token bucket on the sim clock); the rest are dropped.

So a 10,000-replica ReplicaSet leaves 25 events behind, as on a real cluster, and control
loops never need an Event informer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options
from cluster.api.errors import StatusError

logger = logging.getLogger(__name__)

# client-go tools/record/events_cache.go
LRU_ENTRIES = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600.0
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
COMBINED_PREFIX = "(combined from similar events): "
EVENT = registry.by_kind("", "Event")

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """groupcache's lru.Cache: the least recently used entry goes when it is full."""

    def __init__(self, size: int = LRU_ENTRIES) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass
class TokenBucket:
    """flowcontrol's token bucket rate limiter, starting full, on the sim clock."""

    tokens: float
    last: float

    def try_accept(self, now: float, qps: float = SPAM_QPS, burst: int = SPAM_BURST) -> bool:
        self.tokens = min(float(burst), self.tokens + max(0.0, now - self.last) * qps)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Aggregate:
    local_keys: dict[str, None] = field(default_factory=dict)
    last: float = float("-inf")


@dataclass
class _Logged:
    name: str
    first: str
    count: int


class EventRecorder:
    def __init__(
        self, api: ApiServer, now: Callable[[], float], now_ns: Callable[[], int], stamp: Callable[[], str]
    ) -> None:
        self.api = api
        self._now = now
        self._now_ns = now_ns
        self._stamp = stamp
        self._last_ns = 0
        self._aggregates: LRU[tuple[str, ...], _Aggregate] = LRU()
        self._logged: LRU[tuple[str, ...], _Logged] = LRU()
        self._spam: LRU[tuple[str, ...], TokenBucket] = LRU()

    def _unique_ns(self) -> int:
        """The sim clock's nanoseconds, nudged forward so two events at one instant get two names."""
        ns = max(self._now_ns(), self._last_ns + 1)
        self._last_ns = ns
        return ns

    def _aggregate(self, object_key: tuple[str, ...], etype: str, reason: str, message: str) -> tuple[str, bool]:
        """EventAggregate: the message to send, and whether it is the combined event."""
        now = self._now()
        key = (*object_key, etype, reason)
        record = self._aggregates.get(key)
        if record is None or now - record.last > AGGREGATE_INTERVAL_SECONDS:
            record = _Aggregate()
        record.local_keys[message] = None
        record.last = now
        self._aggregates.add(key, record)
        if len(record.local_keys) < AGGREGATE_MAX_EVENTS:
            return message, False
        # Do not grow the set past the maximum (upstream pops any; the oldest, to stay deterministic).
        record.local_keys.pop(next(iter(record.local_keys)))
        return COMBINED_PREFIX + message, True

    def record(
        self,
        obj: dict[str, Any],
        etype: str,
        reason: str,
        message: str,
        opts: Options,
        source: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        involved = {
            "kind": obj.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
            "apiVersion": obj.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
            "fieldPath": field_path,
        }
        # getSpamKey: the source and the involved object (not its resourceVersion or fieldPath).
        spam_key = (
            source,
            host or "",
            *(str(involved[k] or "") for k in ("kind", "namespace", "name", "uid", "apiVersion")),
        )
        message, combined = self._aggregate(spam_key, etype, reason, message)
        # getEventKey, or the aggregate's key once events are combined (so the combined one is patched).
        key = (*spam_key, etype, reason) if combined else (*spam_key, str(field_path or ""), etype, reason, message)
        now = self._stamp()
        logged = self._logged.get(key)
        if logged is not None:
            logged = _Logged(logged.name, logged.first, logged.count + 1)
        else:
            logged = _Logged(f"{meta['name']}.{self._unique_ns():x}", now, 1)
        self._logged.add(key, logged)
        bucket = self._spam.get(spam_key)
        if bucket is None:
            bucket = TokenBucket(float(SPAM_BURST), self._now())
        accepted = bucket.try_accept(self._now())
        self._spam.add(spam_key, bucket)
        if not accepted:
            return
        assert EVENT is not None
        if logged.count > 1:
            try:
                self.api.patch(
                    EVENT,
                    namespace,
                    logged.name,
                    "application/merge-patch+json",
                    {"count": logged.count, "lastTimestamp": now, "message": message},
                    opts,
                )
                return
            except StatusError as err:
                if err.code != 404:
                    logger.debug("event patch failed: %s", err.message)
                    return
                # The Event is gone (its namespace went): create it again, count and all, as client-go does.
        body = {
            "metadata": {"name": logged.name, "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason,
            "message": message,
            "source": {"component": source, **({"host": host} if host else {})},
            "firstTimestamp": logged.first,
            "lastTimestamp": now,
            "count": logged.count,
            "type": etype,
            "eventTime": None,
            "reportingComponent": source,
            "reportingInstance": host or "",
        }
        opts.owned = True
        try:
            self.api.create(EVENT, namespace, body, opts)
        except StatusError as err:
            logger.debug("event create failed: %s", err.message)

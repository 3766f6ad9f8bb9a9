"""client-go's EventRecorder: core/v1 Events, with the EventCorrelator's count aggregation.

Like client-go, a recorder remembers the events it emitted in an LRU cache (4,096
entries) instead of reading Events back from the API: a repeat of the same event bumps
``count`` and ``lastTimestamp`` with a patch, anything else is a new Event named
``<object>.<hex UnixNano>``. So control loops never need an Event informer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options
from cluster.api.errors import StatusError

logger = logging.getLogger(__name__)

# client-go tools/record: maxLruCacheEntries.
LRU_ENTRIES = 4096
EVENT = registry.by_kind("", "Event")


class EventRecorder:
    def __init__(self, api: ApiServer, now_ns: Callable[[], int], stamp: Callable[[], str]) -> None:
        self.api = api
        self._now_ns = now_ns
        self._stamp = stamp
        self._last_ns = 0
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()

    def _unique_ns(self) -> int:
        """The sim clock's nanoseconds, nudged forward so two events at one instant get two names."""
        ns = max(self._now_ns(), self._last_ns + 1)
        self._last_ns = ns
        return ns

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
        # getEventKey: source, the involved object (not its resourceVersion), type, reason, message.
        key = (
            source,
            host or "",
            *(str(involved[k] or "") for k in ("kind", "namespace", "name", "uid", "apiVersion", "fieldPath")),
            etype,
            reason,
            message,
        )
        now = self._stamp()
        assert EVENT is not None
        seen = self._seen.get(key)
        if seen is not None:
            name, first, count = seen
            self._seen.move_to_end(key)
            try:
                self.api.patch(
                    EVENT,
                    namespace,
                    name,
                    "application/merge-patch+json",
                    {"count": count + 1, "lastTimestamp": now, "message": message},
                    opts,
                )
                self._seen[key] = (name, first, count + 1)
                return
            except StatusError as err:
                if err.code != 404:
                    logger.debug("event patch failed: %s", err.message)
                    return
                # The Event was deleted (a namespace went, or a TTL): start a new one.
        name = f"{meta['name']}.{self._unique_ns():x}"
        body = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason,
            "message": message,
            "source": {"component": source, **({"host": host} if host else {})},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": etype,
            "eventTime": None,
            "reportingComponent": source,
            "reportingInstance": host or "",
        }
        try:
            self.api.create(EVENT, namespace, body, opts)
        except StatusError as err:
            logger.debug("event create failed: %s", err.message)
            return
        self._seen[key] = (name, now, 1)
        if len(self._seen) > LRU_ENTRIES:
            self._seen.popitem(last=False)

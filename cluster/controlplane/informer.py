"""Shared informers: list once, then follow the store's watch log from a cursor, into read-only caches.

All controllers of one cluster in one process share these caches (client-go's
SharedInformerFactory). Cached objects must never be mutated: copy before changing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, transaction

from cluster import doorbell
from cluster.api.selectors import match_label_selector
from cluster.models import Cluster, StoredObject, WatchEvent

GK = tuple[str, str]
_SYNC_SQL = (
    f'SELECT revision, type, "group", kind, object FROM {WatchEvent._meta.db_table} '
    "WHERE cluster_id = %s AND revision > %s ORDER BY revision LIMIT %s"
)
Handler = Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]
BATCH = 2000


def object_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


class Lister:
    """Read access to one kind's cache."""

    def __init__(self, cache: dict[str, dict[str, Any]]) -> None:
        self._cache = cache

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def by_key(self, key: str) -> dict[str, Any] | None:
        return self._cache.get(key)

    def list(self, namespace: str | None = None, selector: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out = []
        for obj in self._cache.values():
            meta = obj["metadata"]
            if namespace is not None and meta.get("namespace") != namespace:
                continue
            if selector is not None and not match_label_selector(selector, meta.get("labels") or {}):
                continue
            out.append(obj)
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._cache.values()))

    def __len__(self) -> int:
        return len(self._cache)


class Informers:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.cursor = 0
        self._caches: dict[GK, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._handlers: dict[GK, list[Handler]] = defaultdict(list)
        self.synced = False
        self._writes_seen = -1

    def lister(self, group: str, kind: str) -> Lister:
        return Lister(self._caches[(group, kind)])

    def add_handler(self, group: str, kind: str, handler: Handler) -> None:
        self._handlers[(group, kind)].append(handler)

    def remove_handlers(self, predicate: Callable[[Handler], bool]) -> None:
        for gk, handlers in self._handlers.items():
            self._handlers[gk] = [h for h in handlers if not predicate(h)]

    def initial_list(self) -> None:
        """List everything at one revision, then announce each object as ADDED."""
        with transaction.atomic():
            self.cursor = Cluster.objects.values_list("revision", flat=True).get(pk=self.cluster.pk)
            rows = list(
                StoredObject.objects.filter(cluster_id=self.cluster.pk)
                .order_by("group", "kind", "namespace", "name")
                .values_list("group", "kind", "body")
            )
        for group, kind, body in rows:
            self._caches[(group, kind)][object_key(body)] = body
        self.synced = True
        for group, kind, body in rows:
            self._dispatch(group, kind, "ADDED", None, body)

    def replay_handlers(self, group: str, kind: str, handler: Handler) -> None:
        """Tell a late-registered handler about everything already cached (a new node's kubelet)."""
        for obj in list(self._caches[(group, kind)].values()):
            handler("ADDED", None, obj)

    def sync(self, force: bool = False) -> int:
        """Apply every log entry past the cursor; returns how many events were seen.

        Without ``force``, the read is skipped when no write happened in (or was announced to)
        this process since the last read; the runtime forces one on every tick for safety.
        """
        if not self.synced:
            self.initial_list()
            return 1
        writes = doorbell.writes(self.cluster.pk)
        if not force and writes == self._writes_seen:
            return 0
        self._writes_seen = writes
        seen = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(_SYNC_SQL, [self.cluster.pk, self.cursor, BATCH])
                rows = cursor.fetchall()
            for revision, etype, group, kind, raw in rows:
                obj = json.loads(raw) if isinstance(raw, str | bytes) else raw
                self.cursor = revision
                cache = self._caches[(group, kind)]
                key = object_key(obj)
                old = cache.get(key)
                if etype == "DELETED":
                    cache.pop(key, None)
                else:
                    cache[key] = obj
                self._dispatch(group, kind, etype, old, obj)
            seen += len(rows)
            if len(rows) < BATCH:
                return seen

    def _dispatch(self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        for handler in self._handlers.get((group, kind), ()):
            handler(etype, old, new)

"""Shared informers: list once, then follow the store's watch log from a cursor, into read-only caches.

All controllers of one cluster in one process share these caches (client-go's
SharedInformerFactory). Cached objects must never be mutated: copy before changing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction

from cluster import doorbell, etcd
from cluster.api.selectors import match_label_selector
from cluster.jsonutil import load_stored
from cluster.models import Cluster, StoredObject

GK = tuple[str, str]
# Events are written by recorders that remember their own (client-go's EventCorrelator), and no
# control loop reads them back, so the caches skip them: they are most of a busy cluster's log.
UNINFORMED: frozenset[GK] = etcd.UNFOLLOWED
Handler = Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]
BATCH = 2000

# The field selectors a watch may use, as the kubelet watches ``spec.nodeName=<node>`` pods and
# ``metadata.name=<node>`` for its Node: the informer indexes them, so a hundred kubelets cost
# one lookup per event, not a hundred calls.
FIELD_SELECTORS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName"),
    "metadata.name": lambda o: o["metadata"].get("name"),
}


def object_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


# Field indexes kept per kind (client-go's Indexers): the kubelet asks for its node's pods.
INDEXED: dict[GK, tuple[str, ...]] = {("", "Pod"): ("spec.nodeName",)}


class Store:
    """One kind's cache and its field indexes; objects in it are shared and never mutated."""

    def __init__(self, fields: tuple[str, ...] = ()) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.indexes: dict[str, dict[str, dict[str, dict[str, Any]]]] = {f: {} for f in fields}

    def put(self, key: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        old = self.items.get(key)
        self.items[key] = obj
        self._reindex(key, old, obj)
        return old

    def pop(self, key: str) -> dict[str, Any] | None:
        old = self.items.pop(key, None)
        self._reindex(key, old, None)
        return old

    def clear(self) -> None:
        self.items.clear()
        for index in self.indexes.values():
            index.clear()

    def _reindex(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for field, index in self.indexes.items():
            pick = FIELD_SELECTORS[field]
            if old is not None and (value := pick(old)) is not None:
                bucket = index.get(value)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del index[value]
            if new is not None and (value := pick(new)) is not None:
                index.setdefault(value, {})[key] = new


class Lister:
    """Read access to one kind's cache."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache = store.items

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def by_key(self, key: str) -> dict[str, Any] | None:
        return self._cache.get(key)

    def by_field(self, field: str, value: str) -> list[dict[str, Any]]:
        """The objects whose indexed ``field`` equals ``value``, in key order."""
        if field not in self._store.indexes:
            raise LookupError(f"no index on {field}")
        bucket = self._store.indexes[field].get(value) or {}
        return [bucket[k] for k in sorted(bucket)]

    def by_field_items(self, field: str, value: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, object) for the objects whose indexed ``field`` equals ``value``, in no set order."""
        if field not in self._store.indexes:
            raise LookupError(f"no index on {field}")
        return list((self._store.indexes[field].get(value) or {}).items())

    def list(self, namespace: str | None = None, selector: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if namespace is not None:
            # One namespace's keys are "<namespace>/<name>" (a name has no "/"), so their own
            # order is name order: sorted without a key function, which a 10,000-pod list felt.
            prefix = namespace + "/"
            pairs = [
                (key, obj)
                for key, obj in self._cache.items()
                if key.startswith(prefix)
                and (selector is None or match_label_selector(selector, obj["metadata"].get("labels") or {}))
            ]
            pairs.sort()  # keys are unique: the objects themselves are never compared
            return [obj for _key, obj in pairs]
        out = []
        for obj in self._cache.values():
            meta = obj["metadata"]
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
        self._caches: dict[GK, Store] = {}
        self._listers: dict[GK, Lister] = {}  # a store's dict is never replaced, so neither is its lister
        self._handlers: dict[GK, list[Handler]] = defaultdict(list)
        self._selected: dict[GK, dict[str, dict[str, list[Handler]]]] = defaultdict(dict)
        self.synced = False
        self._writes_seen = -1

    def lister(self, group: str, kind: str) -> Lister:
        if (group, kind) in UNINFORMED:
            raise LookupError(f"{kind} objects are not cached by the informers; read them through the API")
        lister = self._listers.get((group, kind))
        if lister is None:
            lister = self._listers[(group, kind)] = Lister(self._store((group, kind)))
        return lister

    def cached(self, key: etcd.Key) -> dict[str, Any] | None:
        """The cached copy of one object, shared and maybe behind the store: the API server's
        watch cache, from which a control loop's patch or binding is first worked out."""
        store = self._caches.get((key.group, key.kind))
        if store is None:
            return None
        return store.items.get(f"{key.namespace}/{key.name}" if key.namespace else key.name)

    def _store(self, gk: GK) -> Store:
        store = self._caches.get(gk)
        if store is None:
            store = self._caches[gk] = Store(INDEXED.get(gk, ()))
        return store

    def add_handler(
        self, group: str, kind: str, handler: Handler, field: str | None = None, value: str | None = None
    ) -> None:
        """Call ``handler`` for every event of a kind, or only for objects whose ``field`` is ``value``."""
        if field is None:
            self._handlers[(group, kind)].append(handler)
            return
        if field not in FIELD_SELECTORS or value is None:
            raise ValueError(f"unsupported field selector {field}={value}")
        self._selected[(group, kind)].setdefault(field, {}).setdefault(value, []).append(handler)

    def remove_handlers(self, predicate: Callable[[Handler], bool]) -> None:
        for gk, handlers in self._handlers.items():
            self._handlers[gk] = [h for h in handlers if not predicate(h)]
        for by_field in self._selected.values():
            for by_value in by_field.values():
                for value in list(by_value):
                    kept = [h for h in by_value[value] if not predicate(h)]
                    if kept:
                        by_value[value] = kept
                    else:
                        del by_value[value]

    def reset(self) -> None:
        """Forget everything; the next sync lists again (after a round's writes rolled back)."""
        self.cursor = 0
        for cache in self._caches.values():
            cache.clear()
        self.synced = False
        self._writes_seen = -1

    def initial_list(self) -> None:
        """List everything at one revision, then announce each object as ADDED."""
        with transaction.atomic():
            self.cursor = Cluster.objects.values_list("revision", flat=True).get(pk=self.cluster.pk)
            rows = list(
                StoredObject.objects.filter(cluster_id=self.cluster.pk)
                .exclude(group="", kind="Event")
                .order_by("group", "kind", "namespace", "name")
                .values_list("group", "kind", "body")
            )
        for group, kind, body in rows:
            self._store((group, kind)).put(object_key(body), body)
        self.synced = True
        for group, kind, body in rows:
            self._dispatch(group, kind, "ADDED", None, body)

    def replay_handlers(
        self, group: str, kind: str, handler: Handler, field: str | None = None, value: str | None = None
    ) -> None:
        """Tell a late-registered handler about everything already cached (a new node's kubelet)."""
        pick = FIELD_SELECTORS[field] if field is not None else None
        for obj in list(self._store((group, kind)).items.values()):
            if pick is None or pick(obj) == value:
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
        pk = self.cluster.pk
        tail = etcd.batch_tail(pk, self.cursor)
        if tail is not None:
            # This thread's open batch wrote everything past the cursor: no query, no unpacking.
            events, head = tail
            for e in events:
                self._apply(e.type, e.group, e.kind, e.object)
            self.cursor = head
            return len(events)
        seen = 0
        etcd.flush(pk)
        while True:
            cursor, sql = etcd.raw_cursor()
            cursor.execute(sql.log, (pk, self.cursor, BATCH))
            rows = cursor.fetchall()
            for revision, etype, group, kind, raw in rows:
                self.cursor = revision
                self._apply(etype, group, kind, load_stored(raw))
            seen += len(rows)
            if len(rows) < BATCH:
                # Inside a batch the log is whole up to its head (it holds the write lock).
                self.cursor = max(self.cursor, etcd.head(pk) or 0)
                return seen

    def _apply(self, etype: str, group: str, kind: str, obj: dict[str, Any]) -> None:
        store = self._store((group, kind))
        key = object_key(obj)
        old = store.pop(key) if etype == "DELETED" else store.put(key, obj)
        self._dispatch(group, kind, etype, old, obj)

    def _dispatch(self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        for handler in self._handlers.get((group, kind), ()):
            handler(etype, old, new)
        selected = self._selected.get((group, kind))
        if not selected:
            return
        for field, by_value in selected.items():
            pick = FIELD_SELECTORS[field]
            values = {pick(new)}
            if old is not None:
                values.add(pick(old))
            for value in sorted(v for v in values if v is not None):
                for handler in by_value.get(value, ()):
                    handler(etype, old, new)

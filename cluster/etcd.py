"""The store, playing etcd: compare-and-swap writes, one revision counter per cluster, a watch log.

Every write and its watch event land in one transaction, and the revision a
write takes is also its ``resourceVersion``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from cluster import doorbell
from cluster.jsonutil import clone, dumps, load_stored, pack_body
from cluster.models import Cluster, EventType, StoredObject, TraceStep, WatchEvent


class Key(NamedTuple):
    """An object's key in the store. A named tuple: every read and write builds and hashes one."""

    group: str
    kind: str
    namespace: str
    name: str


class CompareFailed(Exception):
    """The stored resourceVersion is not the one the writer read."""


class KeyExists(Exception):
    """A create found the key taken."""


class KeyMissing(Exception):
    """An update or delete found no such key."""


class QuotaExceeded(Exception):
    """The cluster already holds as many objects as it may."""


@dataclass
class PendingTrace:
    """Trace steps gathered during one request, written with the request's own write."""

    component: str
    stage: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    involved: list[dict[str, str]] = field(default_factory=list)
    source: str = ""
    target: str = ""
    sim_time: float = 0.0


@dataclass
class TailEvent:
    """A watch event an open group commit wrote. ``object`` is the stored object itself, shared
    by the writer and every reader on this thread: never mutate it."""

    revision: int
    type: str
    group: str
    kind: str
    object: dict[str, Any]


# Kinds no reader in this process follows (the informers skip Events: see controlplane.informer),
# so a batch's tail need not keep them.
UNFOLLOWED: frozenset[tuple[str, str]] = frozenset({("", "Event")})

_TABLE = Cluster._meta.db_table
_OBJECTS = StoredObject._meta.db_table
_EVENTS = WatchEvent._meta.db_table
_TRACES = TraceStep._meta.db_table


class _Sql:
    """The hot statements in the driver's own placeholder style, run on the driver's own cursor.

    Django's cursor wrapper rewrites every SQLite statement's placeholders with a regular
    expression and looks the connection up through a context-local proxy several times per
    call; on the store's hottest statements that cost more than SQLite itself.
    """

    def __init__(self, vendor: str) -> None:
        p = "%s" if vendor == "postgresql" else "?"
        j = "%s::jsonb" if vendor == "postgresql" else "?"
        self.vendor = vendor
        self.allocate = (
            f"UPDATE {_TABLE} SET revision = revision + {p}, object_count = object_count + {p} "
            f"WHERE id = {p} RETURNING revision, object_count"
        )
        self.counters = f"UPDATE {_TABLE} SET revision = {p}, object_count = {p} WHERE id = {p}"
        self.insert_traces = (
            f"INSERT INTO {_TRACES} "
            "(cluster_id, seq, sim_time, component, stage, message, params, involved, source, target) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {j}, {j}, {p}, {p})"
        )
        self.insert_events = (
            f'INSERT INTO {_EVENTS} (cluster_id, revision, type, "group", kind, namespace, name, object) '
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {j})"
        )
        self.insert_object = (
            f'INSERT INTO {_OBJECTS} (cluster_id, "group", kind, namespace, name, resource_version, body) '
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {j}) ON CONFLICT DO NOTHING"
        )
        self.update_object = (
            f"UPDATE {_OBJECTS} SET resource_version = {p}, body = {j} "
            f'WHERE cluster_id = {p} AND "group" = {p} AND kind = {p} AND namespace = {p} AND name = {p} '
            f"AND resource_version = {p}"
        )
        self.get = (
            f'SELECT body FROM {_OBJECTS} WHERE cluster_id = {p} AND "group" = {p} AND kind = {p} '
            f"AND namespace = {p} AND name = {p}"
        )
        self.log = (
            f'SELECT revision, type, "group", kind, object FROM {_EVENTS} '
            f"WHERE cluster_id = {p} AND revision > {p} AND NOT (kind = 'Event' AND \"group\" = '') "
            f"ORDER BY revision LIMIT {p}"
        )


_STATEMENTS: dict[str, _Sql] = {}


class _Cursor:
    """The driver's cursor behind Django's error translation, without the rest of its wrapper.

    Errors still come out as ``django.db`` exceptions and mark the connection, so a broken one
    is noticed and replaced exactly as it would be through Django's own cursor.
    """

    __slots__ = ("_cursor", "_errors")

    def __init__(self, cursor: Any, errors: Any) -> None:
        self._cursor = cursor
        self._errors = errors

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._errors:
            self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._errors:
            self._cursor.executemany(sql, rows)

    def fetchone(self) -> Any:
        with self._errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with self._errors:
            return self._cursor.fetchall()  # type: ignore[no-any-return]

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


def raw_cursor() -> tuple[_Cursor, _Sql]:
    """The driver's cursor on this thread's connection (opened if need be), and its statements.

    An open group commit lends its own, so a batch looks the connection up once.
    """
    batch: GroupCommit | None = getattr(_local, "batch", None)
    if batch is not None and batch.cursor is not None and batch.sql is not None:
        return batch.cursor, batch.sql
    wrapper = connections[DEFAULT_DB_ALIAS]
    with wrapper.wrap_database_errors:
        wrapper.ensure_connection()
        cursor = wrapper.connection.cursor()
    sql = _STATEMENTS.get(wrapper.vendor)
    if sql is None:
        sql = _STATEMENTS[wrapper.vendor] = _Sql(wrapper.vendor)
    return _Cursor(cursor, wrapper.wrap_database_errors), sql


def _allocate(cluster_id: int, count: int, objects: int = 0) -> tuple[int, int]:
    """Take ``count`` revisions; returns the last and the new object count.

    The row update serialises writers of one cluster, so revisions commit in order.
    """
    cursor, sql = raw_cursor()
    cursor.execute(sql.allocate, (count, objects, cluster_id))
    row = cursor.fetchone()
    if row is None:
        raise KeyMissing(cluster_id)
    return int(row[0]), int(row[1])


def _stamp(body: dict[str, Any], revision: int, owned: bool = False) -> dict[str, Any]:
    """The body at its new revision; ``owned`` bodies (fresh copies the caller gives away) are stamped in place."""
    if not owned:
        body = clone(body)
    meta = body.setdefault("metadata", {})
    if owned:
        meta = body["metadata"] = dict(meta)
    meta["resourceVersion"] = str(revision)
    return body


def _write_trace(cluster_id: int, first_seq: int, steps: Iterable[PendingTrace]) -> None:
    rows = [
        (
            cluster_id,
            first_seq + i,
            s.sim_time,
            s.component,
            s.stage,
            s.message,
            dumps(s.params),
            dumps(s.involved),
            s.source,
            s.target,
        )
        for i, s in enumerate(steps)
    ]
    if not rows:
        return
    batch = _batch(cluster_id)
    if batch is not None:
        batch.traces.extend(rows)
    else:
        _insert_traces(rows)


def _insert_traces(rows: list[tuple[Any, ...]]) -> None:
    cursor, sql = raw_cursor()
    cursor.executemany(sql.insert_traces, rows)


def _insert_event(cluster_id: int, revision: int, etype: str, key: Key, stored: dict[str, Any], text: str) -> None:
    """Append a watch event for ``stored``, whose stored form is ``text`` (``pack_body``).

    Inside a group commit the row waits in the batch for one ``executemany``, and the batch
    keeps the object for this thread's informers (:func:`batch_tail`): inside a batch, what a
    write returns is shared with them and must not be changed (``Context`` hands loops a copy).
    """
    row = (cluster_id, revision, str(etype), key.group, key.kind, key.namespace, key.name, text)
    batch = _batch(cluster_id)
    if batch is not None:
        batch.events.append(row)
        if (key.group, key.kind) not in UNFOLLOWED:
            batch.tail.append(TailEvent(revision, str(etype), key.group, key.kind, stored))
    else:
        _insert_events([row])


def _insert_events(rows: list[tuple[Any, ...]]) -> None:
    cursor, sql = raw_cursor()
    cursor.executemany(sql.insert_events, rows)


def _batch(cluster_id: int) -> GroupCommit | None:
    batch: GroupCommit | None = getattr(_local, "batch", None)
    return batch if batch is not None and batch.cluster_id == cluster_id else None


def batch_tail(cluster_id: int, after: int) -> tuple[list[TailEvent], int] | None:
    """The log past ``after`` from this thread's open group commit, and the head it reaches.

    While a batch is open it holds the cluster's write lock, so the log past the revision it
    began at is exactly the events it wrote itself: a reader already at or past that revision
    needs no query (the apiserver's watch cache serves watches from memory the same way).
    ``None`` when there is no open batch, or the reader is behind where it began.
    """
    batch = _batch(cluster_id)
    if batch is None or after < batch._base[0]:
        return None
    tail = batch.tail
    if not tail or tail[-1].revision <= after:
        return [], batch.revision
    lo = len(tail)
    while lo > 0 and tail[lo - 1].revision > after:
        lo -= 1
    return tail[lo:], batch.revision


def head(cluster_id: int) -> int | None:
    """The head revision, when this thread's open group commit knows it (nobody else can write)."""
    batch = _batch(cluster_id)
    return None if batch is None else batch.revision


def flush(cluster_id: int) -> None:
    """Write the open group commit's buffered log rows, so a read in this transaction sees them."""
    batch = _batch(cluster_id)
    if batch is not None:
        batch.flush()


def _after_commit(cluster_id: int) -> None:
    doorbell.note_write(cluster_id)
    transaction.on_commit(lambda: doorbell.ring(cluster_id))


class GroupCommit:
    """Many writes, one commit: the control loops' batch (etcd's batch interval does the same).

    ``begin`` opens a transaction whose first statement takes the cluster's row (SQLite's write
    lock, PostgreSQL's row lock), so no other writer can slip a revision in; the batch then
    hands out revisions itself and writes the counters back on ``commit``. Each write still
    gets its own revision and watch event, and one that loses its compare-and-swap writes
    nothing, so no savepoint is needed. The append-only rows (watch events, trace steps) wait
    in the batch and go in with one ``executemany`` each, before any read of the log in this
    transaction (:func:`flush`) and on commit: most of a busy loop's statements were these.
    """

    def __init__(self, cluster_id: int) -> None:
        self.cluster_id = cluster_id
        self.revision = 0
        self.objects = 0
        self._base = (0, 0)
        self._atomic: Any = None
        self.rings = False
        # Reads the batch may share (nobody else can write while it holds the lock): key -> body.
        self.reads: dict[Key, dict[str, Any] | None] = {}
        self.events: list[tuple[Any, ...]] = []
        self.traces: list[tuple[Any, ...]] = []
        # This batch's own watch events, for this thread's informers (see batch_tail).
        self.tail: list[TailEvent] = []
        self.cursor: _Cursor | None = None
        self.sql: _Sql | None = None

    def flush(self) -> None:
        events, self.events = self.events, []
        traces, self.traces = self.traces, []
        if events:
            _insert_events(events)
        if traces:
            _insert_traces(traces)

    def begin(self) -> None:
        if getattr(_local, "batch", None) is not None:
            raise RuntimeError("a group commit is already open on this thread")
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        try:
            self.revision, self.objects = _allocate(self.cluster_id, 0)
        except BaseException:
            self._atomic.__exit__(RuntimeError, RuntimeError("group commit failed"), None)
            self._atomic = None
            raise
        self._base = (self.revision, self.objects)
        self.cursor, self.sql = raw_cursor()
        _local.batch = self

    def commit(self) -> None:
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            _local.batch = None
            return
        try:
            self.flush()
            if (self.revision, self.objects) != self._base:
                cursor, sql = raw_cursor()
                cursor.execute(sql.counters, (self.revision, self.objects, self.cluster_id))
        except BaseException as exc:
            _local.batch = None
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        _local.batch = None
        atomic.__exit__(None, None, None)

    def abort(self) -> None:
        _local.batch = None
        self.events, self.traces, self.tail = [], [], []
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            atomic.__exit__(RuntimeError, RuntimeError("group commit aborted"), None)


_local = threading.local()


class _Revisions:
    """Where one write takes its revisions: the open group commit, or its own transaction."""

    def __init__(self, cluster_id: int) -> None:
        batch = getattr(_local, "batch", None)
        self.batch: GroupCommit | None = batch if batch is not None and batch.cluster_id == cluster_id else None
        self.cluster_id = cluster_id
        self._atomic: Any = None
        self._taken = (0, 0)

    def __enter__(self) -> _Revisions:
        if self.batch is None:
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._atomic is not None:
            self._atomic.__exit__(*exc)

    def take(self, count: int, objects: int = 0) -> tuple[int, int]:
        """The last of ``count`` new revisions, and the object count after this write."""
        if self.batch is None:
            return _allocate(self.cluster_id, count, objects)
        self._taken = (self.batch.revision + count, self.batch.objects + objects)
        return self._taken

    def done(self, key: Key | None = None) -> None:
        """The write landed: a batch moves its counters on (and rings the doorbell once, on commit)."""
        if self.batch is None:
            _after_commit(self.cluster_id)
            return
        self.batch.revision, self.batch.objects = self._taken
        if key is not None:
            self.batch.reads.pop(key, None)
        doorbell.note_write(self.cluster_id)
        if not self.batch.rings:
            self.batch.rings = True
            cluster_id = self.cluster_id
            transaction.on_commit(lambda: doorbell.ring(cluster_id))

    def failed(self) -> None:
        """Nothing of this write may stay."""
        if self.batch is None:
            transaction.set_rollback(True)


def create(
    cluster_id: int,
    key: Key,
    body: dict[str, Any],
    trace: list[PendingTrace] | None = None,
    uid_for: Callable[[int], str] | None = None,
    max_objects: int | None = None,
    owned: bool = False,
) -> dict[str, Any]:
    """Store a new key. ``uid_for(revision)`` names the object once its revision is known.

    ``owned``: ``body`` is the caller's fresh copy, given away (the store may keep and return it).
    """
    trace = trace or []
    with _Revisions(cluster_id) as revs:
        last, objects = revs.take(len(trace) + 1, 1)
        if max_objects is not None and objects > max_objects:
            revs.failed()
            raise QuotaExceeded(max_objects)
        revision = last
        stored = _stamp(body, revision, owned)
        if uid_for is not None:
            stored["metadata"]["uid"] = uid_for(revision)
        text = pack_body(stored)
        cursor, sql = raw_cursor()
        cursor.execute(sql.insert_object, (cluster_id, key.group, key.kind, key.namespace, key.name, revision, text))
        if cursor.rowcount != 1:
            revs.failed()
            raise KeyExists(key)
        _insert_event(cluster_id, revision, EventType.ADDED, key, stored, text)
        _write_trace(cluster_id, last - len(trace), trace)
        revs.done(key)
    return stored


def update(
    cluster_id: int,
    key: Key,
    body: dict[str, Any],
    expected_rv: int,
    trace: list[PendingTrace] | None = None,
    owned: bool = False,
) -> dict[str, Any]:
    """Compare-and-swap: succeeds only while the stored revision is still ``expected_rv``."""
    trace = trace or []
    with _Revisions(cluster_id) as revs:
        last, _ = revs.take(len(trace) + 1)
        stored = _stamp(body, last, owned)
        text = pack_body(stored)
        cursor, sql = raw_cursor()
        cursor.execute(
            sql.update_object, (last, text, cluster_id, key.group, key.kind, key.namespace, key.name, expected_rv)
        )
        if cursor.rowcount != 1:
            exists = StoredObject.objects.filter(
                cluster_id=cluster_id, group=key.group, kind=key.kind, namespace=key.namespace, name=key.name
            ).exists()
            revs.failed()
            raise CompareFailed(key) if exists else KeyMissing(key)
        _write_trace(cluster_id, last - len(trace), trace)
        _insert_event(cluster_id, last, EventType.MODIFIED, key, stored, text)
        revs.done(key)
    return stored


def delete(
    cluster_id: int,
    key: Key,
    expected_rv: int | None,
    trace: list[PendingTrace] | None = None,
) -> dict[str, Any]:
    """Remove the key; the DELETED event carries the last state at the deletion's revision."""
    trace = trace or []
    with _Revisions(cluster_id) as revs:
        qs = StoredObject.objects.filter(
            cluster_id=cluster_id, group=key.group, kind=key.kind, namespace=key.namespace, name=key.name
        )
        row = qs.values_list("resource_version", "body").first()
        if row is None:
            raise KeyMissing(key)
        if expected_rv is not None and row[0] != expected_rv:
            raise CompareFailed(key)
        last, _ = revs.take(len(trace) + 1, -1)
        if qs.filter(resource_version=row[0]).delete()[0] != 1:
            revs.failed()
            raise CompareFailed(key)
        stored = _stamp(_json(row[1]), last, owned=True)
        _write_trace(cluster_id, last - len(trace), trace)
        _insert_event(cluster_id, last, EventType.DELETED, key, stored, pack_body(stored))
        revs.done(key)
    return stored


def record(cluster_id: int, trace: list[PendingTrace]) -> int:
    """Append trace steps that go with no write; returns the last sequence number."""
    if not trace:
        return current_revision(cluster_id)
    with _Revisions(cluster_id) as revs:
        last, _ = revs.take(len(trace))
        _write_trace(cluster_id, last - len(trace) + 1, trace)
        revs.done()
    return last


def _json(value: Any) -> Any:
    return load_stored(value)


def get(cluster_id: int, key: Key, shared: bool = False) -> dict[str, Any] | None:
    """One object by key. Hand-written SQL: this is the hottest read of every write.

    ``shared``: the caller will not change the result, so inside a group commit it may be
    one the batch already read (no one else can write until the batch commits).
    """
    batch = getattr(_local, "batch", None) if shared else None
    if batch is not None and batch.cluster_id == cluster_id:
        if key not in batch.reads:
            batch.reads[key] = get(cluster_id, key)
        return batch.reads[key]
    cursor, sql = raw_cursor()
    cursor.execute(sql.get, (cluster_id, key.group, key.kind, key.namespace, key.name))
    row = cursor.fetchone()
    return None if row is None else _json(row[0])


def list_(cluster_id: int, group: str, kind: str, namespace: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """All objects of a kind (optionally in one namespace), and the revision they were read at."""
    with transaction.atomic():
        revision = current_revision(cluster_id)
        qs = StoredObject.objects.filter(cluster_id=cluster_id, group=group, kind=kind)
        if namespace is not None:
            qs = qs.filter(namespace=namespace)
        bodies = list(qs.order_by("namespace", "name").values_list("body", flat=True))
    return bodies, revision


def current_revision(cluster_id: int) -> int:
    batch = getattr(_local, "batch", None)
    if batch is not None and batch.cluster_id == cluster_id:
        return int(batch.revision)
    return Cluster.objects.values_list("revision", flat=True).get(pk=cluster_id)


def events_after(
    cluster_id: int,
    revision: int,
    group: str | None = None,
    kind: str | None = None,
    namespace: str | None = None,
    limit: int = 500,
) -> list[WatchEvent]:
    flush(cluster_id)
    qs = WatchEvent.objects.filter(cluster_id=cluster_id, revision__gt=revision)
    if kind is not None:
        qs = qs.filter(group=group or "", kind=kind)
    if namespace is not None:
        qs = qs.filter(namespace=namespace)
    return list(qs.order_by("revision")[:limit])


def oldest_event_revision(cluster_id: int) -> int:
    flush(cluster_id)
    first = (
        WatchEvent.objects.filter(cluster_id=cluster_id).order_by("revision").values_list("revision", flat=True).first()
    )
    return first if first is not None else current_revision(cluster_id)

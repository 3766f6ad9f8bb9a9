"""The glass's feed: the cluster's log as the browser folds it, and one reader per cluster per process.

A read is bounded by the head it first observed. Writers of one cluster commit in
revision order (the revision row serialises them), so every entry at or below an
observed head is already committed: a bounded read can neither miss an entry nor see
one twice. The :class:`Hub` reads each new stretch of the log once and hands the same
serialised frame to every socket watching that cluster, so 300 viewers cost one query.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from cluster import clock, doorbell
from cluster.jsonutil import load_stored
from cluster.models import Cluster, StoredObject, TraceStep, WatchEvent

# The kinds the glass draws or inspects; the rest of the log (Leases renewing, Events, ConfigMaps) stays on the server.
KINDS: tuple[tuple[str, str], ...] = (
    ("", "Node"),
    ("", "Pod"),
    ("", "Service"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
)
_KIND_NAMES = sorted({k for _, k in KINDS})
PAGE = 1000
POLL_SECONDS = 1.0  # the longest a hub sleeps without looking (a lost doorbell costs at most this)


# One reader thread (so one database connection) for every hub and socket of this process.
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glass-feed")


def _shared_cache() -> bool:
    db = connections["default"]
    return db.vendor == "sqlite" and bool(db.is_in_memory_db())


def off_loop(fn: Any) -> Any:
    """Run a read in the thread pool, not daphne's one sync thread, where the control loops do their passes.

    Each pool thread keeps its database connection open between reads (these run on every
    write; reconnecting each time would cost more than the read). A read that meets a busy
    or broken connection closes it and is retried: the cursor only moves after a read
    succeeds, so a hiccup costs latency, never an entry.
    """

    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except OperationalError:
            if not _shared_cache():
                connection.close()
            raise

    async def retrying(*args: Any) -> Any:
        # An in-memory SQLite database (the test runner's) shares one cache: concurrent connections
        # lock whole tables there, so its reads stay on the sync thread with the writers.
        shared = _shared_cache()
        call = (
            database_sync_to_async(fn) if shared else sync_to_async(guarded, thread_sensitive=False, executor=_READER)
        )
        for attempt in range(50):
            try:
                return await call(*args)
            except OperationalError:
                if attempt == 49:
                    raise
                await asyncio.sleep(min(0.5, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    return retrying


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what the browser never shows and what weighs most (managedFields, last-applied)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    annotations = meta.get("annotations") or {}
    if "managedFields" not in meta and LAST_APPLIED not in annotations:
        return obj
    meta = {k: v for k, v in meta.items() if k != "managedFields"}
    if LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": meta}


def _step_entry(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": s["seq"],
        "type": "TRACE",
        "simTime": s["sim_time"],
        "component": s["component"],
        "stage": s["stage"],
        "message": s["message"],
        "params": s["params"],
        "involved": s["involved"],
        "from": s["source"],
        "to": s["target"],
    }


def head(cluster_id: int) -> int:
    return int(Cluster.objects.values_list("revision", flat=True).get(pk=cluster_id))


def _json(value: Any) -> Any:
    return load_stored(value)


def _sql() -> tuple[str, str, str]:
    """The three reads of :func:`read`, in hand-written SQL: they run on every write, for every cluster watched."""
    q = connection.ops.quote_name
    events, steps, clusters = WatchEvent._meta.db_table, TraceStep._meta.db_table, Cluster._meta.db_table
    kinds = ", ".join(f"'{k}'" for k in _KIND_NAMES)
    return (
        f"SELECT revision, sim_seconds, clock_speed, clock_paused, clock_anchor, sim_epoch, name, next_timer "
        f"FROM {clusters} WHERE id = %s",
        f"SELECT revision, type, {q('group')}, kind, namespace, name, object FROM {events} "
        f"WHERE cluster_id = %s AND revision > %s AND revision <= %s AND kind IN ({kinds}) ORDER BY revision LIMIT %s",
        f"SELECT seq, sim_time, component, stage, message, params, involved, source, target FROM {steps} "
        f"WHERE cluster_id = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
    )


def read(cluster_id: int, after: int, upto: int | None = None, limit: int = PAGE) -> dict[str, Any]:
    """Entries with ``after < seq <= min(upto, head)``, oldest first; ``next`` is where to continue.

    Also ``clock``: the simulation clock's state, read in the same breath as the head.
    """
    head_sql, events_sql, steps_sql = _sql()
    limit = max(1, min(limit, 5000))
    with connection.cursor() as cursor:
        cursor.execute(head_sql, [cluster_id])
        row = cursor.fetchone()
        if row is None:
            raise Cluster.DoesNotExist(cluster_id)
        top = int(row[0])
        clock_ = _clock(row)
        bound = top if upto is None else min(upto, top)
        if bound <= after:
            return {"entries": [], "after": after, "next": max(after, bound), "head": top, "clock": clock_}
        cursor.execute(events_sql, [cluster_id, after, bound, limit])
        events = cursor.fetchall()
        cursor.execute(steps_sql, [cluster_id, after, bound, limit])
        steps = cursor.fetchall()
    wanted = set(KINDS)
    entries = [
        {
            "seq": e[0],
            "type": e[1],
            "group": e[2],
            "kind": e[3],
            "namespace": e[4],
            "name": e[5],
            "object": slim(_json(e[6])),
        }
        for e in events
        if (e[2], e[3]) in wanted
    ]
    entries += [
        {
            "seq": s[0], "type": "TRACE", "simTime": s[1], "component": s[2], "stage": s[3], "message": s[4],
            "params": _json(s[5]), "involved": _json(s[6]), "from": s[7], "to": s[8],
        }
        for s in steps
    ]  # fmt: skip
    entries.sort(key=lambda e: e["seq"])
    # A full page of either kind may hide later entries of the other: stop at the shorter reach.
    reach = bound
    if len(events) == limit:
        reach = min(reach, events[-1][0])
    if len(steps) == limit:
        reach = min(reach, steps[-1][0])
    entries = [e for e in entries if e["seq"] <= reach]
    return {"entries": entries, "after": after, "next": reach, "head": top, "clock": clock_}


def _clock(row: tuple[Any, ...]) -> dict[str, Any]:
    """The clock's state from the cluster row's fields (no second query)."""
    epoch = row[5]
    if isinstance(epoch, str):
        from django.utils.dateparse import parse_datetime

        epoch = parse_datetime(epoch)
    if epoch is not None and timezone.is_naive(epoch):
        epoch = timezone.make_aware(epoch, dt.UTC)
    fields = Cluster(
        sim_seconds=row[1], clock_speed=row[2], clock_paused=bool(row[3]), clock_anchor=row[4], sim_epoch=epoch,
        name=row[6], next_timer=row[7],
    )  # fmt: skip
    return clock.state(fields)


def snapshot(cluster_id: int) -> tuple[int, list[dict[str, Any]]]:
    """The glass kinds at one revision, read in one consistent transaction (list-then-watch starts here)."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        revision = head(cluster_id)
        bodies = list(
            StoredObject.objects.filter(cluster_id=cluster_id, kind__in=_KIND_NAMES)
            .order_by("kind", "namespace", "name")
            .values_list("group", "kind", "body")
        )
    wanted = set(KINDS)
    return revision, [slim(body) for group, kind, body in bodies if (group, kind) in wanted]


def recent_steps(cluster_id: int, upto: int, count: int = 40) -> list[dict[str, Any]]:
    """The last trace steps at or before ``upto``, oldest first: what the narration shows on page load."""
    steps = (
        TraceStep.objects.filter(cluster_id=cluster_id, seq__lte=upto)
        .order_by("-seq")
        .values("seq", "sim_time", "component", "stage", "message", "params", "involved", "source", "target")[:count]
    )
    return [_step_entry(s) for s in reversed(list(steps))]


def clock_state(cluster_id: int) -> dict[str, Any]:
    cluster = Cluster.objects.get(pk=cluster_id)
    return clock.state(cluster)


# ---------------------------------------------------------------------------- fan-out


@dataclass
class Batch:
    """One stretch of the log, ``(after, upto]``, already serialised for the wire."""

    after: int
    upto: int
    entries: list[dict[str, Any]]
    text: str


def frame(after: int, upto: int, head_: int, entries: list[dict[str, Any]], clock_: dict[str, Any] | None) -> str:
    body: dict[str, Any] = {"type": "log", "after": after, "next": upto, "head": head_, "entries": entries}
    if clock_ is not None:
        body["clock"] = clock_
    return json.dumps(body, separators=(",", ":"))


@dataclass
class Hub:
    """Reads one cluster's log once per ring and hands each batch to every subscriber's queue."""

    cluster_id: int
    cursor: int = 0
    queues: set[asyncio.Queue[Batch]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    last_clock: dict[str, Any] | None = None

    async def run(self) -> None:
        sub = doorbell.Subscription(self.cluster_id)
        try:
            self.cursor = await off_loop(head)(self.cluster_id)
            while True:
                page = await off_loop(read)(self.cluster_id, self.cursor)
                state = page["clock"]
                changed_clock = state if _clock_changed(self.last_clock, state) else None
                self.last_clock = state
                if page["next"] > self.cursor or changed_clock is not None:
                    batch = Batch(
                        self.cursor,
                        page["next"],
                        page["entries"],
                        frame(self.cursor, page["next"], page["head"], page["entries"], state),
                    )
                    self.cursor = page["next"]
                    for q in list(self.queues):
                        q.put_nowait(batch)
                if page["next"] < page["head"]:
                    continue
                await sub.wait(POLL_SECONDS)
        except Cluster.DoesNotExist:
            return
        finally:
            sub.close()


def _clock_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if old is None:
        return True
    return (old["speed"], old["paused"]) != (new["speed"], new["paused"])


_hubs: dict[tuple[int, int], Hub] = {}
# Scale-out: writes ring in other processes; one relay per loop brings those rings here.
_relays: dict[int, asyncio.Task[None]] = {}


def subscribe(cluster_id: int) -> tuple[Hub, asyncio.Queue[Batch]]:
    """Join (or start) this loop's hub for the cluster; batches read from now on arrive on the queue."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(id(loop))
    if relay is None or relay.done():
        _relays[id(loop)] = loop.create_task(doorbell.listen_remote())
    key = (id(loop), cluster_id)
    hub = _hubs.get(key)
    if hub is None or hub.task is None or hub.task.done():
        hub = Hub(cluster_id)
        _hubs[key] = hub
        hub.task = loop.create_task(hub.run())
    queue: asyncio.Queue[Batch] = asyncio.Queue()
    hub.queues.add(queue)
    return hub, queue


def unsubscribe(hub: Hub, queue: asyncio.Queue[Batch]) -> None:
    hub.queues.discard(queue)
    if not hub.queues and hub.task is not None:
        hub.task.cancel()
        for key, value in list(_hubs.items()):
            if value is hub:
                del _hubs[key]
        loop_id = id(asyncio.get_running_loop())
        if not any(k[0] == loop_id for k in _hubs) and (relay := _relays.pop(loop_id, None)) is not None:
            relay.cancel()
        if not _hubs and not _shared_cache():
            _READER.submit(connections.close_all)  # nobody is watching: let the reader's connection go

"""The controller pattern: a base class, and the context every control loop runs in."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, ClassVar

from cluster import clock, etcd
from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options, Result
from cluster.api.errors import StatusError
from cluster.controlplane.events import EventRecorder
from cluster.controlplane.informer import Informers, Lister, object_key
from cluster.controlplane.workqueue import WorkQueue
from cluster.jsonutil import clone
from cluster.models import Cluster

logger = logging.getLogger(__name__)


class Written(Result):
    """A control loop's write result.

    Inside a group commit the stored object is the very one this thread's informers receive
    (etcd's batch tail, shared and never mutated), so a loop that wants ``object`` gets its own
    copy, made when it first asks; ``shared`` reads the stored one without copying.
    """

    def __init__(self, result: Result) -> None:
        self.shared = result.object
        self.code = result.code
        self.warnings = result.warnings
        self._copy: dict[str, Any] | None = None

    @property  # type: ignore[override]
    def object(self) -> dict[str, Any]:
        if self._copy is None:
            self._copy = clone(self.shared)
        return self._copy


class Context:
    """What a control loop may use: the informer caches, the API server, the clock and the seeded generator."""

    def __init__(self, cluster: Cluster, informers: Informers) -> None:
        self.cluster = cluster
        self.informers = informers
        self.api = ApiServer(cluster, watch_cache=informers.cached)
        self._rngs: dict[str, random.Random] = {}
        self.pending_trace: list[etcd.PendingTrace] = []
        self.recorder = EventRecorder(self.api, self.now, self.now_ns, self.timestamp)

    def now(self) -> float:
        return clock.sim_seconds(self.cluster)

    def now_ns(self) -> int:
        moment = clock.sim_now(self.cluster)
        return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000

    def timestamp(self) -> str:
        return clock.rfc3339(clock.sim_now(self.cluster))

    def rng(self, stream: str) -> random.Random:
        """One seeded generator per named stream, so components do not disturb each other's sequences."""
        if stream not in self._rngs:
            self._rngs[stream] = random.Random(f"{self.cluster.seed}/{stream}")
        return self._rngs[stream]

    def lister(self, group: str, kind: str) -> Lister:
        return self.informers.lister(group, kind)

    def opts(self, component: str, **kw: Any) -> Options:
        """Options for a control loop's write: no schema decode, and the queued trace steps ride along."""
        pending, self.pending_trace = self.pending_trace, []
        return Options(component=component, trace=False, field_validation="Ignore", decode=False, pending=pending, **kw)

    # Writes, always through the API server.
    def create(
        self, component: str, group: str, kind: str, namespace: str | None, body: dict[str, Any], owned: bool = False
    ) -> Written:
        """``owned``: ``body`` is a fresh object, built for this write and shared with nothing,
        so the API server may keep it instead of copying it."""
        resource = registry.by_kind(group, kind)
        assert resource is not None
        opts = self.opts(component)
        opts.owned = owned
        return Written(self.api.create(resource, namespace, body, opts))

    def update(self, component: str, obj: dict[str, Any], subresource: str | None = None) -> Written:
        resource = registry.by_api_version(obj["apiVersion"], obj["kind"])
        assert resource is not None
        meta = obj["metadata"]
        return Written(
            self.api.update(resource, meta.get("namespace"), meta["name"], obj, self.opts(component), subresource)
        )

    def update_status(self, component: str, obj: dict[str, Any]) -> Written:
        return self.update(component, obj, "status")

    def patch(
        self,
        component: str,
        group: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        subresource: str | None = None,
    ) -> Written:
        resource = registry.by_kind(group, kind)
        assert resource is not None
        return Written(
            self.api.patch(
                resource, namespace, name, "application/merge-patch+json", patch, self.opts(component), subresource
            )
        )

    def delete(
        self, component: str, group: str, kind: str, namespace: str | None, name: str, **kw: Any
    ) -> Written | None:
        resource = registry.by_kind(group, kind)
        assert resource is not None
        try:
            return Written(self.api.delete(resource, namespace, name, self.opts(component), **kw))
        except StatusError as err:
            if err.code == 404:
                return None
            raise

    def trace(
        self,
        component: str,
        stage: str,
        message: str,
        params: dict[str, Any] | None = None,
        involved: list[dict[str, Any]] | None = None,
        source: str = "",
        target: str = "",
    ) -> None:
        """Queue a trace step; it is written with the loop's next flush, in order."""
        self.pending_trace.append(
            etcd.PendingTrace(component, stage, message, params or {}, involved or [], source, target, self.now())
        )

    def flush_trace(self) -> None:
        if self.pending_trace:
            steps, self.pending_trace = self.pending_trace, []
            self.api.record(steps)

    def event(
        self,
        component: str,
        obj: dict[str, Any],
        etype: str,
        reason: str,
        message: str,
        host: str | None = None,
        source: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """Record a core/v1 Event the way client-go's EventRecorder does, counting repeats.

        ``source`` defaults to the component's name before any "/" (``kubelet/worker-1`` → ``kubelet``).
        """
        self.recorder.record(
            obj,
            etype,
            reason,
            message,
            self.opts(component),
            source or component.split("/")[0],
            host,
            field_path,
        )


class Controller:
    """One control loop. Subclasses name what they watch and implement ``reconcile``."""

    component: ClassVar[str] = ""
    name: ClassVar[str] = ""
    watches: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Watched kinds narrowed by a field selector whose value is ``selector_value`` (a node agent's node).
    field_selectors: ClassVar[dict[tuple[str, str], str]] = {}
    # A periodic resync re-enqueues every primary object, covering any lost wake-up.
    resync_seconds: ClassVar[float | None] = 300.0

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.queue = WorkQueue(self.name)
        self.last_resync = ctx.now()
        self._handlers: list[Callable[..., None]] = []
        for group, kind in self.watches:
            handler = self._make_handler(group, kind)
            self._handlers.append(handler)
            field = self.field_selectors.get((group, kind))
            ctx.informers.add_handler(group, kind, handler, field, self.selector_value if field else None)

    @property
    def selector_value(self) -> str | None:
        """The value this loop's field selectors match (its node, for a node agent)."""
        return None

    def replay(self) -> None:
        """Hand everything already cached to this loop, as a new informer's initial list would."""
        for group, kind in self.watches:
            field = self.field_selectors.get((group, kind))
            handler = self._make_handler(group, kind)
            self.ctx.informers.replay_handlers(group, kind, handler, field, self.selector_value if field else None)

    @property
    def identity(self) -> str:
        return self.component

    def _make_handler(
        self, group: str, kind: str
    ) -> Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]:
        def handler(etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
            self.on_event(group, kind, etype, old, new)

        return handler

    def detach(self) -> None:
        handlers = set(map(id, self._handlers))
        self.ctx.informers.remove_handlers(lambda h: id(h) in handlers)

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        """Default: enqueue the key of the object itself when it is this loop's primary kind."""
        if self.watches and (group, kind) == self.watches[0] and new is not None:
            self.queue.add(object_key(new))

    def resync(self) -> None:
        if not self.watches:
            return
        for obj in self.ctx.lister(*self.watches[0]):
            self.queue.add(object_key(obj))

    def reconcile(self, key: str) -> float | None:
        """Bring actual state toward desired state for ``key``; return seconds until the next look, or None."""
        raise NotImplementedError

    def next_due(self) -> float | None:
        due = self.queue.next_due()
        if self.resync_seconds is not None:
            resync_at = self.last_resync + self.resync_seconds
            due = resync_at if due is None else min(due, resync_at)
        return due

    def ready_count(self) -> int:
        """How many keys are ready now (at least one when a resync is due)."""
        now = self.ctx.now()
        ready = self.queue.ready_count(now)
        if ready == 0 and self.resync_seconds is not None and now >= self.last_resync + self.resync_seconds:
            return 1
        return ready

    def run_one(self) -> bool:
        """Process one ready key; False when none is ready."""
        now = self.ctx.now()
        if self.resync_seconds is not None and now >= self.last_resync + self.resync_seconds:
            self.last_resync = now
            self.resync()
        key = self.queue.pop(now)
        if key is None:
            return False
        try:
            again = self.reconcile(key)
        except StatusError as err:
            # Conflicts and races are normal: requeue with back-off and read the cache again.
            self.ctx.pending_trace.clear()
            self.queue.add_rate_limited(key, now)
            logger.debug("%s: %s requeued after %s %s", self.name, key, err.code, err.message)
            return True
        self.queue.forget(key)
        self.ctx.flush_trace()
        if again is not None:
            self.queue.add_after(key, now + max(0.0, again))
        return True

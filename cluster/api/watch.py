"""Watch: a chunked stream of JSON events read from the store's log past a resourceVersion.

The doorbell only shortens the wait; each loop re-reads the log from its cursor,
so a lost ring never loses an event.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse

from cluster import clock, doorbell, etcd
from cluster.api import rawextension
from cluster.api.errors import StatusError, bad_request
from cluster.api.registry import Resource
from cluster.api.selectors import Predicate, field_predicate, label_predicate
from cluster.models import Cluster

DEFAULT_TIMEOUT = 1800.0
POLL_INTERVAL = 1.0
BOOKMARK_INTERVAL = 10.0


@dataclass
class WatchPlan:
    cluster: Cluster
    resource: Resource
    namespace: str | None
    name: str | None
    label: Predicate | None
    field: Predicate | None
    resource_version: int | None
    timeout: float
    as_table: bool
    include_object: str
    bookmarks: bool


def plan(
    request: HttpRequest,
    cluster: Cluster,
    resource: Resource,
    namespace: str | None,
    as_table: bool,
    name: str | None = None,
) -> WatchPlan:
    q = request.GET
    rv_text = q.get("resourceVersion") or ""
    rv: int | None = None
    if rv_text not in ("", "0"):
        try:
            rv = int(rv_text)
        except ValueError as exc:
            raise bad_request(f'invalid resource version "{rv_text}"') from exc
    field_selector = q.get("fieldSelector")
    if name:
        field_selector = ",".join(x for x in (field_selector, f"metadata.name={name}") if x)
    try:
        timeout = float(q.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError as exc:
        raise bad_request("timeoutSeconds must be a number") from exc
    return WatchPlan(
        cluster=cluster,
        resource=resource,
        namespace=namespace,
        name=name,
        label=label_predicate(q.get("labelSelector")),
        field=field_predicate(field_selector, resource.kind),
        resource_version=rv,
        timeout=max(1.0, min(timeout, DEFAULT_TIMEOUT)),
        as_table=as_table,
        include_object=q.get("includeObject") or "Metadata",
        bookmarks=q.get("allowWatchBookmarks") in ("true", "1"),
    )


def _matches(p: WatchPlan, obj: dict[str, Any]) -> bool:
    return (p.label is None or p.label(obj)) and (p.field is None or p.field(obj))


class _Encoder:
    def __init__(self, p: WatchPlan) -> None:
        self.plan = p
        self.first = True

    def line(self, etype: str, obj: dict[str, Any]) -> bytes:
        if self.plan.as_table and etype != "ERROR" and etype != "BOOKMARK":
            from cluster.api import printers

            table = printers.table(
                self.plan.resource.kind, [obj], clock.sim_now(self.plan.cluster), self.plan.include_object
            )
            table.setdefault("metadata", {})["resourceVersion"] = obj["metadata"].get("resourceVersion", "")
            if not self.first:
                table["columnDefinitions"] = None
            self.first = False
            obj = table
        return (
            json.dumps({"type": etype, "object": rawextension.canonical(obj)}, separators=(",", ":")) + "\n"
        ).encode()


def _initial(p: WatchPlan) -> tuple[list[dict[str, Any]], int]:
    items, revision = etcd.list_(p.cluster.pk, p.resource.group, p.resource.kind, p.namespace)
    return [i for i in items if _matches(p, i)], revision


def _events(p: WatchPlan, cursor: int) -> list[tuple[int, str, dict[str, Any]]]:
    rows = etcd.events_after(p.cluster.pk, cursor, p.resource.group, p.resource.kind, p.namespace)
    return [(e.revision, e.type, e.object) for e in rows]


def _bookmark(p: WatchPlan, cursor: int) -> dict[str, Any]:
    return {
        "kind": p.resource.kind,
        "apiVersion": p.resource.group_version,
        "metadata": {"resourceVersion": str(cursor), "annotations": {"k8s.io/initial-events-end": "true"}},
    }


async def stream(p: WatchPlan) -> AsyncIterator[bytes]:
    enc = _Encoder(p)
    sub = doorbell.Subscription(p.cluster.pk)
    try:
        if p.resource_version is None:
            items, cursor = await sync_to_async(_initial, thread_sensitive=True)(p)
            for obj in items:
                yield enc.line("ADDED", obj)
        else:
            cursor = p.resource_version
        deadline = time.monotonic() + p.timeout
        last_bookmark = time.monotonic()
        while True:
            events = await sync_to_async(_events, thread_sensitive=True)(p, cursor)
            for revision, etype, obj in events:
                cursor = revision
                if _matches(p, obj):
                    yield enc.line(etype, obj)
            if events:
                continue
            now = time.monotonic()
            if now >= deadline:
                return
            if p.bookmarks and now - last_bookmark >= BOOKMARK_INTERVAL:
                last_bookmark = now
                yield enc.line("BOOKMARK", _bookmark(p, cursor))
            await sub.wait(min(POLL_INTERVAL, deadline - now))
    except StatusError as err:
        yield enc.line("ERROR", err.status())
    finally:
        sub.close()


def response(p: WatchPlan) -> StreamingHttpResponse:
    resp = StreamingHttpResponse(stream(p), content_type="application/json")
    resp.headers["Cache-Control"] = "no-cache, private"
    return resp

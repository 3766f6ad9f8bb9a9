"""The dashboard's one WebSocket: the cluster's log from the revision the page was rendered at.

List-then-watch: the page carries the state at revision R and opens
``/ws/clusters/<name>/?after=R``; this consumer sends every entry after R exactly once,
in order, first from the database and then from the per-cluster :class:`~web.feed.Hub`.
A frame is ``{"type": "log", "after": a, "next": n, "head": h, "entries": [...], "clock": {...}}``
and covers ``(a, n]`` completely.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from cluster.api.authz import can_access
from cluster.models import Cluster
from web import feed

# Close codes (4000-4999 are the application's): the browser shows why and does not retry forever.
UNAUTHENTICATED = 4401
NOT_FOUND = 4404


class GlassConsumer(AsyncWebsocketConsumer):
    cluster_id: int
    cursor: int

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        name = self.scope["url_route"]["kwargs"]["cluster_name"]
        cluster_id = await self._cluster_id(name, user)
        if cluster_id is None:
            # Someone else's cluster is refused exactly like a missing one, so names do not leak.
            await self.close(code=NOT_FOUND)
            return
        self.cluster_id = cluster_id
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.cursor = max(0, int(query.get("after", [""])[0]))
        except ValueError:
            self.cursor = await feed.off_loop(feed.head)(cluster_id)
        await self.accept()
        # Subscribe before the first read, so nothing committed in between can fall through.
        self.hub, self.queue = feed.subscribe(cluster_id)
        self.pump = asyncio.ensure_future(self._pump())

    async def disconnect(self, code: int) -> None:
        pump = getattr(self, "pump", None)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        if hasattr(self, "hub"):
            feed.unsubscribe(self.hub, self.queue)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser only listens; anything it sends is ignored."""

    @database_sync_to_async
    def _cluster_id(self, name: str, user: Any) -> int | None:
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None or not can_access(user, cluster):
            return None
        return int(cluster.pk)

    async def _catch_up(self, upto: int | None) -> None:
        """Send what the database holds past the cursor (up to ``upto``), page by page."""
        while True:
            page = await feed.off_loop(feed.read)(self.cluster_id, self.cursor, upto)
            if page["next"] <= self.cursor:
                return
            await self.send(
                text_data=feed.frame(self.cursor, page["next"], page["head"], page["entries"], page["clock"])
            )
            self.cursor = page["next"]
            if upto is not None and self.cursor >= upto:
                return
            if page["next"] >= page["head"]:
                return

    async def _pump(self) -> None:
        await self._catch_up(None)
        while True:
            batch = await self.queue.get()
            if batch.after > self.cursor:
                await self._catch_up(batch.after)
            if batch.upto <= self.cursor:
                if not batch.entries:
                    await self.send(text_data=batch.text)  # only the clock changed
                continue
            if batch.after == self.cursor:
                await self.send(text_data=batch.text)
            else:
                fresh = [e for e in batch.entries if e["seq"] > self.cursor]
                await self.send(text_data=feed.frame(self.cursor, batch.upto, batch.upto, fresh, None))
            self.cursor = batch.upto

"""Wake-ups for watchers and control loops.

A ring is only a hint that the log grew: a missed ring costs latency, never
correctness, because every reader re-reads the log past its own cursor.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict

ANY = 0  # waiters on ANY wake on every cluster's ring
GROUP = "kubeglass-doorbell"
_lock = threading.Lock()
_waiters: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)


# Writes this process made or heard of, per cluster. A reader compares the count with the one
# it saw last, to skip a log read that would find nothing new. Bumped at write time, not commit
# time, so a rolled-back write only costs one needless read.
_writes: dict[int, int] = {}


def note_write(cluster_id: int) -> None:
    with _lock:
        _writes[cluster_id] = _writes.get(cluster_id, 0) + 1
        _writes[ANY] = _writes.get(ANY, 0) + 1


def writes(cluster_id: int) -> int:
    return _writes.get(cluster_id, 0)


def ring(cluster_id: int, remote: bool = False) -> None:
    """Wake every local waiter on ``cluster_id`` (and on ANY); safe from any thread."""
    if remote:
        note_write(cluster_id)
    with _lock:
        waiters = list(_waiters.get(cluster_id, ())) + list(_waiters.get(ANY, ()))
    for loop, event in waiters:
        if not loop.is_closed():
            loop.call_soon_threadsafe(event.set)
    if not remote and _cross_process():
        _publish(cluster_id)


def _cross_process() -> bool:
    from django.conf import settings

    return "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]


def _publish(cluster_id: int) -> None:
    """Tell the other processes (scale-out mode) through the channel layer; a lost message is harmless."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    try:
        async_to_sync(get_channel_layer().group_send)(GROUP, {"type": "doorbell.ring", "cluster": cluster_id})
    except Exception:  # the layer being down must never fail a write that already committed
        pass


async def listen_remote() -> None:
    """Relay rings from other processes to this one's waiters (scale-out mode only)."""
    if not _cross_process():
        return
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    try:
        while True:
            message = await layer.receive(channel)
            ring(int(message.get("cluster", ANY)), remote=True)
            # Group membership expires in channels-redis; renew it now and then.
            await layer.group_add(GROUP, channel)
    finally:
        await layer.group_discard(GROUP, channel)


async def wait(cluster_id: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a ring; True when one came."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    entry = (loop, event)
    with _lock:
        _waiters[cluster_id].add(entry)
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        with _lock:
            _waiters[cluster_id].discard(entry)
            if not _waiters[cluster_id]:
                _waiters.pop(cluster_id, None)


class Subscription:
    """A standing registration, so that a ring between two reads is not lost."""

    def __init__(self, cluster_id: int) -> None:
        self.cluster_id = cluster_id
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        with _lock:
            _waiters[cluster_id].add((self.loop, self.event))

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.event.clear()

    def close(self) -> None:
        with _lock:
            _waiters[self.cluster_id].discard((self.loop, self.event))
            if not _waiters[self.cluster_id]:
                _waiters.pop(self.cluster_id, None)

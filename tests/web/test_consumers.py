"""The dashboard socket: list-then-watch from a revision, for the cluster's owner only."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.bootstrap import Topology, create_cluster
from web import feed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
CM = registry.by_kind("", "ConfigMap")
POD = registry.by_kind("", "Pod")


def _app() -> Any:
    from web.asgi import application

    return application


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _communicator(path: str, cookie: str | None, origin: str = "http://testserver") -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(_app(), path, headers=headers)


def _pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


@pytest.fixture
def setup(django_user_model: Any) -> tuple[Any, Any, Any]:
    owner = django_user_model.objects.create_user(username="alice")
    stranger = django_user_model.objects.create_user(username="mallory")
    cluster = create_cluster("lab", owner, Topology(workers=2, seed=3, system_workloads=False))
    return owner, stranger, cluster


async def _frames_until(comm: WebsocketCommunicator, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate(frames):
        remaining = deadline - loop.time()
        assert remaining > 0, f"timed out; got {frames!r}"
        frames.append(json.loads(await comm.receive_from(timeout=remaining)))
    return frames


def _entries(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for f in frames for e in f["entries"]]


async def test_start_from_a_revision_is_gap_free(setup: tuple[Any, Any, Any]) -> None:
    """Entries written before and after connecting arrive exactly once, in order, and frames tile the log."""
    owner, _, cluster = setup
    api = ApiServer(cluster, owner)
    start = await sync_to_async(feed.head)(cluster.pk)
    await sync_to_async(api.create)(POD, "default", _pod("before-1"))
    await sync_to_async(api.create)(POD, "default", _pod("before-2"))
    comm = _communicator(f"/ws/clusters/lab/?after={start}", await sync_to_async(_session_cookie)(owner))
    connected, _ = await comm.connect()
    assert connected

    async def writer() -> None:
        for i in range(6):
            await sync_to_async(api.create)(POD, "default", _pod(f"after-{i}"))
            await asyncio.sleep(0.01)

    await writer()
    final = await sync_to_async(feed.head)(cluster.pk)
    frames = await _frames_until(comm, lambda fs: bool(fs) and fs[-1]["next"] >= final)
    await comm.disconnect()

    entries = _entries(frames)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(set(seqs)), "entries arrive once each, in order"
    assert seqs[0] > start
    added = [e["name"] for e in entries if e["type"] == "ADDED"]
    assert added == ["before-1", "before-2"] + [f"after-{i}" for i in range(6)]
    # Frames cover (after, next] with no hole between them.
    assert frames[0]["after"] == start
    for a, b in itertools.pairwise(frames):
        assert b["after"] == a["next"]
    # The folded stream equals a fresh read of the log over the same range (Zulip's cursor test).
    fresh = await sync_to_async(feed.read)(cluster.pk, start, final, 5000)
    assert [e["seq"] for e in fresh["entries"]] == seqs


async def test_concurrent_writers_never_leave_a_hole(setup: tuple[Any, Any, Any]) -> None:
    """Writes racing the socket's reads are neither lost nor repeated."""
    owner, _, cluster = setup
    api = ApiServer(cluster, owner)
    start = await sync_to_async(feed.head)(cluster.pk)
    comm = _communicator(f"/ws/clusters/lab/?after={start}", await sync_to_async(_session_cookie)(owner))
    assert (await comm.connect())[0]
    names = [f"cm-{i}" for i in range(30)]
    for n in names:
        await sync_to_async(api.create)(POD, "default", _pod(n))
    final = await sync_to_async(feed.head)(cluster.pk)
    frames = await _frames_until(comm, lambda fs: bool(fs) and fs[-1]["next"] >= final)
    await comm.disconnect()
    entries = _entries(frames)
    seqs = [e["seq"] for e in entries]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
    assert [e["name"] for e in entries if e["type"] == "ADDED"] == names
    traces = [e for e in entries if e["type"] == "TRACE"]
    assert len(traces) == 5 * len(names), "every write's five pipeline steps arrive"


async def test_kinds_the_glass_does_not_draw_stay_on_the_server(setup: tuple[Any, Any, Any]) -> None:
    """A ConfigMap's trace steps are sent; its watch event is not (the browser folds only what it draws)."""
    owner, _, cluster = setup
    api = ApiServer(cluster, owner)
    start = await sync_to_async(feed.head)(cluster.pk)
    comm = _communicator(f"/ws/clusters/lab/?after={start}", await sync_to_async(_session_cookie)(owner))
    assert (await comm.connect())[0]
    await sync_to_async(api.create)(CM, "default", {"metadata": {"name": "settings"}})
    final = await sync_to_async(feed.head)(cluster.pk)
    frames = await _frames_until(comm, lambda fs: bool(fs) and fs[-1]["next"] >= final)
    await comm.disconnect()
    entries = _entries(frames)
    assert {e["type"] for e in entries} == {"TRACE"}
    assert frames[-1]["clock"]["cluster"] == "lab"


async def test_a_stranger_is_refused(setup: tuple[Any, Any, Any]) -> None:
    """Another student's cluster is refused at the handshake, as if it did not exist."""
    _, stranger, _ = setup
    comm = _communicator("/ws/clusters/lab/?after=0", await sync_to_async(_session_cookie)(stranger))
    connected, code = await comm.connect()
    assert not connected
    assert code == 4404


async def test_no_session_is_refused(setup: tuple[Any, Any, Any]) -> None:
    comm = _communicator("/ws/clusters/lab/?after=0", None)
    connected, code = await comm.connect()
    assert not connected
    assert code == 4401


async def test_a_foreign_origin_is_refused(setup: tuple[Any, Any, Any]) -> None:
    """AllowedHostsOriginValidator turns away a page served from another site, even with a valid cookie."""
    owner, _, _ = setup
    comm = _communicator(
        "/ws/clusters/lab/?after=0", await sync_to_async(_session_cookie)(owner), origin="http://evil.example"
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_many_viewers_share_one_reader(setup: tuple[Any, Any, Any]) -> None:
    """Every socket of a cluster gets the same entries while the hub reads the log once."""
    owner, _, cluster = setup
    api = ApiServer(cluster, owner)
    cookie = await sync_to_async(_session_cookie)(owner)
    start = await sync_to_async(feed.head)(cluster.pk)
    comms = [_communicator(f"/ws/clusters/lab/?after={start}", cookie) for _ in range(5)]
    for c in comms:
        assert (await c.connect())[0]
    await sync_to_async(api.create)(POD, "default", _pod("shared"))
    final = await sync_to_async(feed.head)(cluster.pk)
    seen = []
    for c in comms:
        frames = await _frames_until(c, lambda fs: bool(fs) and fs[-1]["next"] >= final)
        seen.append([e["seq"] for e in _entries(frames)])
        await c.disconnect()
    assert all(s == seen[0] for s in seen) and seen[0]
    assert len([h for h in feed._hubs.values() if h.cluster_id == cluster.pk]) == 0, (
        "the hub stops with its last viewer"
    )

"""The glass benchmark: commit-to-WebSocket-frame latency, fan-out, browser frame time, JS shipped.

The server (daphne, the real ASGI stack: origin check, session auth, the glass consumer) runs
in a thread of this process, where the writes happen too, as in embedded mode. The
WebSocket clients run in a child process, so their work does not share the server's GIL;
both sides read the same monotonic clock. The baseline is a bare pub/sub + WebSocket echo
through the same server in the same run: a doorbell ring answered by a consumer that sends
a frame at once, without reading the log.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
N_LATENCY = int(os.environ.get("GLASS_BENCH_N", "200"))
FANOUT_CLIENTS = int(os.environ.get("GLASS_BENCH_CLIENTS", "300"))
FANOUT_RATE = 20.0  # events per second
FANOUT_SECONDS = 10.0
BROWSER_PODS = 1000
BROWSER_WORKERS = 100
BROWSER_WRITES_PER_S = float(os.environ.get("GLASS_BENCH_WRITES_PER_S", "150"))  # about what the control loops sustain
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
_ECHO = {"n": 0}


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------------- the server side


def _application() -> Any:
    from channels.auth import AuthMiddlewareStack
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.urls import path

    from cluster import doorbell
    from web.asgi import django_asgi_app, websocket_urlpatterns

    class Echo(AsyncWebsocketConsumer):
        """The baseline: wake on a ring, send a frame; no database, no log."""

        async def connect(self) -> None:
            await self.accept()
            self.sub = doorbell.Subscription(int(self.scope["url_route"]["kwargs"]["cid"]))
            self.task = asyncio.ensure_future(self.pump())

        async def pump(self) -> None:
            while True:
                if await self.sub.wait(5):
                    await self.send(text_data=json.dumps({"echo": _ECHO["n"]}))

        async def disconnect(self, code: int) -> None:
            self.task.cancel()
            self.sub.close()

    routes = [*websocket_urlpatterns, path("ws/echo/<int:cid>/", Echo.as_asgi())]
    return ProtocolTypeRouter(
        {"http": django_asgi_app, "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(routes)))}
    )


def _start_server(port: int) -> None:
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server

    ready = threading.Event()
    server = Server(
        application=_application(),
        endpoints=build_endpoint_description_strings(host="127.0.0.1", port=port),
        signal_handlers=False,
        action_logger=None,
        http_timeout=None,
        ready_callable=ready.set,
        verbosity=0,
    )
    threading.Thread(target=server.run, name="daphne", daemon=True).start()
    if not ready.wait(30):
        raise RuntimeError("daphne did not start")


def _session_cookie(user: Any) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def _pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


def _stamped_create(api: Any, pod: Any, name: str, stamps: dict[str, float]) -> None:
    """Create a pod; note the moment its transaction commits (before the write's own doorbell ring)."""
    from django.db import transaction

    with transaction.atomic():
        transaction.on_commit(lambda: stamps.__setitem__(name, time.perf_counter()))
        api.create(pod, "default", _pod(name))


# ----------------------------------------------------------------------------------- the client side


async def _clients(url: str, cookie: str, origin: str, count: int, expect: int, timeout: float) -> dict[str, Any]:
    """Open ``count`` sockets, say "ready", and note when each ``"name":"..."`` or echo first arrives."""
    import aiohttp

    added = re.compile(r'"type":"ADDED","group":"","kind":"Pod","namespace":"default","name":"([^"]+)"')
    seen: list[dict[str, float]] = [{} for _ in range(count)]
    gaps = [0] * count
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        t0 = time.perf_counter()
        sockets = [
            await session.ws_connect(url, headers={"Cookie": cookie, "Origin": origin}, max_msg_size=0, compress=0)
            for _ in range(count)
        ]
        sys.stderr.write(f"{count} sockets open in {time.perf_counter() - t0:.1f}s\n")

        async def read(i: int, ws: Any) -> None:
            cursor = None
            async for msg in ws:
                now = time.perf_counter()
                text = msg.data
                if text.startswith('{"echo"'):
                    seen[i].setdefault(str(json.loads(text)["echo"]), now)
                    continue
                head = json.loads(text[: text.index(',"head"')] + "}") if ',"head"' in text else {}
                if cursor is not None and head.get("after") != cursor:
                    gaps[i] += 1
                cursor = head.get("next", cursor)
                for name in added.findall(text):
                    seen[i].setdefault(name, now)

        tasks = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(sockets)]
        print("ready", flush=True)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and not all(len(s) >= expect for s in seen):
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        for ws in sockets:
            await ws.close()
    return {"seen": seen, "gaps": gaps}


def _run_clients(url: str, cookie: str, origin: str, count: int, expect: int, timeout: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "clients", url, cookie, origin, str(count), str(expect), str(timeout)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"the client process did not start: {line!r}")
    return proc


def _collect(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=300)
    return json.loads(out)


# ----------------------------------------------------------------------------------- the measurements


def _latency(base: str, cookie: str, cluster: Any, api: Any, pod: Any) -> dict[str, Any]:
    from cluster import doorbell
    from web import feed

    origin = base.replace("ws://", "http://")
    # Baseline: ring, and the echo consumer sends a frame.
    proc = _run_clients(f"{base}/ws/echo/{cluster.pk}/", cookie, origin, 1, N_LATENCY, 60)
    rung: dict[str, float] = {}
    for i in range(N_LATENCY):
        _ECHO["n"] = i
        rung[str(i)] = time.perf_counter()
        doorbell.ring(cluster.pk)
        time.sleep(0.02)
    echo = _collect(proc)["seen"][0]
    baseline = [echo[k] - rung[k] for k in rung if k in echo]
    # The glass: commit a pod, wait for its ADDED event in a frame of the dashboard's socket.
    head = feed.head(cluster.pk)
    proc = _run_clients(f"{base}/ws/clusters/{cluster.name}/?after={head}", cookie, origin, 1, N_LATENCY, 60)
    stamps: dict[str, float] = {}
    for i in range(N_LATENCY):
        _stamped_create(api, pod, f"lat-{i}", stamps)
        time.sleep(0.02)
    got = _collect(proc)["seen"][0]
    glass = [got[k] - stamps[k] for k in stamps if k in got]
    return {
        "latency_p50_ms": round(statistics.median(glass) * 1000, 2),
        "latency_p99_ms": round(_percentile(glass, 99) * 1000, 2),
        "baseline_echo_p50_ms": round(statistics.median(baseline) * 1000, 2),
        "baseline_echo_p99_ms": round(_percentile(baseline, 99) * 1000, 2),
        "latency_p50_ratio_to_baseline": round(statistics.median(glass) / statistics.median(baseline), 2),
        "latency_events_lost": N_LATENCY - len(glass),
    }


def _fanout(base: str, cookie: str, cluster: Any, api: Any, pod: Any) -> dict[str, Any]:
    from web import feed

    events = int(FANOUT_RATE * FANOUT_SECONDS)
    head = feed.head(cluster.pk)
    proc = _run_clients(
        f"{base}/ws/clusters/{cluster.name}/?after={head}",
        cookie,
        base.replace("ws://", "http://"),
        FANOUT_CLIENTS,
        events,
        120,
    )
    stamps: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(events):
        due = start + i / FANOUT_RATE
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        _stamped_create(api, pod, f"fan-{i}", stamps)
    result = _collect(proc)
    latencies = [t - stamps[name] for seen in result["seen"] for name, t in seen.items() if name in stamps]
    lost = FANOUT_CLIENTS * events - len(latencies)
    return {
        "fanout_clients": FANOUT_CLIENTS,
        "fanout_events_per_s": FANOUT_RATE,
        "fanout_events": events,
        "fanout_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "fanout_p99_ms": round(_percentile(latencies, 99) * 1000, 2),
        "fanout_frames_lost": lost,
        "fanout_frame_gaps": sum(result["gaps"]),
    }


FRAME_PROBE = """() => {
  window.__frames = [];
  let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stopFrames) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def _browser(http: str, cookie: str, user: Any) -> dict[str, Any]:
    """1,000 pods created, bound and run while headless Chromium draws them; rAF intervals while it does."""
    if not Path(CHROMIUM).exists():
        return {"browser": f"skipped: {CHROMIUM} is not installed"}
    from playwright.sync_api import sync_playwright

    from cluster.api import registry
    from cluster.api.apiserver import ApiServer, Options
    from cluster.bootstrap import Topology, create_cluster
    from cluster.models import Cluster

    Cluster.objects.filter(name="bench-1000").delete()
    cluster = create_cluster("bench-1000", user, Topology(workers=BROWSER_WORKERS, system_workloads=False))
    # Topology sizes the pod CIDR per node; 100 workers fit the default /16.
    api = ApiServer(cluster, user)
    pod_res = registry.by_kind("", "Pod")
    nodes = [f"worker-{i + 1}" for i in range(BROWSER_WORKERS)]
    name, value = cookie.split("=", 1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_cookies([{"name": name, "value": value, "url": http}])
        page = context.new_page()
        page.goto(f"{http}/clusters/bench-1000/")
        page.wait_for_selector("#socket-status.ok", timeout=30_000)
        page.evaluate(FRAME_PROBE)
        timing: dict[str, float] = {}

        def write() -> None:
            # Playwright's sync API runs an event loop in this thread, so the ORM works in another.
            from django.db import connection

            t0 = time.perf_counter()
            opts = Options(component="kube-scheduler")
            done = 0

            def pace() -> None:
                nonlocal done
                done += 1
                if (ahead := t0 + done / BROWSER_WRITES_PER_S - time.perf_counter()) > 0:
                    time.sleep(ahead)

            try:
                for batch in range(10):
                    names = [f"p{batch}-{i}" for i in range(BROWSER_PODS // 10)]
                    for n in names:
                        api.create(pod_res, "default", _pod(n))
                        pace()
                    for i, n in enumerate(names):
                        api.bind("default", n, {"target": {"name": nodes[(batch * len(names) + i) % len(nodes)]}}, opts)
                        pace()
                    for i, n in enumerate(names):
                        body = api.get(pod_res, "default", n)
                        k = batch * len(names) + i
                        ip = f"10.244.{1 + k % len(nodes)}.{10 + k // len(nodes)}"
                        body["status"].update(
                            phase="Running",
                            podIP=ip,
                            podIPs=[{"ip": ip}],
                            conditions=[{"type": "Ready", "status": "True"}],
                            containerStatuses=[
                                {"name": "c", "ready": True, "restartCount": 0, "state": {"running": {}}}
                            ],
                        )
                        api.update(pod_res, "default", n, body, Options(component="kubelet"), subresource="status")
                        pace()
            finally:
                timing["writes"] = time.perf_counter() - t0
                connection.close()

        writer = threading.Thread(target=write, name="writer")
        writer.start()
        page.wait_for_function(
            "(n) => { const tl = window.kubeglass.timeline; let ready = 0;"
            " for (const o of tl.cur.state.values()) if (o.kind === 'Pod' && (o.status.conditions || []).length) ready++;"
            " return ready >= n && tl.cur.seq >= tl.head; }",
            arg=BROWSER_PODS,
            timeout=180_000,
            polling=500,
        )
        writer.join()
        writes_s = timing["writes"]
        frames = page.evaluate("() => { window.__stopFrames = true; return window.__frames; }")
        browser.close()
    frames = frames[2:]
    return {
        "browser_pods": BROWSER_PODS,
        "browser_nodes": BROWSER_WORKERS,
        "browser_writes_seconds": round(writes_s, 1),
        "browser_writes_per_s": round(3 * BROWSER_PODS / writes_s, 1),
        "browser_frames": len(frames),
        "browser_frame_p50_ms": round(statistics.median(frames), 2),
        "browser_frame_p95_ms": round(_percentile(frames, 95), 2),
        "browser_frame_max_ms": round(max(frames), 1),
        # Intervals longer than one and a half vsyncs: a frame really dropped (not timer jitter).
        "browser_dropped_frames_pct": round(100 * sum(f > 25 for f in frames) / len(frames), 2),
    }


def _js_bytes() -> dict[str, Any]:
    files = [
        ROOT / "static" / "vendor" / "htmx.min.js",
        ROOT / "static" / "vendor" / "ws.js",
        *sorted((ROOT / "static" / "glass").glob("*.js")),
    ]
    raw = sum(f.stat().st_size for f in files)
    zipped = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
    return {"js_bytes": raw, "js_bytes_gzip": zipped, "js_files": len(files)}


def main() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from cluster.api import registry
    from cluster.api.apiserver import ApiServer
    from cluster.bootstrap import Topology, create_cluster
    from cluster.models import Cluster

    user, _ = get_user_model().objects.get_or_create(username="glassbench")
    Cluster.objects.filter(name="glassbench").delete()
    cluster = create_cluster("glassbench", user, Topology(workers=3, system_workloads=False))
    api = ApiServer(cluster, user)
    pod = registry.by_kind("", "Pod")
    port = _free_port()
    _start_server(port)
    cookie = _session_cookie(user)
    base = f"ws://127.0.0.1:{port}"
    figures: dict[str, Any] = {}
    figures.update(_latency(base, cookie, cluster, api, pod))
    figures.update(_fanout(base, cookie, cluster, api, pod))
    if os.environ.get("GLASS_BENCH_BROWSER", "1") == "1":
        figures.update(_browser(f"http://127.0.0.1:{port}", cookie, user))
    figures.update(_js_bytes())
    return figures


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "clients":
    _, _, url, cookie, origin, count, expect, timeout = sys.argv
    out = asyncio.run(_clients(url, cookie, origin, int(count), int(expect), float(timeout)))
    sys.stdout.write(json.dumps(out))
elif __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    from run import setup_django

    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp))
        print(json.dumps(main(), indent=2))

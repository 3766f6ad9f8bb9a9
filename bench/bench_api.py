"""API server benchmark: writes per second and watch-event latency, next to a bare ORM insert.

Both sides run in the same process on the same database in the same run, so the
ratios hold across machines even where the absolute numbers do not.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any

N_WRITES = 400
N_WATCH = 100


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from cluster.api import registry
    from cluster.api.apiserver import ApiServer, Options
    from cluster.bootstrap import Topology, create_cluster
    from cluster.models import Cluster, StoredObject

    user, _ = get_user_model().objects.get_or_create(username="bench")
    Cluster.objects.filter(name="bench").delete()
    cluster = create_cluster("bench", user, Topology(workers=3))
    api = ApiServer(cluster, user)
    cm = registry.by_kind("", "ConfigMap")
    assert cm is not None

    # Baseline: one bare ORM insert per transaction, the floor any write path pays.
    t0 = time.perf_counter()
    for i in range(N_WRITES):
        with transaction.atomic():
            StoredObject.objects.create(
                cluster=cluster,
                group="",
                kind="Baseline",
                namespace="default",
                name=f"b{i}",
                resource_version=i,
                body={"data": {"k": "v"}},
            )
    orm_per_s = N_WRITES / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for i in range(N_WRITES):
        api.create(cm, "default", {"metadata": {"name": f"c{i}"}, "data": {"k": "v"}}, Options(trace=True))
    api_per_s = N_WRITES / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for i in range(N_WRITES):
        api.create(cm, "default", {"metadata": {"name": f"n{i}"}, "data": {"k": "v"}}, Options(trace=False))
    api_untraced_per_s = N_WRITES / (time.perf_counter() - t0)

    latencies, baseline = _watch_latency(cluster, api, cm)
    return {
        "orm_inserts_per_s": round(orm_per_s, 1),
        "api_writes_per_s": round(api_per_s, 1),
        "api_writes_untraced_per_s": round(api_untraced_per_s, 1),
        "api_write_ratio_to_orm": round(api_per_s / orm_per_s, 3),
        "watch_latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "watch_latency_p99_ms": round(_percentile(latencies, 99) * 1000, 2),
        "orm_insert_latency_p50_ms": round(statistics.median(baseline) * 1000, 2),
        "watch_p50_ratio_to_orm_insert": round(statistics.median(latencies) / statistics.median(baseline), 2),
    }


def _watch_latency(cluster: Any, api: Any, cm: Any) -> tuple[list[float], list[float]]:
    """Commit-to-watch-line latency: a writer thread stamps each write; the watcher notes arrival."""
    from django.db import connections, transaction

    from cluster import etcd
    from cluster.api import watch
    from cluster.models import StoredObject

    start_rv = etcd.current_revision(cluster.pk)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    baseline: list[float] = []

    def writer() -> None:
        for i in range(N_WATCH):
            name = f"w{i}"
            t = time.perf_counter()
            with transaction.atomic():
                StoredObject.objects.create(
                    cluster=cluster,
                    group="",
                    kind="Baseline2",
                    namespace="default",
                    name=name,
                    resource_version=i,
                    body={},
                )
            baseline.append(time.perf_counter() - t)
            sent[name] = time.perf_counter()
            api.create(cm, "default", {"metadata": {"name": name}}, None)
            time.sleep(0.002)
        connections.close_all()

    plan = watch.WatchPlan(
        cluster=cluster,
        resource=cm,
        namespace="default",
        name=None,
        label=None,
        field=None,
        resource_version=start_rv,
        timeout=60,
        as_table=False,
        include_object="Metadata",
        bookmarks=False,
    )

    async def consume() -> None:
        import json

        thread = threading.Thread(target=writer)
        thread.start()
        async for line in watch.stream(plan):
            name = json.loads(line)["object"]["metadata"]["name"]
            got[name] = time.perf_counter()
            if len(got) >= N_WATCH:
                break
        thread.join()

    asyncio.run(consume())
    latencies = [got[n] - sent[n] for n in sent if n in got]
    return latencies, baseline

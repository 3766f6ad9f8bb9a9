"""Scheduling throughput of ``cluster.scheduler`` at 100, 1,000 and 5,000 nodes.

For each size a fresh incremental cache is built (3 zones, two node sizes, a tainted
control-plane node, a pre-pulled image on half the workers) and pods are scheduled one after
the other with the default v1.32 profile (adaptive percentageOfNodesToScore), each assumed
onto its node so later cycles see it.  Pods arrive as plain dicts, so parsing is included.
The baseline, measured in the same run over the same nodes, is a bare loop that only sums
each node's requested CPU with the pod's: it shows what one pass over the cluster costs in
this interpreter.  Both are the best of ``REPEATS`` runs.  Prints JSON; ``main()`` returns
the same dict.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cluster.scheduler import Cache, Scheduler, num_feasible_nodes_to_find  # noqa: E402
from cluster.scheduler.nodeinfo import PodInfo  # noqa: E402

SIZES = (100, 1000, 5000)
PODS = {100: 1000, 1000: 1500, 5000: 1500}
REPEATS = 3
"""Each size runs this many times, baseline and scheduler alike, and reports its fastest run:
on a shared machine the slow runs measure the neighbours."""


def make_nodes(count: int) -> list[dict[str, Any]]:
    """A control-plane node plus workers spread over three zones."""
    nodes = [
        {
            "metadata": {
                "name": "control-plane",
                "labels": {"kubernetes.io/hostname": "control-plane", "topology.kubernetes.io/zone": "zone-a"},
            },
            "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
        }
    ]
    for i in range(count - 1):
        big = i % 4 == 0
        nodes.append(
            {
                "metadata": {
                    "name": f"worker-{i:05d}",
                    "labels": {
                        "kubernetes.io/hostname": f"worker-{i:05d}",
                        "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}",
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": {"cpu": "64" if big else "16", "memory": "256Gi" if big else "64Gi", "pods": "110"},
                    "images": [{"names": ["registry.k8s.io/nginx:1.27"], "sizeBytes": 190_000_000}] if i % 2 else [],
                },
            }
        )
    return nodes


def make_pods(count: int, seed: int) -> list[dict[str, Any]]:
    """Pods with a few request shapes, like a mix of deployments."""
    rng = random.Random(seed)
    shapes = [("100m", "128Mi"), ("250m", "256Mi"), ("500m", "1Gi"), ("1", "2Gi")]
    pods = []
    for i in range(count):
        cpu, mem = rng.choice(shapes)
        pods.append(
            {
                "metadata": {
                    "name": f"pod-{i}",
                    "namespace": "default",
                    "uid": f"uid-{i}",
                    "labels": {"app": f"app-{i % 20}"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.k8s.io/nginx:1.27",
                            "resources": {"requests": {"cpu": cpu, "memory": mem}},
                        }
                    ]
                },
            }
        )
    return pods


def baseline(cache: Cache, pods: list[dict[str, Any]]) -> float:
    """Pods per second of a loop that only sums requested CPU over every node."""
    infos = cache.node_infos()
    t0 = time.perf_counter()
    for pod in pods:
        req = PodInfo(pod).requests.milli_cpu
        total = 0
        for n in infos:
            total += n.requested.milli_cpu + req
    return len(pods) / (time.perf_counter() - t0)


def bench_size(num_nodes: int, seed: int = 1) -> dict[str, Any]:
    """Schedule PODS[num_nodes] pods onto a fresh cluster of num_nodes nodes."""
    nodes = make_nodes(num_nodes)
    pods = make_pods(PODS[num_nodes], seed)
    base = max(baseline(Cache.build(nodes), pods) for _ in range(REPEATS))
    elapsed = float("inf")
    for _ in range(REPEATS):
        # The same pods onto a fresh cache each time; the fastest run is the least disturbed one.
        scheduler = Scheduler(cache=Cache.build(nodes), rng=random.Random(seed))
        scheduled = 0
        t0 = time.perf_counter()
        for pod in pods:
            if scheduler.schedule_one(pod).selected_node is not None:
                scheduled += 1
        elapsed = min(elapsed, time.perf_counter() - t0)
    return {
        "nodes": num_nodes,
        "pods": len(pods),
        "scheduled": scheduled,
        "nodes_evaluated_per_pod": num_feasible_nodes_to_find(0, num_nodes),
        "pods_per_second": round(len(pods) / elapsed, 1),
        "baseline_pods_per_second": round(base, 1),
        "ms_per_pod": round(1000 * elapsed / len(pods), 3),
    }


def main() -> dict[str, Any]:
    """Run every size; return (and print as JSON) flat figures, each next to its baseline."""
    figures: dict[str, Any] = {"goal": ">= 1000 pods/s at 5000 nodes"}
    for n in SIZES:
        r = bench_size(n)
        figures[f"{n}_nodes_pods_per_s"] = r["pods_per_second"]
        figures[f"{n}_nodes_baseline_pods_per_s"] = r["baseline_pods_per_second"]
        figures[f"{n}_nodes_ms_per_pod"] = r["ms_per_pod"]
        figures[f"{n}_nodes_evaluated_per_pod"] = r["nodes_evaluated_per_pod"]
        figures[f"{n}_nodes_scheduled"] = f"{r['scheduled']}/{r['pods']}"
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()

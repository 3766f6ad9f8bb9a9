"""NodeResourcesFit scoring strategies and NodeResourcesBalancedAllocation, with the table
cases (and expected scores) of upstream's ``noderesources/*_test.go``."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.scheduler.nodeinfo import PodInfo
from cluster.scheduler.plugins.balanced_allocation import BalancedAllocation
from cluster.scheduler.plugins.node_resources_fit import NodeResourcesFit, broken_linear_function, fits_request
from cluster.scheduler.profile import ProfileError, load_profile

from .helpers import make_node, make_pod, plugin_with_cache, run_filter, run_score

DEFAULT = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
EXT = "abc.com/xyz"
EXTENDED_SET = [*DEFAULT, {"name": EXT, "weight": 1}]


def cap(cpu: str, mem: str, **extra: str) -> dict[str, str]:
    return {"cpu": cpu, "memory": mem, **{k.replace("__", "/").replace("_", "."): v for k, v in extra.items()}}


def node(name: str, cpu: str, mem: str, extended: dict[str, str] | None = None) -> dict[str, Any]:
    return make_node(name, {"cpu": cpu, "memory": mem, **(extended or {})})


def milli_node(name: str, milli_cpu: int, memory: int, extended: dict[str, int] | None = None) -> dict[str, Any]:
    """Upstream's ``makeNode(node, milliCPU, memory, extended)``."""
    return make_node(
        name, {"cpu": f"{milli_cpu}m", "memory": str(memory), **{k: str(v) for k, v in (extended or {}).items()}}
    )


def fit(strategy: str, resources: list[dict[str, Any]], shape: list[dict[str, int]] | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"type": strategy, "resources": resources}
    if shape is not None:
        s["shape"] = shape
    return {"scoringStrategy": s}


TWO_CONTAINERS = [{"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}]

LEAST_ALLOCATED_CASES = [
    (
        "nothing scheduled, nothing requested",
        [],
        [node("node1", "4000", "10000"), node("node2", "4000", "10000")],
        [],
        DEFAULT,
        [100, 100],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        TWO_CONTAINERS,
        [node("node1", "4000", "10000"), node("node2", "6000", "10000")],
        [],
        DEFAULT,
        [37, 50],
    ),
    (
        "no resources requested, pods scheduled",
        [],
        [node("node1", "4000", "10000"), node("node2", "4000", "10000")],
        [("node1", []), ("node1", []), ("node2", []), ("node2", [])],
        DEFAULT,
        [100, 100],
    ),
    (
        "no resources requested, pods scheduled with resources",
        [],
        [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
        [
            ("node1", [{"cpu": "3000", "memory": "0"}]),
            ("node1", [{"cpu": "3000", "memory": "0"}]),
            ("node2", [{"cpu": "3000", "memory": "0"}]),
            ("node2", [{"cpu": "3000", "memory": "5000"}]),
        ],
        DEFAULT,
        [70, 57],
    ),
    (
        "resources requested, pods scheduled with resources",
        TWO_CONTAINERS,
        [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
        [("node1", [{"cpu": "3000", "memory": "0"}]), ("node2", [{"cpu": "3000", "memory": "5000"}])],
        DEFAULT,
        [57, 45],
    ),
    (
        "resources requested, pods scheduled with resources, differently sized nodes",
        TWO_CONTAINERS,
        [node("node1", "10000", "20000"), node("node2", "10000", "50000")],
        [("node1", [{"cpu": "3000", "memory": "0"}]), ("node2", [{"cpu": "3000", "memory": "5000"}])],
        DEFAULT,
        [57, 60],
    ),
    (
        "requested resources exceed node capacity",
        [{"cpu": "3000", "memory": "0"}],
        [node("node1", "4000", "10000"), node("node2", "4000", "10000")],
        [("node1", [{"cpu": "3000", "memory": "0"}]), ("node2", [{"cpu": "3000", "memory": "5000"}])],
        DEFAULT,
        [50, 25],
    ),
    (
        "zero node resources, pods scheduled with resources",
        [],
        [make_node("node1"), make_node("node2")],
        [("node1", [{"cpu": "3000", "memory": "0"}]), ("node2", [{"cpu": "3000", "memory": "5000"}])],
        DEFAULT,
        [0, 0],
    ),
    (
        "nothing scheduled, resources requested with different weight on CPU and memory, differently sized nodes",
        TWO_CONTAINERS,
        [node("node1", "4000", "10000"), node("node2", "6000", "10000")],
        [],
        [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}],
        [41, 50],
    ),
    (
        "bypass extended resource if the pod does not request",
        TWO_CONTAINERS,
        [node("node1", "6000", "10000"), node("node2", "6000", "10000", {EXT: "4"})],
        [],
        EXTENDED_SET,
        [50, 50],
    ),
    (
        "honor extended resource if the pod requests",
        [{"cpu": "3000", "memory": "5000", EXT: "2"}],
        [node("node1", "6000", "10000", {EXT: "4"}), node("node2", "6000", "10000", {EXT: "10"})],
        [],
        EXTENDED_SET,
        [50, 60],
    ),
    (
        "if the node doesn't have a resource",
        [{"cpu": "3000", "memory": "4000"}],
        [node("node1", "6000", "10000"), node("node2", "6000", "10000", {EXT: "4"})],
        [],
        [{"name": EXT, "weight": 2}, {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}],
        [55, 55],
    ),
]


def _existing(spec: list[tuple[str, list[dict[str, str]]]]) -> list[dict[str, Any]]:
    return [make_pod(node=n, requests=reqs) for n, reqs in spec]


@pytest.mark.parametrize(
    ("name", "requests", "nodes", "existing", "resources", "expected"),
    LEAST_ALLOCATED_CASES,
    ids=[c[0] for c in LEAST_ALLOCATED_CASES],
)
def test_least_allocated(
    name: str, requests: Any, nodes: Any, existing: Any, resources: Any, expected: list[int]
) -> None:
    pl = plugin_with_cache(NodeResourcesFit, nodes, _existing(existing), fit("LeastAllocated", resources))
    assert run_score(pl, make_pod(requests=requests)) == expected


MOST_ALLOCATED_CASES = [
    (
        "nothing scheduled, nothing requested",
        [],
        [node("node1", "4000", "10000"), node("node2", "4000", "10000")],
        [],
        DEFAULT,
        [0, 0],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        TWO_CONTAINERS,
        [node("node1", "4000", "10000"), node("node2", "6000", "10000")],
        [],
        DEFAULT,
        [62, 50],
    ),
    (
        "no resources requested, pods scheduled with resources",
        [],
        [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
        [
            ("node1", [{"cpu": "3000", "memory": "0"}]),
            ("node1", [{"cpu": "3000", "memory": "0"}]),
            ("node2", [{"cpu": "3000", "memory": "0"}]),
            ("node2", [{"cpu": "3000", "memory": "5000"}]),
        ],
        DEFAULT,
        [30, 42],
    ),
    (
        "resources requested, pods scheduled with resources",
        TWO_CONTAINERS,
        [node("node1", "10000", "20000"), node("node2", "10000", "20000")],
        [("node1", [{"cpu": "3000", "memory": "0"}]), ("node2", [{"cpu": "3000", "memory": "5000"}])],
        DEFAULT,
        [42, 55],
    ),
    (
        "resources requested equal node capacity",
        [{"cpu": "2000", "memory": "4000"}, {"cpu": "3000", "memory": "5000"}],
        [node("node1", "5000", "10000"), node("node2", "10000", "9000")],
        [],
        DEFAULT,
        [95, 75],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes, memory weighted",
        TWO_CONTAINERS,
        [node("node1", "4000", "10000"), node("node2", "6000", "10000")],
        [],
        [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}],
        [58, 50],
    ),
    (
        "no resources requested, pods scheduled, nonzero request for resource",
        [{}],
        [node("node1", "250m", "1000Mi"), node("node2", "250m", "1000Mi")],
        [("node1", [{}]), ("node1", [{}])],
        DEFAULT,
        [80, 30],
    ),
    (
        "bypass extended resource if the pod does not request",
        TWO_CONTAINERS,
        [node("node1", "6000", "10000"), node("node2", "6000", "10000", {EXT: "4"})],
        [],
        EXTENDED_SET,
        [50, 50],
    ),
    (
        "honor extended resource if the pod request",
        [{"cpu": "3000", "memory": "5000", EXT: "2"}],
        [node("node1", "6000", "10000", {EXT: "4"}), node("node2", "6000", "10000", {EXT: "10"})],
        [],
        EXTENDED_SET,
        [50, 40],
    ),
    (
        "if the node doesn't have a resource",
        [{"cpu": "3000", "memory": "4000"}],
        [node("node1", "6000", "10000"), node("node2", "6000", "10000", {EXT: "4"})],
        [],
        [{"name": EXT, "weight": 2}, {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}],
        [45, 45],
    ),
]


@pytest.mark.parametrize(
    ("name", "requests", "nodes", "existing", "resources", "expected"),
    MOST_ALLOCATED_CASES,
    ids=[c[0] for c in MOST_ALLOCATED_CASES],
)
def test_most_allocated(
    name: str, requests: Any, nodes: Any, existing: Any, resources: Any, expected: list[int]
) -> None:
    pl = plugin_with_cache(NodeResourcesFit, nodes, _existing(existing), fit("MostAllocated", resources))
    assert run_score(pl, make_pod(requests=requests)) == expected


RTCR_SHAPE = [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]


@pytest.mark.parametrize(
    ("requests", "nodes", "existing", "expected"),
    [
        (
            [],
            [node("node1", "4000", "10000"), node("node2", "4000", "10000")],
            [("node1", []), ("node1", [])],
            [100, 100],
        ),
        (
            TWO_CONTAINERS,
            [node("node1", "4000", "10000"), node("node2", "6000", "10000")],
            [("node1", []), ("node1", [])],
            [38, 50],
        ),
        (
            [],
            [node("node1", "4000", "10000"), node("node2", "6000", "10000")],
            [("node1", [{"cpu": "3000", "memory": "5000"}]), ("node2", [{"cpu": "3000", "memory": "5000"}])],
            [38, 50],
        ),
    ],
)
def test_requested_to_capacity_ratio(requests: Any, nodes: Any, existing: Any, expected: list[int]) -> None:
    pl = plugin_with_cache(
        NodeResourcesFit, nodes, _existing(existing), fit("RequestedToCapacityRatio", DEFAULT, RTCR_SHAPE)
    )
    assert run_score(pl, make_pod(requests=requests)) == expected


FOO = "intel.com/foo"
BIN_PACKING = fit(
    "RequestedToCapacityRatio",
    [{"name": FOO, "weight": 1}],
    [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}],
)


@pytest.mark.parametrize(
    ("requests", "existing", "expected"),
    [
        ([], [("", [])], [0, 0]),
        ([{FOO: "2"}], [("", [])], [2, 5]),
        ([{FOO: "2"}], [("node2", [{FOO: "2"}])], [2, 10]),
        ([{FOO: "4"}], [("", [])], [5, 10]),
    ],
)
def test_resource_bin_packing_single_extended(requests: Any, existing: Any, expected: list[int]) -> None:
    nodes = [
        milli_node("node1", 4000, 10000 * 1024 * 1024, {FOO: 8}),
        milli_node("node2", 4000, 10000 * 1024 * 1024, {FOO: 4}),
    ]
    pods = [make_pod(node=n, requests=r) for n, r in existing if n]
    pl = plugin_with_cache(NodeResourcesFit, nodes, pods, BIN_PACKING)
    assert run_score(pl, make_pod(requests=requests)) == expected


@pytest.mark.parametrize(
    ("points", "assertions"),
    [
        (
            [(10, 1), (90, 9)],
            [
                (-10, 1),
                (0, 1),
                (9, 1),
                (10, 1),
                (15, 1),
                (19, 1),
                (20, 2),
                (89, 8),
                (90, 9),
                (99, 9),
                (100, 9),
                (110, 9),
            ],
        ),
        ([(0, 2), (40, 10), (100, 0)], [(-10, 2), (0, 2), (20, 6), (30, 8), (40, 10), (70, 5), (100, 0), (110, 0)]),
        ([(0, 2), (40, 2), (100, 2)], [(-10, 2), (0, 2), (20, 2), (30, 2), (40, 2), (70, 2), (100, 2), (110, 2)]),
    ],
)
def test_broken_linear_function(points: list[tuple[int, int]], assertions: list[tuple[int, int]]) -> None:
    f = broken_linear_function(points)
    for p, expected in assertions:
        assert f(p) == expected, p


def test_broken_linear_function_truncates_toward_zero() -> None:
    # Decreasing segment: Go's int64 division truncates; (0-100)*(1-0)/100 = -1 -> 100 - 1 = 99
    # but (0-100)*(1)/(3) = -33.3 -> -33, not -34 as floor division would give.
    f = broken_linear_function([(0, 100), (3, 0)])
    assert f(1) == 67


CPU_AND_MEMORY = [{"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000"}]
CPU_ONLY = [{"cpu": "1000m", "memory": "0"}, {"cpu": "2000m", "memory": "0"}]
CPU_AND_MEMORY_AND_GPU = [{"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000", "nvidia.com/gpu": "3"}]
GPU_SET = [*DEFAULT, {"name": "nvidia.com/gpu", "weight": 1}]


@pytest.mark.parametrize(
    ("name", "requests", "nodes", "existing", "resources", "expected"),
    [
        (
            "nothing scheduled, resources requested, differently sized nodes",
            CPU_AND_MEMORY,
            [milli_node("node1", 4000, 10000), milli_node("node2", 6000, 10000)],
            [],
            DEFAULT,
            [87, 100],
        ),
        (
            "resources requested, pods scheduled with resources",
            CPU_AND_MEMORY,
            [milli_node("node1", 10000, 20000), milli_node("node2", 10000, 20000)],
            [("node1", CPU_ONLY), ("node2", CPU_AND_MEMORY)],
            DEFAULT,
            [82, 95],
        ),
        (
            "resources requested, pods scheduled with resources, differently sized nodes",
            CPU_AND_MEMORY,
            [milli_node("node1", 10000, 20000), milli_node("node2", 10000, 50000)],
            [("node1", CPU_ONLY), ("node2", CPU_AND_MEMORY)],
            DEFAULT,
            [82, 80],
        ),
        (
            "requested resources at node capacity",
            CPU_ONLY,
            [milli_node("node1", 6000, 10000), milli_node("node2", 6000, 10000)],
            [("node1", CPU_ONLY), ("node2", CPU_AND_MEMORY)],
            DEFAULT,
            [50, 75],
        ),
        (
            "include scalar resource on a node for balanced resource allocation",
            [{"memory": "0", "nvidia.com/gpu": "1"}],
            [
                milli_node("node1", 3500, 40000, {"nvidia.com/gpu": 8}),
                milli_node("node2", 3500, 40000, {"nvidia.com/gpu": 8}),
            ],
            [("node2", CPU_AND_MEMORY), ("node1", CPU_AND_MEMORY_AND_GPU)],
            GPU_SET,
            [70, 65],
        ),
        (
            "node without the scalar resource should skip the scalar resource",
            CPU_AND_MEMORY,
            [milli_node("node1", 3500, 40000, {"nvidia.com/gpu": 8}), milli_node("node2", 3500, 40000)],
            [],
            GPU_SET,
            [63, 63],
        ),
    ],
)
def test_balanced_allocation(
    name: str, requests: Any, nodes: Any, existing: Any, resources: Any, expected: list[int]
) -> None:
    pl = plugin_with_cache(BalancedAllocation, nodes, _existing(existing), {"resources": resources})
    assert run_score(pl, make_pod(requests=requests)) == expected
    # also when PreScore did not run ("if PreScore not called" cases upstream)
    assert run_score(pl, make_pod(requests=requests), pre_score=False) == expected


def test_pod_requests_init_containers_and_overhead() -> None:
    # The computePodResourceRequest example: max(sum(containers), any init container) (+ overhead).
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "initContainers": [
                {"name": "ic1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "ic2", "resources": {"requests": {"cpu": "2", "memory": "3G"}}},
            ],
            "containers": [
                {"name": "c1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "c2", "resources": {"requests": {"cpu": "1", "memory": "1G"}}},
            ],
        },
    }
    r = PodInfo(pod).requests
    assert (r.milli_cpu, r.memory) == (3000, 3 * 10**9)
    pod["spec"]["overhead"] = {"cpu": "250m", "memory": "120Mi"}
    r = PodInfo(pod).requests
    assert (r.milli_cpu, r.memory) == (3250, 3 * 10**9 + 120 * 2**20)


def test_pod_requests_sidecar_init_containers() -> None:
    # A restartable init container (sidecar) keeps running: it adds to the containers' sum and
    # to every later init container.
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "2"}}},
            ],
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
        },
    }
    # containers 1 + sidecar 0.5 = 1.5; init phase: 2 + 0.5 = 2.5 -> max 2.5
    assert PodInfo(pod).requests.milli_cpu == 2500


def test_non_zero_requests_for_scoring() -> None:
    pi = PodInfo(make_pod(requests=[{}, {"cpu": "250m"}]))
    assert (pi.non0_cpu, pi.non0_mem) == (100 + 250, 2 * 200 * 1024 * 1024)
    assert (pi.requests.milli_cpu, pi.requests.memory) == (250, 0)


def test_fit_filter_reasons() -> None:
    nodes = [
        make_node("small", {"cpu": "1", "memory": "1Gi", "pods": "110", "example.com/foo": "1"}),
        make_node("full", {"cpu": "8", "memory": "8Gi", "pods": "1"}),
    ]
    existing = [make_pod(node="full", requests=[{"cpu": "1"}])]
    pl = plugin_with_cache(NodeResourcesFit, nodes, existing, {})
    pod = make_pod(requests=[{"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi", "example.com/foo": "2"}])
    st = run_filter(pl, pod, "small")
    assert st.reasons == (
        "Insufficient cpu",
        "Insufficient memory",
        "Insufficient ephemeral-storage",
        "Insufficient example.com/foo",
    )
    assert (
        st.message
        == "Insufficient cpu, Insufficient memory, Insufficient ephemeral-storage, Insufficient example.com/foo"
    )
    assert st.code.name == "UNSCHEDULABLE"
    assert run_filter(pl, make_pod(requests=[{"cpu": "1"}]), "full").reasons == ("Too many pods",)
    assert run_filter(pl, make_pod(), "full").reasons == ("Too many pods",)
    ignoring = plugin_with_cache(NodeResourcesFit, nodes, existing, {"ignoredResourceGroups": ["example.com"]})
    assert "Insufficient example.com/foo" not in run_filter(ignoring, pod, "small").reasons
    assert fits_request(PodInfo(make_pod(requests=[{"cpu": "1"}])).requests, pl.handle.cache.get("small")) == ()


def test_invalid_strategy_weights_are_reported() -> None:
    text = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: LeastAllocated
        resources:
        - {name: memory, weight: -1}
        - {name: cpu, weight: 101}
"""
    with pytest.raises(ProfileError) as exc:
        load_profile(text)
    assert exc.value.errors == [
        "profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: Invalid value: -1: resource weight of memory not in valid range (0, 100]",
        "profiles[0].pluginConfig[0].args.scoringStrategy.resources[1].weight: Invalid value: 101: resource weight of cpu not in valid range (0, 100]",
    ]


def test_filter_room_follows_every_change_of_the_node() -> None:
    """The Filter reads each node's precomputed room; after pods come and go, and the node's
    allocatable changes, it must still agree with allocatable minus requested."""
    import random

    from cluster.scheduler.nodeinfo import NodeInfo
    from cluster.scheduler.plugins.node_resources_fit import fits_request

    rng = random.Random(11)
    ni = NodeInfo(make_node("n", {"cpu": "2", "memory": "4Gi", "pods": "4"}))
    placed: list[PodInfo] = []
    shapes = [("100m", "64Mi"), ("700m", "1Gi"), ("1500m", "3Gi"), ("0", "0")]
    plugin = NodeResourcesFit(None, None)
    for step in range(300):
        roll = rng.random()
        if roll < 0.5 or not placed:
            cpu, mem = rng.choice(shapes)
            pi = PodInfo(make_pod(name=f"p{step}", node="n", requests=[{"cpu": cpu, "memory": mem}]))
            ni.add_pod(pi)
            placed.append(pi)
        elif roll < 0.9:
            ni.remove_pod(placed.pop(rng.randrange(len(placed))).key)
        else:
            ni.set_node(make_node("n", {"cpu": rng.choice(["1", "2", "3"]), "memory": "4Gi", "pods": "4"}))
        view = ni.snapshot() if step % 2 else ni
        cpu, mem = rng.choice(shapes)
        pod = PodInfo(make_pod(name="new", requests=[{"cpu": cpu, "memory": mem}]))
        state = _state_for(plugin, pod)
        got = plugin.filter_nodes(state, pod, [view])
        expected = fits_request(pod.requests, view)
        assert (0 in got) == bool(expected), (step, got, expected)
        if expected:
            assert tuple(got[0].reasons) == expected == tuple(plugin.filter(state, pod, view).reasons)


def _state_for(plugin: NodeResourcesFit, pod: PodInfo) -> Any:
    from cluster.scheduler.framework import CycleState

    state = CycleState()
    plugin.pre_filter(state, pod)
    return state

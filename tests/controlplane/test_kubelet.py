"""The kubelet: the pod pipeline, probes, restarts, heartbeats and static pods on the manual clock."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.printers import pod_status
from cluster.controlplane.kubelet import behaviour, cni, images, qos
from cluster.controlplane.kubelet.backoff import Backoff
from cluster.controlplane.sim import ClusterSim
from cluster.models import TraceStep

PODS = registry.by_kind("", "Pod")
NODES = registry.by_kind("", "Node")
EVENTS = registry.by_kind("", "Event")
LEASES = registry.by_kind("coordination.k8s.io", "Lease")
CONFIGMAPS = registry.by_kind("", "ConfigMap")
PVCS = registry.by_kind("", "PersistentVolumeClaim")
ID = re.compile(r"^containerd://[0-9a-f]{64}$")


# ------------------------------------------------------------------ helpers
@pytest.fixture
def lab(make_sim: Callable[..., ClusterSim]) -> tuple[ClusterSim, ApiServer]:
    """Two workers and a managed control plane (no static pods), only the kubelet running."""
    sim = make_sim(components=("kubelet",), workers=2, managed_control_plane=True)
    return sim, ApiServer(sim.cluster, sim.cluster.owner)


def run_pod(
    kube: ApiServer,
    name: str,
    containers: list[dict[str, Any]],
    node: str = "worker-1",
    simulate: dict[str, Any] | None = None,
    **spec: Any,
) -> None:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if simulate:
        meta["annotations"] = {"kubeglass.io/simulate": json.dumps(simulate)}
    kube.create(PODS, "default", {"metadata": meta, "spec": {"containers": containers, **spec}})
    kube.bind("default", name, {"target": {"name": node}})


def get_pod(kube: ApiServer, name: str, namespace: str = "default") -> dict[str, Any]:
    return kube.get(PODS, namespace, name)


def printed(p: dict[str, Any]) -> tuple[str, str, int]:
    """(READY, STATUS, RESTARTS) as kubectl get pods prints them."""
    ready, total, reason, restarts, _ = pod_status(p)
    return f"{ready}/{total}", reason, restarts


def events(kube: ApiServer, name: str | None = None, namespace: str = "default") -> list[tuple[str, str, str]]:
    out = []
    for e in kube.list(EVENTS, namespace)["items"]:
        if name is None or e["involvedObject"]["name"] == name:
            out.append((e["type"], e["reason"], e["message"]))
    return out


def traces(sim: ClusterSim, node: str, message: str | None = None) -> list[TraceStep]:
    steps = TraceStep.objects.filter(cluster=sim.cluster, component=f"kubelet/{node}").order_by("seq")
    return [s for s in steps if message is None or s.message == message]


def conditions(p: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c.get("reason", ""), c.get("message", "")) for c in p["status"]["conditions"]]


def watch(sim: ClusterSim, kube: ApiServer, name: str, seconds: float) -> list[tuple[float, tuple[str, str, int]]]:
    """Fast-forward timer by timer, noting each change of the printed status."""
    rows: list[tuple[float, tuple[str, str, int]]] = []
    start = sim.ctx.now()
    while True:
        row = printed(get_pod(kube, name))
        if not rows or rows[-1][1] != row:
            rows.append((round(sim.ctx.now() - start, 3), row))
        due = sim.next_due()
        if due is None or due - start > seconds:
            return rows
        sim.fast_forward()


# ------------------------------------------------------------------ the pipeline
def test_pipeline_runs_a_pod_step_by_step(lab: tuple[ClusterSim, ApiServer]) -> None:
    """Admit, cgroup, volumes, sandbox, CNI, pull, create, start: traced in order, with upstream's status."""
    sim, kube = lab
    run_pod(kube, "web", [{"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": "100m"}}}])
    sim.advance(0.25)
    p = get_pod(kube, "web")
    assert p["status"]["phase"] == "Pending"
    assert printed(p) == ("0/1", "ContainerCreating", 0)
    assert conditions(p) == [
        ("PodReadyToStartContainers", "False", "", ""),
        ("Initialized", "True", "", ""),
        ("Ready", "False", "ContainersNotReady", "containers with unready status: [web]"),
        ("ContainersReady", "False", "ContainersNotReady", "containers with unready status: [web]"),
        ("PodScheduled", "True", "", ""),
    ]
    waiting = p["status"]["containerStatuses"][0]
    assert waiting["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert waiting["image"] == "nginx:1.27" and waiting["imageID"] == "" and waiting["started"] is False
    assert p["status"]["qosClass"] == "Burstable" and p["status"]["startTime"]

    sim.advance(5)
    p = get_pod(kube, "web")
    uid = p["metadata"]["uid"]
    assert p["status"]["phase"] == "Running" and printed(p) == ("1/1", "Running", 0)
    assert [(t, s) for t, s, _, _ in conditions(p)] == [
        ("PodReadyToStartContainers", "True"),
        ("Initialized", "True"),
        ("Ready", "True"),
        ("ContainersReady", "True"),
        ("PodScheduled", "True"),
    ]
    cs = p["status"]["containerStatuses"][0]
    assert ID.match(cs["containerID"])
    assert cs["image"] == "docker.io/library/nginx:1.27"
    assert re.match(r"^docker\.io/library/nginx@sha256:[0-9a-f]{64}$", cs["imageID"])
    assert cs["started"] is True and cs["ready"] is True and cs["restartCount"] == 0 and cs["lastState"] == {}
    assert set(cs["state"]) == {"running"}
    node = kube.get(NODES, None, "worker-1")
    assert p["status"]["hostIP"] == node["status"]["addresses"][0]["address"]
    assert p["status"]["hostIPs"] == [{"ip": p["status"]["hostIP"]}]
    assert p["status"]["podIPs"] == [{"ip": p["status"]["podIP"]}]
    assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])

    steps = [(s.stage, s.message) for s in traces(sim, "worker-1") if s.stage != "heartbeat"]
    assert steps == [
        ("admit", "kubelet.admitted"),
        ("cgroup", "kubelet.cgroup"),
        ("volumes", "kubelet.volumes.mounted"),
        ("sandbox", "kubelet.sandbox"),
        ("cni", "kubelet.cni.added"),
        ("image", "kubelet.image.pulling"),
        ("image", "kubelet.image.pulled"),
        ("container", "kubelet.container.created"),
        ("container", "kubelet.container.started"),
    ]
    cgroup = traces(sim, "worker-1", "kubelet.cgroup")[0].params["cgroup"]
    assert cgroup == f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice"
    sandbox = traces(sim, "worker-1", "kubelet.sandbox")[0]
    assert sandbox.params["image"] == "registry.k8s.io/pause:3.10"
    assert (sandbox.source, sandbox.target) == ("kubelet/worker-1", "containerd")
    assert traces(sim, "worker-1", "kubelet.cni.added")[0].params["gateway"] == node["spec"]["podCIDR"][:-5] + ".1"
    times = [s.sim_time for s in traces(sim, "worker-1") if s.stage != "heartbeat"]
    assert times == sorted(times)
    pulled = traces(sim, "worker-1", "kubelet.image.pulled")[0].sim_time
    started = traces(sim, "worker-1", "kubelet.container.started")[0].sim_time
    assert 1.5 <= pulled - traces(sim, "worker-1", "kubelet.image.pulling")[0].sim_time <= 2.5
    assert 0 < started - pulled < 1

    got = events(kube, "web")
    assert ("Normal", "Pulling", 'Pulling image "nginx:1.27"') in got
    assert ("Normal", "Created", "Created container: web") in got
    assert ("Normal", "Started", "Started container web") in got
    pulled_msg = next(m for _, r, m in got if r == "Pulled")
    assert re.fullmatch(
        r'Successfully pulled image "nginx:1\.27" in \d\.\d+s \(\d\.\d+s including waiting\)\. Image size: 72195292 bytes\.',
        pulled_msg,
    )
    source = kube.list(EVENTS, "default")["items"][0]["source"]
    assert source == {"component": "kubelet", "host": "worker-1"}


def test_a_status_write_from_elsewhere_is_put_right_in_one_sync(lab: tuple[ClusterSim, ApiServer]) -> None:
    """The kubelet re-asserts the status it owns; its own write coming back wakes no second sync."""
    from cluster.controlplane.kubelet.kubelet import Kubelet

    sim, kube = lab
    run_pod(kube, "echo", [{"name": "c", "image": "nginx:1.27"}])
    sim.advance(10)
    assert get_pod(kube, "echo")["status"]["phase"] == "Running"
    kubelet = next(c for c in sim.node_agents["worker-1"]["kubelet"] if isinstance(c, Kubelet))
    synced: list[str] = []
    sync_pod = kubelet._sync_pod

    def counting(key: str, now: float) -> float | None:
        synced.append(key)
        return sync_pod(key, now)

    kubelet._sync_pod = counting  # type: ignore[method-assign]
    kube.patch(
        PODS,
        "default",
        "echo",
        "application/merge-patch+json",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        subresource="status",
    )
    sim.run_until_idle()
    p = get_pod(kube, "echo")
    assert [(t, s) for t, s, _, _ in conditions(p)][:3] == [
        ("PodReadyToStartContainers", "True"),
        ("Initialized", "True"),
        ("Ready", "True"),
    ]
    assert synced == ["default/echo"]
    worker = kubelet.workers["default/echo"]
    assert worker.written_rv == p["metadata"]["resourceVersion"]
    # The worker holds the version it wrote (the informer's), not the one it wrote over.
    cached = next(x for x in sim.ctx.lister("", "Pod") if x["metadata"]["name"] == "echo")
    assert worker.pod is cached and worker.spec_pod is cached


def test_present_images_are_not_pulled_and_new_ones_are_recorded_on_the_node(lab: tuple[ClusterSim, ApiServer]) -> None:
    """IfNotPresent skips the pull for an image the node has; a pulled image shows up in node status."""
    sim, kube = lab
    run_pod(kube, "pause", [{"name": "p", "image": "registry.k8s.io/pause:3.10"}])
    run_pod(kube, "redis", [{"name": "r", "image": "redis:7.4"}])
    sim.advance(15)
    assert ("Normal", "Pulled", 'Container image "registry.k8s.io/pause:3.10" already present on machine') in events(
        kube, "pause"
    )
    assert not [e for e in events(kube, "pause") if e[1] == "Pulling"]
    names = [n for i in kube.get(NODES, None, "worker-1")["status"]["images"] for n in i["names"]]
    assert "docker.io/library/redis:7.4" in names
    sizes = [i["sizeBytes"] for i in kube.get(NODES, None, "worker-1")["status"]["images"]]
    assert sizes == sorted(sizes, reverse=True)
    # Always pulls even a present image; pulls on one node wait for each other.
    run_pod(kube, "again", [{"name": "a", "image": "redis:7.4", "imagePullPolicy": "Always"}])
    run_pod(kube, "also", [{"name": "b", "image": "httpd:2.4"}])
    sim.advance(10)
    assert ("Normal", "Pulling", 'Pulling image "redis:7.4"') in events(kube, "again")
    waited = next(m for _, r, m in events(kube, "also") if r == "Pulled")
    took, total = re.search(r"in (\S+)s \((\S+)s including waiting\)", waited).groups()  # type: ignore[union-attr]
    assert float(total) > float(took)


def test_pod_ips_come_from_the_node_cidr_and_are_never_shared(lab: tuple[ClusterSim, ApiServer]) -> None:
    """host-local IPAM: .1 is the gateway, pods get .2 up; a freed address is the next one handed out."""
    sim, kube = lab
    for i in range(3):
        run_pod(kube, f"p{i}", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}])
    run_pod(kube, "other", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], node="worker-2")
    sim.advance(5)
    cidr = kube.get(NODES, None, "worker-1")["spec"]["podCIDR"]
    base = ipaddress.ip_network(cidr).network_address
    ips = [get_pod(kube, f"p{i}")["status"]["podIP"] for i in range(3)]
    assert ips == [str(base + 2), str(base + 3), str(base + 4)]
    other = get_pod(kube, "other")["status"]["podIP"]
    assert ipaddress.ip_address(other) in ipaddress.ip_network(kube.get(NODES, None, "worker-2")["spec"]["podCIDR"])
    kube.delete(PODS, "default", "p1", grace_period=0)
    run_pod(kube, "p3", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}])
    run_pod(kube, "p4", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}])
    sim.advance(5)
    assert get_pod(kube, "p3")["status"]["podIP"] == str(base + 3)
    assert get_pod(kube, "p4")["status"]["podIP"] == str(base + 5)
    live = [p["status"]["podIP"] for p in kube.list(PODS, "default")["items"]]
    assert len(live) == len(set(live))


def test_an_address_a_pod_status_claims_is_not_handed_out_again(lab: tuple[ClusterSim, ApiServer]) -> None:
    """The kubelet keeps its IPAM reservations between ADDs, but an address that shows up in a pod's
    status (a pod an earlier kubelet started) joins them before the next ADD."""
    sim, kube = lab
    run_pod(kube, "p0", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}])
    sim.advance(5)
    base = ipaddress.ip_network(kube.get(NODES, None, "worker-1")["spec"]["podCIDR"]).network_address
    assert get_pod(kube, "p0")["status"]["podIP"] == str(base + 2)
    run_pod(kube, "earlier", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}])
    started = {
        "startTime": "2026-01-01T00:00:00Z",
        "phase": "Running",
        "podIP": str(base + 3),
        "conditions": [{"type": "PodReadyToStartContainers", "status": "True"}],
    }
    kube.patch(PODS, "default", "earlier", "application/merge-patch+json", {"status": started}, subresource="status")
    run_pod(kube, "p1", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}])
    sim.advance(5)
    assert get_pod(kube, "earlier")["status"]["podIP"] == str(base + 3)
    assert get_pod(kube, "p1")["status"]["podIP"] == str(base + 4)


def test_host_network_pods_take_the_node_ip(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    run_pod(kube, "hn", [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], hostNetwork=True)
    sim.advance(3)
    p = get_pod(kube, "hn")
    assert p["status"]["podIP"] == p["status"]["hostIP"]
    assert traces(sim, "worker-1", "kubelet.cni.hostnetwork")


# ------------------------------------------------------------------ admission, QoS, cgroups
def test_admission_rejects_what_does_not_fit(lab: tuple[ClusterSim, ApiServer]) -> None:
    """A pod bound past the scheduler fails with the upstream reason and message."""
    sim, kube = lab
    run_pod(kube, "big", [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": "5"}}}])
    run_pod(kube, "elsewhere", [{"name": "c", "image": "nginx:1.27"}], nodeSelector={"disk": "ssd"})
    sim.advance(1)
    big = get_pod(kube, "big")["status"]
    assert big["phase"] == "Failed" and big["reason"] == "OutOfcpu"
    assert (
        big["message"]
        == "Pod was rejected: Node didn't have enough resource: cpu, requested: 5000, used: 0, capacity: 4000"
    )
    assert "conditions" not in big and "containerStatuses" not in big and big["startTime"]
    assert (
        "Warning",
        "OutOfcpu",
        "Node didn't have enough resource: cpu, requested: 5000, used: 0, capacity: 4000",
    ) in events(kube, "big")
    other = get_pod(kube, "elsewhere")["status"]
    assert (other["phase"], other["reason"]) == ("Failed", "NodeAffinity")
    assert (
        other["message"]
        == "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
    )
    assert printed(get_pod(kube, "big"))[1] == "OutOfcpu"


def test_admission_counts_the_pods_already_running(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    run_pod(kube, "a", [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"memory": "6Gi"}}}])
    sim.advance(1)
    run_pod(kube, "b", [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"memory": "3Gi"}}}])
    sim.advance(1)
    b = get_pod(kube, "b")["status"]
    assert b["reason"] == "OutOfmemory"
    assert "requested: 3221225472, used: 6442450944, capacity: 8589934592" in b["message"]


def test_qos_classes_and_systemd_cgroup_names() -> None:
    uid = "0b3c1a7e-1111-2222-3333-444455556666"
    both = {"cpu": "100m", "memory": "64Mi"}
    guaranteed = {"spec": {"containers": [{"resources": {"limits": both}}]}}
    burstable = {"spec": {"containers": [{"resources": {"requests": {"cpu": "100m"}}}]}}
    best_effort = {"spec": {"containers": [{"resources": {}}]}}
    assert [qos.qos_class(p) for p in (guaranteed, burstable, best_effort)] == ["Guaranteed", "Burstable", "BestEffort"]
    escaped = "0b3c1a7e_1111_2222_3333_444455556666"
    assert qos.pod_cgroup(uid, "Guaranteed") == f"/kubepods.slice/kubepods-pod{escaped}.slice"
    assert qos.pod_cgroup(uid, "Burstable") == (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{escaped}.slice"
    )
    assert qos.pod_cgroup(uid, "BestEffort") == (
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{escaped}.slice"
    )


# ------------------------------------------------------------------ images
def test_unknown_image_backs_off_from_10s_doubling(lab: tuple[ClusterSim, ApiServer]) -> None:
    """ErrImagePull, then ImagePullBackOff; the pulls come 10 s, 20 s, 40 s … apart."""
    sim, kube = lab
    run_pod(kube, "typo", [{"name": "c", "image": "nginxx:1.2"}])
    rows = watch(sim, kube, "typo", 160)
    statuses = [r[1][1] for r in rows]
    assert statuses[:5] == ["Pending", "ContainerCreating", "ErrImagePull", "ImagePullBackOff", "ErrImagePull"]
    failed = [s.sim_time for s in traces(sim, "worker-1", "kubelet.image.failed")]
    pulls = [s.sim_time for s in traces(sim, "worker-1", "kubelet.image.pulling")]
    assert [round(p - f) for f, p in zip(failed, pulls[1:], strict=False)] == [10, 20, 40, 80]
    st = get_pod(kube, "typo")["status"]["containerStatuses"][0]
    assert st["state"]["waiting"] == {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginxx:1.2"'}
    got = events(kube, "typo")
    error = (
        'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/nginxx:1.2": '
        'failed to resolve reference "docker.io/library/nginxx:1.2": pull access denied, repository does not exist '
        "or may require authorization: server message: insufficient_scope: authorization failed"
    )
    assert ("Warning", "Failed", f'Failed to pull image "nginxx:1.2": {error}') in got
    assert ("Warning", "Failed", "Error: ErrImagePull") in got
    assert ("Normal", "BackOff", 'Back-off pulling image "nginxx:1.2"') in got
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in got


def test_image_references_and_registry_errors() -> None:
    ref = images.parse_reference("nginx")
    assert (ref.domain, ref.path, ref.tagged) == ("docker.io", "library/nginx", "docker.io/library/nginx:latest")
    assert images.parse_reference("bitnami/redis:7").tagged == "docker.io/bitnami/redis:7"
    assert images.parse_reference("registry.k8s.io/pause:3.10").domain == "registry.k8s.io"
    assert images.lookup(images.parse_reference("postgres:17")) is not None
    assert images.lookup(images.parse_reference("docker.io/flannel/flannel:v9")) is not None
    with pytest.raises(images.InvalidImageName):
        images.parse_reference("Nginx")
    assert "registry.k8s.io/nope:1: not found" in images.pull_error(images.parse_reference("registry.k8s.io/nope:1"))
    assert "no such host" in images.pull_error(images.parse_reference("my.example/app:1"))
    assert [images.go_duration(s) for s in (2.1, 0.7349, 10, 80, 300, 3600)] == [
        "2.1s",
        "734ms",
        "10s",
        "1m20s",
        "5m0s",
        "1h0m0s",
    ]


# ------------------------------------------------------------------ restarts
def test_crash_loop_backs_off_10_20_40(lab: tuple[ClusterSim, ApiServer]) -> None:
    """exit 1 under restartPolicy Always: the first restart is immediate, then 10 s, 20 s, 40 s …"""
    sim, kube = lab
    run_pod(kube, "crash", [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}])
    rows = watch(sim, kube, "crash", 90)
    assert ("0/1", "Error", 0) in [r[1] for r in rows]
    assert ("0/1", "CrashLoopBackOff", 1) in [r[1] for r in rows]
    exits = [s.sim_time for s in traces(sim, "worker-1", "kubelet.container.exited")]
    starts = [s.sim_time for s in traces(sim, "worker-1", "kubelet.container.started")]
    gaps = [round(b - a, 1) for a, b in zip(exits, starts[1:], strict=False)]
    assert gaps[:4] == [1.3, 10.3, 20.3, 40.3]
    p = get_pod(kube, "crash")
    cs = p["status"]["containerStatuses"][0]
    uid = p["metadata"]["uid"]
    assert p["status"]["phase"] == "Running"
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    delay = {1: "10s", 2: "20s", 3: "40s", 4: "1m20s"}[cs["restartCount"]]
    assert (
        cs["state"]["waiting"]["message"] == f"back-off {delay} restarting failed container=c pod=crash_default({uid})"
    )
    assert cs["restartCount"] == 4
    assert {k: cs["lastState"]["terminated"][k] for k in ("exitCode", "reason")} == {"exitCode": 1, "reason": "Error"}
    assert cs["lastState"]["terminated"]["containerID"] == cs["containerID"]
    assert ("Warning", "BackOff", f"Back-off restarting failed container c in pod crash_default({uid})") in events(
        kube, "crash"
    )
    assert ("Normal", "Pulled", 'Container image "busybox:1.36" already present on machine') in events(kube, "crash")


def test_backoff_resets_after_ten_minutes() -> None:
    b = Backoff()
    assert b.next("c", 0, 0) == 10 and b.next("c", 5, 5) == 20 and b.next("c", 10, 10) == 40
    assert b.in_backoff_since("c", 10, 49) and not b.in_backoff_since("c", 10, 50)
    for t in range(20, 200, 10):
        b.next("c", t, t)
    assert b.get("c") == 300
    assert b.next("c", 800, 800) == 10


def test_restart_policies(lab: tuple[ClusterSim, ApiServer]) -> None:
    """Never: the pod ends Succeeded or Failed; OnFailure: only a failure restarts."""
    sim, kube = lab
    run_pod(
        kube,
        "done",
        [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 2"]}],
        restartPolicy="Never",
    )
    run_pod(kube, "fail", [{"name": "c", "image": "busybox:1.36", "args": ["false"]}], restartPolicy="Never")
    run_pod(kube, "retry", [{"name": "c", "image": "busybox:1.36", "command": ["false"]}], restartPolicy="OnFailure")
    run_pod(kube, "once", [{"name": "c", "image": "busybox:1.36", "command": ["true"]}], restartPolicy="OnFailure")
    sim.advance(30)
    done = get_pod(kube, "done")
    assert done["status"]["phase"] == "Succeeded" and printed(done) == ("0/1", "Completed", 0)
    assert [(t, s, r) for t, s, r, _ in conditions(done)] == [
        ("PodReadyToStartContainers", "False", ""),
        ("Initialized", "True", "PodCompleted"),
        ("Ready", "False", "PodCompleted"),
        ("ContainersReady", "False", "PodCompleted"),
        ("PodScheduled", "True", ""),
    ]
    fail = get_pod(kube, "fail")
    assert fail["status"]["phase"] == "Failed" and printed(fail)[1] == "Error"
    assert conditions(fail)[2][:3] == ("Ready", "False", "PodFailed")
    assert get_pod(kube, "retry")["status"]["containerStatuses"][0]["restartCount"] >= 2
    assert get_pod(kube, "once")["status"]["phase"] == "Succeeded"
    assert traces(sim, "worker-1", "kubelet.teardown")


def test_a_shell_builtin_as_command_cannot_start(lab: tuple[ClusterSim, ApiServer]) -> None:
    """``command: [exit, "1"]``: there is no exit binary, so runc fails (RunContainerError, StartError 128)."""
    sim, kube = lab
    run_pod(kube, "builtin", [{"name": "c", "image": "busybox:1.36", "command": ["exit", "1"]}])
    sim.advance(4)
    cs = get_pod(kube, "builtin")["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] in ("RunContainerError", "CrashLoopBackOff")
    assert cs["lastState"]["terminated"]["reason"] == "StartError"
    assert cs["lastState"]["terminated"]["exitCode"] == 128


def test_oom_killed_when_memory_use_passes_the_limit(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    run_pod(
        kube,
        "hungry",
        [
            {
                "name": "app",
                "image": "python:3.12",
                "command": ["python", "app.py"],
                "resources": {"limits": {"memory": "128Mi"}},
            }
        ],
        simulate={"app": {"memoryMi": 300, "memoryAfter": 5}},
    )
    rows = watch(sim, kube, "hungry", 20)
    assert ("0/1", "OOMKilled", 0) in [r[1] for r in rows]
    cs = get_pod(kube, "hungry")["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert traces(sim, "worker-1", "kubelet.container.oomkilled")


# ------------------------------------------------------------------ probes
def test_liveness_failure_kills_and_restarts(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    probe = {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5, "failureThreshold": 3}
    run_pod(
        kube,
        "live",
        [{"name": "web", "image": "nginx:1.27", "livenessProbe": probe}],
        simulate={"web": {"livenessFailAfter": 20}},
    )
    sim.advance(3)
    started = get_pod(kube, "live")["status"]["containerStatuses"][0]
    sim.advance(35)
    p = get_pod(kube, "live")
    cs = p["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 1 and set(cs["state"]) == {"running"}
    assert cs["lastState"]["terminated"]["containerID"] == started["containerID"]
    assert cs["containerID"] != started["containerID"]
    got = events(kube, "live")
    assert ("Normal", "Killing", "Container web failed liveness probe, will be restarted") in got
    assert ("Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500") in got
    kill = traces(sim, "worker-1", "kubelet.probe.kill")[0].sim_time
    start = traces(sim, "worker-1", "kubelet.container.started")[0].sim_time
    assert round(kill - start) == 30  # failing from 20 s, third failure at the probe of 30 s


def test_exec_liveness_follows_the_files_the_script_touches(lab: tuple[ClusterSim, ApiServer]) -> None:
    """The liveness example of the Kubernetes docs: /tmp/healthy is removed after 30 s."""
    sim, kube = lab
    container = {
        "name": "liveness",
        "image": "registry.k8s.io/busybox",
        "args": ["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5},
    }
    run_pod(kube, "liveness-exec", [container])
    sim.advance(50)
    got = events(kube, "liveness-exec")
    assert (
        "Warning",
        "Unhealthy",
        "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory",
    ) in got
    assert ("Normal", "Killing", "Container liveness failed liveness probe, will be restarted") in got


def test_readiness_gates_ready_and_startup_gates_both(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    readiness = {"tcpSocket": {"port": 80}, "periodSeconds": 2}
    startup = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 3, "failureThreshold": 10}
    run_pod(
        kube,
        "slow",
        [{"name": "web", "image": "nginx:1.27", "readinessProbe": readiness, "startupProbe": startup}],
        simulate={"web": {"readyAfter": 10, "startupAfter": 5}},
    )
    sim.advance(4)
    p = get_pod(kube, "slow")
    cs = p["status"]["containerStatuses"][0]
    assert set(cs["state"]) == {"running"} and cs["started"] is False and cs["ready"] is False
    assert conditions(p)[2] == ("Ready", "False", "ContainersNotReady", "containers with unready status: [web]")
    sim.advance(6)
    cs = get_pod(kube, "slow")["status"]["containerStatuses"][0]
    assert cs["started"] is True and cs["ready"] is False
    sim.advance(6)
    p = get_pod(kube, "slow")
    assert p["status"]["containerStatuses"][0]["ready"] is True
    assert conditions(p)[2][:2] == ("Ready", "True")
    ip = p["status"]["podIP"]
    assert ("Warning", "Unhealthy", f"Readiness probe failed: dial tcp {ip}:80: connect: connection refused") in events(
        kube, "slow"
    )
    assert ("Warning", "Unhealthy", "Startup probe failed: HTTP probe failed with statuscode: 503") in events(
        kube, "slow"
    )


# ------------------------------------------------------------------ init containers and volumes
def test_init_containers_run_one_by_one(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    inits = [
        {"name": "first", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3"]},
        {"name": "second", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 2"]},
    ]
    run_pod(kube, "init", [{"name": "app", "image": "nginx:1.27"}], initContainers=inits)
    sim.advance(0.25)
    p = get_pod(kube, "init")
    assert printed(p)[1] == "Init:0/2"
    assert conditions(p)[1] == (
        "Initialized",
        "False",
        "ContainersNotInitialized",
        "containers with incomplete status: [first second]",
    )
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    rows = watch(sim, kube, "init", 30)
    assert [r[1][1] for r in rows] == ["Init:0/2", "Init:1/2", "PodInitializing", "Running"]
    starts = {s.params["container"]: s.sim_time for s in traces(sim, "worker-1", "kubelet.container.started")}
    exits = {s.params["container"]: s.sim_time for s in traces(sim, "worker-1", "kubelet.container.exited")}
    assert exits["first"] < starts["second"] and exits["second"] < starts["app"]
    p = get_pod(kube, "init")
    done = p["status"]["initContainerStatuses"]
    assert [(s["name"], s["ready"], s["state"]["terminated"]["reason"]) for s in done] == [
        ("first", True, "Completed"),
        ("second", True, "Completed"),
    ]
    assert conditions(p)[1][:2] == ("Initialized", "True")


def test_failed_init_container_fails_the_pod_under_never(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    inits = [{"name": "check", "image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]}]
    run_pod(kube, "bad-init", [{"name": "app", "image": "nginx:1.27"}], initContainers=inits, restartPolicy="Never")
    run_pod(kube, "loop-init", [{"name": "app", "image": "nginx:1.27"}], initContainers=inits)
    sim.advance(20)
    bad = get_pod(kube, "bad-init")
    assert bad["status"]["phase"] == "Failed" and printed(bad)[1] == "Init:Error"
    assert bad["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    loop = get_pod(kube, "loop-init")
    assert loop["status"]["phase"] == "Pending" and printed(loop)[1] == "Init:CrashLoopBackOff"


def test_missing_configmap_holds_the_pod_until_it_exists(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    volumes = [{"name": "cfg", "configMap": {"name": "settings"}}]
    mounts = [{"name": "cfg", "mountPath": "/etc/app"}]
    run_pod(kube, "cfg", [{"name": "c", "image": "nginx:1.27", "volumeMounts": mounts}], volumes=volumes)
    sim.advance(5)
    assert printed(get_pod(kube, "cfg"))[1] == "ContainerCreating"
    assert (
        "Warning",
        "FailedMount",
        'MountVolume.SetUp failed for volume "cfg" : configmap "settings" not found',
    ) in events(kube, "cfg")
    kube.create(CONFIGMAPS, "default", {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    sim.advance(5)
    p = get_pod(kube, "cfg")
    assert printed(p) == ("1/1", "Running", 0)
    assert {"mountPath": "/etc/app", "name": "cfg"} in p["status"]["containerStatuses"][0]["volumeMounts"]


def test_unbound_claim_keeps_the_pod_container_creating(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    kube.create(
        PVCS,
        "default",
        {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    run_pod(kube, "db", [{"name": "c", "image": "nginx:1.27"}], volumes=volumes)
    sim.advance(130)
    assert printed(get_pod(kube, "db"))[1] == "ContainerCreating"
    message = (
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], "
        "failed to process volumes=[data]: timed out waiting for the condition"
    )
    assert ("Warning", "FailedMount", message) in events(kube, "db")
    waiting = traces(sim, "worker-1", "kubelet.volumes.waiting")[0]
    assert waiting.params["error"] == "error processing PVC default/data: PVC is not bound"
    claim = kube.get(PVCS, "default", "data")
    claim["spec"]["volumeName"] = "pv-data"
    claim = kube.update(PVCS, "default", "data", claim).object
    claim["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    kube.update(PVCS, "default", "data", claim, subresource="status")
    sim.advance(5)
    assert printed(get_pod(kube, "db")) == ("1/1", "Running", 0)


# ------------------------------------------------------------------ deletion
def test_graceful_deletion_stops_containers_then_deletes_with_grace_zero(lab: tuple[ClusterSim, ApiServer]) -> None:
    """SIGTERM ends nginx at once; a shell as PID 1 ignores it and is killed when the grace period ends."""
    sim, kube = lab
    containers = [
        {"name": "web", "image": "nginx:1.27"},
        {"name": "sleeper", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"]},
    ]
    run_pod(kube, "bye", containers, terminationGracePeriodSeconds=20)
    sim.advance(10)
    ip = get_pod(kube, "bye")["status"]["podIP"]
    deleted_at = sim.ctx.now()
    kube.delete(PODS, "default", "bye")
    sim.advance(5)
    p = get_pod(kube, "bye")
    assert p["metadata"]["deletionGracePeriodSeconds"] == 20
    assert printed(p)[1] == "Terminating"
    assert ("Normal", "Killing", "Stopping container web") in events(kube, "bye")
    assert ("Normal", "Killing", "Stopping container sleeper") in events(kube, "bye")
    sim.advance(20)
    assert not [x for x in kube.list(PODS, "default")["items"] if x["metadata"]["name"] == "bye"]
    exited = {
        s.params["container"]: (s.sim_time - deleted_at, s.params["exitCode"])
        for s in traces(sim, "worker-1", "kubelet.container.exited")
    }
    assert exited["web"][1] == 0 and exited["web"][0] < 1
    assert exited["sleeper"] == (20, 137)
    teardown = traces(sim, "worker-1", "kubelet.teardown")[0]
    assert teardown.params["ip"] == ip and round(teardown.sim_time - deleted_at) == 20
    # The address is free again.
    run_pod(kube, "next", [{"name": "c", "image": "nginx:1.27"}])
    sim.advance(5)
    assert get_pod(kube, "next")["status"]["podIP"] == ip


def test_active_deadline_fails_the_pod(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    run_pod(kube, "deadline", [{"name": "c", "image": "nginx:1.27"}], activeDeadlineSeconds=10)
    sim.advance(15)
    st = get_pod(kube, "deadline")["status"]
    assert (st["phase"], st["reason"]) == ("Failed", "DeadlineExceeded")
    assert st["message"] == "Pod was active on the node longer than the specified deadline"


# ------------------------------------------------------------------ heartbeats
def test_node_lease_is_renewed_every_10s_and_status_every_5min(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    lease = kube.get(LEASES, "kube-node-lease", "worker-1")
    assert lease["spec"]["holderIdentity"] == "worker-1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    renewals = []
    for _ in range(3):
        sim.advance(10)
        renewals.append(kube.get(LEASES, "kube-node-lease", "worker-1")["spec"]["renewTime"])
    moments = [dt.datetime.fromisoformat(r.replace("Z", "+00:00")) for r in renewals]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(moments)] == [10, 10]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", renewals[0])

    def heartbeat() -> str:
        node = kube.get(NODES, None, "worker-2")
        return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["lastHeartbeatTime"]

    first = heartbeat()
    sim.advance(200)
    assert heartbeat() == first
    sim.advance(100)
    assert heartbeat() != first
    ready = next(c for c in kube.get(NODES, None, "worker-2")["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")


def test_stopped_kubelet_does_nothing_until_started_again(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    node = kube.get(NODES, None, "worker-1")
    node["metadata"].setdefault("annotations", {})["kubeglass.io/kubelet-stopped"] = "true"
    kube.update(NODES, None, "worker-1", node)
    sim.advance(1)
    renewed = kube.get(LEASES, "kube-node-lease", "worker-1")["spec"]["renewTime"]
    run_pod(kube, "waits", [{"name": "c", "image": "nginx:1.27"}])
    sim.advance(60)
    assert kube.get(LEASES, "kube-node-lease", "worker-1")["spec"]["renewTime"] == renewed
    assert get_pod(kube, "waits")["status"].get("containerStatuses") is None
    assert kube.get(LEASES, "kube-node-lease", "worker-2")["spec"]["renewTime"] != renewed
    node = kube.get(NODES, None, "worker-1")
    node["metadata"]["annotations"]["kubeglass.io/kubelet-stopped"] = "false"
    kube.update(NODES, None, "worker-1", node)
    sim.advance(5)
    assert kube.get(LEASES, "kube-node-lease", "worker-1")["spec"]["renewTime"] != renewed
    assert printed(get_pod(kube, "waits")) == ("1/1", "Running", 0)


# ------------------------------------------------------------------ static pods and restarts
def test_control_plane_node_runs_the_static_pods(make_sim: Callable[..., ClusterSim]) -> None:
    sim = make_sim(components=("kubelet",), workers=1)
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    sim.advance(15)
    node = kube.get(NODES, None, "control-plane")
    ip = node["status"]["addresses"][0]["address"]
    names = sorted(p["metadata"]["name"] for p in kube.list(PODS, "kube-system")["items"])
    assert names == [
        "etcd-control-plane",
        "kube-apiserver-control-plane",
        "kube-controller-manager-control-plane",
        "kube-scheduler-control-plane",
    ]
    api = get_pod(kube, "kube-apiserver-control-plane", "kube-system")
    meta, spec = api["metadata"], api["spec"]
    assert meta["annotations"]["kubernetes.io/config.source"] == "file"
    assert meta["annotations"]["kubernetes.io/config.mirror"] == meta["annotations"]["kubernetes.io/config.hash"]
    assert meta["annotations"]["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"] == f"{ip}:6443"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "controller": True,
            "kind": "Node",
            "name": "control-plane",
            "uid": node["metadata"]["uid"],
        }
    ]
    assert meta["labels"] == {"component": "kube-apiserver", "tier": "control-plane"}
    assert spec["nodeName"] == "control-plane" and spec["hostNetwork"] is True
    assert spec["priorityClassName"] == "system-node-critical" and spec["priority"] == 2000001000
    command = spec["containers"][0]["command"]
    assert f"--advertise-address={ip}" in command and "--service-cluster-ip-range=10.96.0.0/12" in command
    assert api["status"]["podIP"] == ip and printed(api) == ("1/1", "Running", 0)
    etcd = get_pod(kube, "etcd-control-plane", "kube-system")
    assert f"--initial-cluster=control-plane=https://{ip}:2380" in etcd["spec"]["containers"][0]["command"]
    assert ("Normal", "Pulled", 'Container image "registry.k8s.io/etcd:3.5.16-0" already present on machine') in events(
        kube, "etcd-control-plane", "kube-system"
    )
    # Deleting a mirror pod does not stop the static pod: a new mirror shows the same container.
    before = api["status"]["containerStatuses"][0]["containerID"]
    kube.delete(PODS, "kube-system", "kube-apiserver-control-plane")
    sim.advance(2)
    again = get_pod(kube, "kube-apiserver-control-plane", "kube-system")
    assert again["metadata"]["uid"] != meta["uid"]
    assert again["status"]["containerStatuses"][0]["containerID"] == before
    assert not kube.list(PODS, "kube-system", label_selector="component=kube-proxy")["items"]


def test_a_restarted_kubelet_adopts_what_runs(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    run_pod(kube, "a", [{"name": "c", "image": "nginx:1.27"}])
    run_pod(kube, "b", [{"name": "c", "image": "nginx:1.27"}])
    sim.advance(10)
    before = {n: get_pod(kube, n)["status"] for n in ("a", "b")}
    fresh = ClusterSim(sim.cluster, ("kubelet",))
    fresh.run_until_idle()
    run_pod(kube, "c", [{"name": "c", "image": "nginx:1.27"}])
    fresh.advance(10)
    for n in ("a", "b"):
        after = get_pod(kube, n)["status"]
        assert after["containerStatuses"][0]["containerID"] == before[n]["containerStatuses"][0]["containerID"]
        assert after["containerStatuses"][0]["restartCount"] == 0 and after["podIP"] == before[n]["podIP"]
    ips = {get_pod(kube, n)["status"]["podIP"] for n in ("a", "b", "c")}
    assert len(ips) == 3


# ------------------------------------------------------------------ the behaviour model
@pytest.mark.parametrize(
    ("container", "runs_for", "exit_code", "ignores_sigterm"),
    [
        ({"image": "nginx"}, behaviour.FOREVER, 0, False),
        ({"image": "busybox"}, behaviour.QUICK, 0, False),
        ({"image": "busybox", "stdin": True}, behaviour.FOREVER, 0, True),
        ({"command": ["sh", "-c", "exit 1"]}, behaviour.QUICK, 1, False),
        ({"command": ["sleep", "30"]}, 30.0, 0, True),
        ({"command": ["sh", "-c", "sleep 5; exit 3"]}, 5.0, 3, True),
        ({"command": ["sh", "-c"], "args": ["echo hi && sleep 2 && false || exit 7"]}, 2.0, 7, True),
        ({"command": ["sh", "-c", "while true; do sleep 5; done"]}, behaviour.FOREVER, 0, True),
        ({"command": ["sh", "-c", "until nslookup db; do sleep 2; done"]}, behaviour.QUICK, 0, True),
        ({"command": ["/bin/true"]}, behaviour.QUICK, 0, True),
        ({"command": ["false"]}, behaviour.QUICK, 1, False),
        ({"command": ["nginx", "-g", "daemon off;"]}, behaviour.FOREVER, 0, False),
        ({"args": ["sleep", "10"], "image": "busybox"}, 10.0, 0, True),
    ],
)
def test_commands_decide_what_a_container_does(
    container: dict[str, Any], runs_for: float, exit_code: int, ignores_sigterm: bool
) -> None:
    info = images.image_info(container.get("image", "busybox"))
    b = behaviour.derive({}, {"name": "c", **container}, info)
    assert (b.runs_for, b.exit_code, b.ignores_sigterm, b.start_error) == (runs_for, exit_code, ignores_sigterm, None)


def test_hints_and_image_defaults() -> None:
    pod = {
        "metadata": {
            "annotations": {"kubeglass.io/simulate": '{"web": {"exitAfter": 60, "exitCode": 2, "memoryMi": 300}}'}
        }
    }
    b = behaviour.derive(pod, {"name": "web"}, images.image_info("nginx"))
    assert (b.runs_for, b.exit_code, b.memory_mi) == (60, 2, 300)
    pg = behaviour.derive({}, {"name": "db"}, images.image_info("postgres:17"))
    assert (pg.runs_for, pg.exit_code) == (behaviour.QUICK, 1)
    pg_ok = behaviour.derive(
        {}, {"name": "db", "env": [{"name": "POSTGRES_PASSWORD", "value": "x"}]}, images.image_info("postgres")
    )
    assert pg_ok.runs_for == behaviour.FOREVER
    assert behaviour.derive({}, {"name": "c", "command": ["exit", "1"]}, None).start_error
    assert cni.allocate("10.244.1.0/24", {"10.244.1.2"}) == "10.244.1.3"
    assert cni.allocate("10.244.1.0/30", {"10.244.1.2"}) is None
    # The lowest free address past a run of taken ones, across an octet; IPv6 too.
    taken = {f"10.244.0.{i}" for i in range(2, 255)} | {"10.244.1.0", "10.244.1.2"}
    assert cni.allocate("10.244.0.0/23", taken) == "10.244.0.255"
    assert cni.allocate("10.244.0.0/23", taken | {"10.244.0.255"}) == "10.244.1.1"
    assert cni.allocate("fd00:10::/120", {"fd00:10::2", "fd00:10::3"}) == "fd00:10::4"


def test_every_trace_step_has_its_narration(make_sim: Callable[..., ClusterSim]) -> None:
    """Each kubelet trace step names a NARRATION template whose placeholders its parameters fill."""
    from cluster.controlplane.kubelet.kubelet import NARRATION

    sim = make_sim(components=("kubelet",), workers=1)
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    run_pod(kube, "ok", [{"name": "web", "image": "nginx:1.27", "readinessProbe": {"tcpSocket": {"port": 80}}}])
    run_pod(kube, "typo", [{"name": "c", "image": "nginxx"}])
    run_pod(kube, "crash", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 1"]}])
    run_pod(kube, "big", [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "64"}}}])
    run_pod(
        kube,
        "oom",
        [{"name": "c", "image": "nginx", "resources": {"limits": {"memory": "1Mi"}}}],
        simulate={"c": {"memoryMi": 2}},
    )
    run_pod(kube, "cfg", [{"name": "c", "image": "nginx"}], volumes=[{"name": "v", "configMap": {"name": "missing"}}])
    run_pod(kube, "hn", [{"name": "c", "image": "nginx"}], hostNetwork=True)
    live = {"exec": {"command": ["cat", "/tmp/x"]}, "periodSeconds": 1, "failureThreshold": 1}
    run_pod(kube, "probe", [{"name": "c", "image": "busybox", "command": ["sleep", "600"], "livenessProbe": live}])
    sim.advance(40)
    kube.delete(PODS, "default", "ok")
    sim.advance(40)
    steps = TraceStep.objects.filter(cluster=sim.cluster, component__startswith="kubelet/")
    used = set()
    for step in steps:
        assert step.message in NARRATION, step.message
        NARRATION[step.message].format(**step.params)
        used.add(step.message)
    assert len(used) >= 20


def test_sidecars_start_before_the_containers_and_keep_running(lab: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = lab
    sidecar = {
        "name": "log",
        "image": "busybox:1.36",
        "restartPolicy": "Always",
        "command": ["tail", "-f", "/dev/null"],
    }
    run_pod(kube, "sc", [{"name": "app", "image": "nginx:1.27"}], initContainers=[sidecar])
    sim.advance(10)
    p = get_pod(kube, "sc")
    assert printed(p) == ("2/2", "Running", 0)
    log = p["status"]["initContainerStatuses"][0]
    assert set(log["state"]) == {"running"} and log["started"] is True and log["ready"] is True
    starts = {s.params["container"]: s.sim_time for s in traces(sim, "worker-1", "kubelet.container.started")}
    assert starts["log"] < starts["app"]


def test_a_new_image_restarts_the_container(lab: tuple[ClusterSim, ApiServer]) -> None:
    """kubectl set image on a bare pod: the kubelet kills the old container and starts the new image."""
    sim, kube = lab
    run_pod(kube, "up", [{"name": "web", "image": "nginx:1.27"}])
    sim.advance(5)
    p = get_pod(kube, "up")
    p["spec"]["containers"][0]["image"] = "nginx:1.28"
    kube.update(PODS, "default", "up", p)
    sim.advance(5)
    cs = get_pod(kube, "up")["status"]["containerStatuses"][0]
    assert (cs["image"], cs["restartCount"]) == ("docker.io/library/nginx:1.28", 1)
    assert ("Normal", "Killing", "Container web definition changed, will be restarted") in events(kube, "up")


def test_same_seed_same_containers(make_sim: Callable[..., ClusterSim]) -> None:
    """Container IDs, IPs and trace timings replay identically from the cluster's seed."""
    results = []
    for name in ("one", "two"):
        sim = make_sim(name=name, components=("kubelet",), workers=1, managed_control_plane=True)
        kube = ApiServer(sim.cluster, sim.cluster.owner)
        run_pod(kube, "web", [{"name": "web", "image": "nginx:1.27"}])
        run_pod(kube, "crash", [{"name": "c", "image": "busybox", "command": ["false"]}])
        sim.advance(30)
        statuses = [get_pod(kube, n)["status"]["containerStatuses"][0] for n in ("web", "crash")]
        results.append(
            (
                [(s["containerID"], s["restartCount"]) for s in statuses],
                [get_pod(kube, n)["status"]["podIP"] for n in ("web", "crash")],
                [(round(s.sim_time, 6), s.message) for s in traces(sim, "worker-1")],
            )
        )
    assert results[0] == results[1]


def test_a_joined_control_plane_node_joins_the_existing_etcd(make_sim: Callable[..., ClusterSim]) -> None:
    sim = make_sim(components=("kubelet",), workers=0, control_planes=2)
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    sim.advance(1)
    first = get_pod(kube, "etcd-control-plane-1", "kube-system")["spec"]["containers"][0]["command"]
    second = get_pod(kube, "etcd-control-plane-2", "kube-system")["spec"]["containers"][0]["command"]
    assert "--initial-cluster-state=existing" not in first
    assert "--initial-cluster-state=existing" in second
    assert [c for c in second if c.startswith("--initial-cluster=")] == [
        "--initial-cluster=control-plane-1=https://172.18.0.2:2380,control-plane-2=https://172.18.0.3:2380"
    ]


def test_a_restarted_kubelet_keeps_its_static_pods(make_sim: Callable[..., ClusterSim]) -> None:
    sim = make_sim(components=("kubelet",), workers=0)
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    sim.advance(15)
    before = get_pod(kube, "etcd-control-plane", "kube-system")["status"]
    fresh = ClusterSim(sim.cluster, ("kubelet",))
    fresh.advance(15)
    after = get_pod(kube, "etcd-control-plane", "kube-system")["status"]
    assert after["containerStatuses"] == before["containerStatuses"]
    assert after["startTime"] == before["startTime"]


def test_admitted_view_reuses_the_admission_podinfo_only_for_the_same_pod() -> None:
    """A pod admitted and then written a status joins the view with the PodInfo parsed at admission."""
    from cluster.controlplane.kubelet.admission import AdmittedView, admit

    node = {
        "metadata": {"name": "n", "labels": {"kubernetes.io/hostname": "n"}},
        "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}},
    }

    def pod(name: str, cpu: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        }

    view = AdmittedView()
    a, b = pod("a", "500m"), pod("b", "500m")
    assert admit(a, node, [], view).admit and admit(b, node, [], view).admit
    parsed = dict(view.admitting)
    running_a = {**a, "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z"}}
    resized_b = pod("b", "1")  # a different spec than the one admitted: parse it again
    info = view.update(node, [running_a, resized_b])
    held = {p.uid: p for p in info.pods}
    assert held["uid-a"] is parsed["uid-a"] and held["uid-a"].pod is running_a and held["uid-a"].start_time
    assert held["uid-b"] is not parsed["uid-b"] and held["uid-b"].requests.milli_cpu == 1000
    assert info.requested.milli_cpu == 1500
    # The third pod asks for more than is left.
    assert not admit(pod("c", "600m"), node, [running_a, resized_b], view).admit


def test_the_admitted_view_kept_by_difference_matches_a_walk_of_the_node(
    lab: tuple[ClusterSim, ApiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through admissions, a rejection, a deletion and a kubelet restart (pods no worker holds
    yet), the view admission reads must hold exactly what a walk of the node's pods finds."""
    from cluster.controlplane.kubelet import kubelet as kubelet_module
    from cluster.controlplane.kubelet.admission import AdmittedView, view_key

    sim, kube = lab
    checked: list[str] = []
    original = kubelet_module.Kubelet.admission_view

    def checking(self: Any, asking: Any, node: dict[str, Any]) -> None:
        original(self, asking, node)
        walked = [w.spec_pod for w in self.workers.values() if w is not asking and w.counts_against_node]
        walked += [
            p
            for key, p in self.ctx.lister("", "Pod").by_field_items("spec.nodeName", self.node)
            if key not in self.workers and kubelet_module._started(p)
        ]
        fresh = AdmittedView().update(node, walked)
        info = self.admitted_view.info
        assert sorted(self.admitted_view._pods) == sorted(view_key(p) for p in walked)
        assert (info.requested.milli_cpu, info.requested.memory, len(info.pods)) == (
            fresh.requested.milli_cpu,
            fresh.requested.memory,
            len(fresh.pods),
        )
        checked.append(asking.key)

    monkeypatch.setattr(kubelet_module.Kubelet, "admission_view", checking)

    def cpu(n: str) -> list[dict[str, Any]]:
        return [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": n}}}]

    run_pod(kube, "a", cpu("1"))
    run_pod(kube, "b", cpu("1"))
    done = [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "1"}}}]
    run_pod(kube, "done", done, restartPolicy="Never")  # finishes and is torn down, but stays
    sim.advance(30)
    assert get_pod(kube, "done")["status"]["phase"] == "Succeeded"
    kube.delete(PODS, "default", "a")
    sim.advance(60)
    run_pod(kube, "c", cpu("5"))
    run_pod(kube, "d", cpu("1"))
    sim.advance(1)
    assert get_pod(kube, "c")["status"]["reason"] == "OutOfcpu"
    assert get_pod(kube, "d")["status"]["phase"] == "Running"
    run_pod(kube, "g", cpu("2"))
    sim.advance(1)
    assert get_pod(kube, "g")["status"]["phase"] == "Running"
    kube.delete(PODS, "default", "g", grace_period=0)  # force-deleted: its worker goes without a teardown
    sim.advance(1)
    run_pod(kube, "h", cpu("1"))
    sim.advance(1)
    assert get_pod(kube, "h")["status"]["phase"] == "Running"

    # A restarted kubelet meets "aa" before it has adopted b, d and h (pods sync in name order),
    # so admission must count them from their status: 3 of 4 CPUs are taken.
    run_pod(kube, "aa", cpu("2"))
    fresh_sim = ClusterSim(sim.cluster, ("kubelet",))
    fresh_sim.run_until_idle()
    aa = get_pod(kube, "aa")["status"]
    assert aa["reason"] == "OutOfcpu" and "used: 3000, capacity: 4000" in aa["message"]
    run_pod(kube, "e", cpu("1"))
    fresh_sim.advance(1)
    run_pod(kube, "f", cpu("1"))
    fresh_sim.advance(1)
    assert get_pod(kube, "e")["status"]["phase"] == "Running"
    f = get_pod(kube, "f")["status"]
    assert f["reason"] == "OutOfcpu" and "used: 4000, capacity: 4000" in f["message"]
    assert {"default/aa", "default/d", "default/e", "default/f", "default/h"} <= set(checked)


def test_a_worker_whose_pod_came_back_finished_under_a_new_uid_is_dropped(lab: tuple[ClusterSim, ApiServer]) -> None:
    """A pod force-deleted and made again under its name, already Failed, before the kubelet
    looked: the old pod's worker goes (it held 3 of the node's 4 CPUs) and nothing takes its place."""
    from cluster.controlplane.kubelet.kubelet import Kubelet

    sim, kube = lab
    big = [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": "3"}}}]
    run_pod(kube, "x", big)
    sim.advance(1)
    kubelet = next(c for c in sim.node_agents["worker-1"]["kubelet"] if isinstance(c, Kubelet))
    old_uid = kubelet.workers["default/x"].uid
    kube.delete(PODS, "default", "x", grace_period=0)
    run_pod(kube, "x", big)
    kube.patch(
        PODS, "default", "x", "application/merge-patch+json", {"status": {"phase": "Failed"}}, subresource="status"
    )
    sim.advance(1)
    assert get_pod(kube, "x")["metadata"]["uid"] != old_uid
    assert "default/x" not in kubelet.workers
    run_pod(kube, "y", big)
    kubelet._strays_possible = True  # a walk of the node must not find the old worker either
    sim.advance(10)
    assert get_pod(kube, "y")["status"]["phase"] == "Running"

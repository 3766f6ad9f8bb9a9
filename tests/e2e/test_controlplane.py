"""The control loops, driven the way a student drives them: the real kubectl, on the fast clock."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.conftest import LiveServer, wait_until

pytestmark = pytest.mark.e2e

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  strategy:
    rollingUpdate:
      maxUnavailable: 1
      maxSurge: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 100m, memory: 64Mi}
"""


@pytest.fixture(scope="module", autouse=True)
def fast_clock(kubeglass_server: LiveServer) -> None:
    done = kubeglass_server.manage("clock", "e2e", "--speed", "64")
    assert done.returncode == 0, done.stderr


def _pods(kubectl, ns: str, selector: str) -> list[dict]:
    return kubectl.json("get", "pods", "-n", ns, "-l", selector)["items"]


def _running(kubectl, ns: str, selector: str, count: int) -> list[dict] | None:
    pods = [p for p in _pods(kubectl, ns, selector) if not p["metadata"].get("deletionTimestamp")]
    ready = [
        p
        for p in pods
        if p["status"].get("phase") == "Running"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    return ready if len(ready) == count and len(pods) == count else None


def test_deployment_rolls_out_and_heals(kubectl, fresh_namespace) -> None:
    """3 replicas become Ready with IPs from their node's podCIDR; scale, self-healing, new image and undo all work."""
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY)
    status = kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=120s", timeout=150)
    assert 'deployment "web" successfully rolled out' in status.stdout
    pods = wait_until(lambda: _running(kubectl, ns, "app=web", 3), timeout=60, what="3 running pods")
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}
    for pod in pods:
        node = nodes[pod["spec"]["nodeName"]]
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
        assert pod["metadata"]["annotations"]["kubeglass.io/selected-node"] == node["metadata"]["name"]
        assert json.loads(pod["metadata"]["annotations"]["kubeglass.io/filter-result"])
        types = [c["type"] for c in pod["status"]["conditions"]]
        assert {"PodScheduled", "Initialized", "ContainersReady", "Ready"} <= set(types)
    kubectl("scale", "-n", ns, "deployment/web", "--replicas=5")
    wait_until(lambda: _running(kubectl, ns, "app=web", 5), timeout=90, what="5 running pods")
    victim = _pods(kubectl, ns, "app=web")[0]["metadata"]["name"]
    kubectl("delete", "pod", "-n", ns, victim, "--wait=false")
    wait_until(
        lambda: (r := _running(kubectl, ns, "app=web", 5)) and victim not in {p["metadata"]["name"] for p in r},
        timeout=90,
        what="the deleted pod to be replaced",
    )
    kubectl("set", "image", "-n", ns, "deployment/web", "web=nginx:1.28")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=180s", timeout=200)
    rs = kubectl.json("get", "rs", "-n", ns, "-l", "app=web")["items"]
    images = {r["spec"]["template"]["spec"]["containers"][0]["image"]: r["spec"]["replicas"] for r in rs}
    assert images == {"nginx:1.27": 0, "nginx:1.28": 5}
    kubectl("rollout", "undo", "-n", ns, "deployment/web")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=180s", timeout=200)
    image = kubectl.json("get", "deployment", "-n", ns, "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.27"
    history = kubectl("rollout", "history", "-n", ns, "deployment/web").stdout
    assert "REVISION" in history and "3" in history


def test_undo_of_a_created_deployment_goes_back_to_its_first_replicaset(kubectl, fresh_namespace) -> None:
    """`kubectl create deployment` sends protobuf and `rollout undo` sends JSON: the undone template
    must equal the first one, so the first ReplicaSet scales back up (revision 3) and no third appears."""
    ns = fresh_namespace()
    kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=120s", timeout=150)
    container = kubectl.json("get", "deployment", "-n", ns, "web")["spec"]["template"]["spec"]["containers"][0]
    assert "stdin" not in container and "tty" not in container
    first = {r["metadata"]["name"] for r in kubectl.json("get", "rs", "-n", ns, "-l", "app=web")["items"]}
    assert len(first) == 1
    kubectl("set", "image", "-n", ns, "deployment/web", "nginx=nginx:1.28")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=180s", timeout=200)
    kubectl("rollout", "undo", "-n", ns, "deployment/web")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=180s", timeout=200)
    rs = {r["metadata"]["name"]: r for r in kubectl.json("get", "rs", "-n", ns, "-l", "app=web")["items"]}
    assert len(rs) == 2
    (back,) = first
    assert rs[back]["spec"]["replicas"] == 2
    assert rs[back]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    history = kubectl("rollout", "history", "-n", ns, "deployment/web").stdout.split()
    assert "1" not in history[history.index("CHANGE-CAUSE") + 1 :: 2]


def test_cordon_and_drain(kubectl, fresh_namespace) -> None:
    """A cordoned node gets no new pods; `kubectl drain` evicts its pods and they come back elsewhere."""
    ns = fresh_namespace()
    kubectl("cordon", "worker-3")
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY.replace("replicas: 3", "replicas: 4"))
        pods = wait_until(lambda: _running(kubectl, ns, "app=web", 4), timeout=120, what="4 running pods")
        assert "worker-3" not in {p["spec"]["nodeName"] for p in pods}
        on_w2 = [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "worker-2"]
        assert on_w2
        out = kubectl(
            "drain", "worker-2", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s", timeout=150
        )
        assert "node/worker-2 drained" in out.stdout
        pods = wait_until(lambda: _running(kubectl, ns, "app=web", 4), timeout=120, what="pods back after the drain")
        assert {p["spec"]["nodeName"] for p in pods} == {"worker-1"}
    finally:
        kubectl("uncordon", "worker-2", check=False)
        kubectl("uncordon", "worker-3", check=False)


def test_statefulset_and_daemonset(kubectl, fresh_namespace) -> None:
    ns = fresh_namespace()
    sts = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: sts}
  ports: [{port: 80, name: http}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: sts}
  template:
    metadata:
      labels: {app: sts}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: busybox:1.36
        command: ["sh", "-c", "sleep 100000"]
"""
    kubectl("apply", "-n", ns, "-f", "-", input=sts)
    pods = wait_until(lambda: _running(kubectl, ns, "app=sts", 3), timeout=150, what="web-0..2 running")
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1", "web-2"]
    created = sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    assert [p["metadata"]["name"] for p in created] == ["web-0", "web-1", "web-2"]
    agents = wait_until(lambda: _running(kubectl, ns, "app=agent", 3), timeout=120, what="one agent per worker")
    assert sorted(p["spec"]["nodeName"] for p in agents) == ["worker-1", "worker-2", "worker-3"]


def test_image_pull_backoff_and_crash_loop(kubectl, fresh_namespace) -> None:
    ns = fresh_namespace()
    kubectl("run", "typo", "-n", ns, "--image=ngnix:1.27")
    kubectl("run", "crasher", "-n", ns, "--image=busybox:1.36", "--", "sh", "-c", "exit 1")

    def reason(name: str) -> str:
        pod = kubectl.json("get", "pod", "-n", ns, name)
        state = (pod["status"].get("containerStatuses") or [{}])[0].get("state", {})
        return (state.get("waiting") or {}).get("reason", "")

    wait_until(lambda: reason("typo") == "ImagePullBackOff", timeout=120, what="ImagePullBackOff")
    wait_until(lambda: reason("crasher") == "CrashLoopBackOff", timeout=120, what="CrashLoopBackOff")
    events = kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=crasher").stdout
    assert "BackOff" in events and "Back-off restarting failed container" in events


def test_node_failure_evicts_after_toleration(kubectl, fresh_namespace, kubeglass_server: LiveServer) -> None:
    """A node whose kubelet stops goes NotReady, is tainted, and its pods are recreated elsewhere."""
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY.replace("replicas: 3", "replicas: 6"))
    pods = wait_until(lambda: _running(kubectl, ns, "app=web", 6), timeout=120, what="6 running pods")
    victim = "worker-1"
    assert any(p["spec"]["nodeName"] == victim for p in pods)
    kubectl("annotate", "node", victim, "kubeglass.io/kubelet-stopped=true")
    try:

        def tainted() -> bool:
            node = kubectl.json("get", "node", victim)
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            keys = {t["key"] for t in node["spec"].get("taints", [])}
            return ready["status"] == "Unknown" and "node.kubernetes.io/unreachable" in keys

        wait_until(tainted, timeout=120, what="the node to go NotReady and be tainted")
        moved = wait_until(
            lambda: (
                (r := _running(kubectl, ns, "app=web", 6)) and all(p["spec"]["nodeName"] != victim for p in r) and r
            ),
            timeout=240,
            what="pods recreated on other nodes after tolerationSeconds",
        )
        assert len(moved) == 6
    finally:
        kubectl("annotate", "node", victim, "kubeglass.io/kubelet-stopped-", check=False)

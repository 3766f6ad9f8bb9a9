"""`kubectl rollout history` and `rollout undo` for DaemonSets and StatefulSets, which kubectl does client-side.

kubectl lists the ControllerRevisions the workload controls (by its selector, then by the
controller ownerReference) and, to undo, patches the workload with the chosen revision's
``data``. So these commands work only if the controllers keep real ControllerRevisions.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import LiveServer, wait_until

pytestmark = pytest.mark.e2e

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  annotations:
    kubernetes.io/change-cause: first agent
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

STATEFULSET = """
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 80, name: http}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: nginx:1.26
"""


@pytest.fixture(scope="module", autouse=True)
def fast_clock(kubeglass_server: LiveServer) -> None:
    done = kubeglass_server.manage("clock", "e2e", "--speed", "64")
    assert done.returncode == 0, done.stderr


def _revisions(history: str) -> list[str]:
    """The REVISION column of `kubectl rollout history` (below its "<kind>/<name>" title and header)."""
    lines = history.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("REVISION"))
    return [line.split()[0] for line in lines[header + 1 :] if line.strip()]


def _images(kubectl, ns: str, selector: str, count: int) -> set[str] | None:
    """The images of ``count`` live, ready pods, or None while the rollout is still moving."""
    pods = [p for p in kubectl.json("get", "pods", "-n", ns, "-l", selector)["items"]]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [
        p
        for p in live
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    if len(live) != count or len(ready) != count:
        return None
    return {p["spec"]["containers"][0]["image"] for p in live}


def _rolled_out(kubectl, ns: str, ref: str, selector: str, count: int, image: str, what: str) -> None:
    """``kubectl rollout status`` succeeds, then every pod of the workload runs ``image``."""
    kubectl("rollout", "status", "-n", ns, ref, "--timeout=180s", timeout=200)
    wait_until(lambda: _images(kubectl, ns, selector, count) == {image}, timeout=120, what=what)


def _owned_revisions(kubectl, ns: str, kind: str, name: str) -> list[dict]:
    owner = kubectl.json("get", kind, "-n", ns, name)
    out = []
    for rev in kubectl.json("get", "controllerrevisions", "-n", ns)["items"]:
        refs = [r for r in rev["metadata"].get("ownerReferences", []) if r.get("controller")]
        if refs and refs[0]["uid"] == owner["metadata"]["uid"]:
            out.append(rev)
    return sorted(out, key=lambda r: r["revision"])


def test_daemonset_rollout_history_and_undo(kubectl, fresh_namespace) -> None:
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=DAEMONSET)
    kubectl("rollout", "status", "-n", ns, "daemonset/agent", "--timeout=120s", timeout=150)
    kubectl("set", "image", "-n", ns, "daemonset/agent", "agent=busybox:1.37")
    _rolled_out(kubectl, ns, "daemonset/agent", "app=agent", 3, "busybox:1.37", "new agents")

    history = kubectl("rollout", "history", "-n", ns, "daemonset/agent").stdout
    assert "REVISION" in history and "CHANGE-CAUSE" in history
    assert _revisions(history) == ["1", "2"]
    assert re.search(r"^1\s+first agent$", history, re.M), history
    detail = kubectl("rollout", "history", "-n", ns, "daemonset/agent", "--revision=1").stdout
    assert "busybox:1.36" in detail and "busybox:1.37" not in detail

    # The pods carry the hash of the revision they were made from.
    revs = _owned_revisions(kubectl, ns, "daemonset", "agent")
    hashes = [r["metadata"]["labels"]["controller-revision-hash"] for r in revs]
    assert [r["metadata"]["name"] for r in revs] == [f"agent-{h}" for h in hashes]
    labels = {
        p["metadata"]["labels"]["controller-revision-hash"] for p in kubectl.json("get", "pods", "-n", ns)["items"]
    }
    assert labels == {hashes[1]}

    out = kubectl("rollout", "undo", "-n", ns, "daemonset/agent").stdout
    assert "rolled back" in out
    _rolled_out(kubectl, ns, "daemonset/agent", "app=agent", 3, "busybox:1.36", "old agents back")
    ds = kubectl.json("get", "daemonset", "-n", ns, "agent")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    # The undo reused revision 1's object, renumbered as revision 3: no copy.
    history = wait_until(
        lambda: (
            (h := kubectl("rollout", "history", "-n", ns, "daemonset/agent").stdout)
            and _revisions(h) == ["2", "3"]
            and h
        ),
        timeout=60,
        what="revisions 2 and 3",
    )
    assert "first agent" in history
    assert [r["metadata"]["name"] for r in _owned_revisions(kubectl, ns, "daemonset", "agent")] == [
        revs[1]["metadata"]["name"],
        revs[0]["metadata"]["name"],
    ]
    again = kubectl("rollout", "undo", "-n", ns, "daemonset/agent", "--to-revision=3").stdout
    assert "skipped rollback" in again


def test_statefulset_rollout_history_and_undo(kubectl, fresh_namespace) -> None:
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=STATEFULSET)
    kubectl("rollout", "status", "-n", ns, "statefulset/db", "--timeout=150s", timeout=180)
    kubectl("set", "image", "-n", ns, "statefulset/db", "db=nginx:1.27")
    _rolled_out(kubectl, ns, "statefulset/db", "app=db", 2, "nginx:1.27", "updated db pods")

    history = kubectl("rollout", "history", "-n", ns, "statefulset/db").stdout
    assert "REVISION" in history
    assert _revisions(history) == ["1", "2"]
    detail = kubectl("rollout", "history", "-n", ns, "statefulset/db", "--revision=1").stdout
    assert "nginx:1.26" in detail and "nginx:1.27" not in detail

    revs = _owned_revisions(kubectl, ns, "statefulset", "db")
    status = kubectl.json("get", "statefulset", "-n", ns, "db")["status"]
    assert status["currentRevision"] == status["updateRevision"] == revs[1]["metadata"]["name"]

    out = kubectl("rollout", "undo", "-n", ns, "statefulset/db").stdout
    assert "rolled back" in out
    _rolled_out(kubectl, ns, "statefulset/db", "app=db", 2, "nginx:1.26", "db pods rolled back")
    history = wait_until(
        lambda: (
            (h := kubectl("rollout", "history", "-n", ns, "statefulset/db").stdout)
            and _revisions(h) == ["2", "3"]
            and h
        ),
        timeout=60,
        what="revisions 2 and 3",
    )
    assert history
    status = wait_until(
        lambda: (
            (s := kubectl.json("get", "statefulset", "-n", ns, "db")["status"])
            and s.get("currentRevision") == s.get("updateRevision") == revs[0]["metadata"]["name"]
            and s
        ),
        timeout=60,
        what="the status to name revision 1's object",
    )
    pods = kubectl.json("get", "pods", "-n", ns, "-l", "app=db")["items"]
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} == {status["updateRevision"]}
    again = kubectl("rollout", "undo", "-n", ns, "statefulset/db", "--to-revision=3").stdout
    assert "skipped rollback" in again

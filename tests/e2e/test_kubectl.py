"""The real kubectl drives the API server of a live Kubeglass process."""

from __future__ import annotations

import ipaddress
import queue
import subprocess
import threading
import time

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e

MANIFESTS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 8080
"""


def test_version_and_discovery(kubectl) -> None:
    """kubectl reads the server version and every served resource through discovery."""
    out = kubectl("version").stdout
    assert "Server Version: v1.32.0" in out
    resources = kubectl("api-resources").stdout
    for line in (
        "deployments",
        "endpointslices",
        "networkpolicies",
        "leases",
        "storageclasses",
        "persistentvolumeclaims",
    ):
        assert line in resources
    assert "deploy" in resources.split("deployments", 1)[1].splitlines()[0]


def test_get_nodes_prints_the_real_columns(kubectl) -> None:
    """`kubectl get nodes` shows the control plane and three Ready workers with upstream's columns."""
    out = kubectl("get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert set(rows) == {"control-plane", "worker-1", "worker-2", "worker-3"}
    assert rows["control-plane"][1:3] == ["Ready", "control-plane"]
    assert rows["worker-1"][1:3] == ["Ready", "<none>"]
    assert rows["worker-2"][-1] == "v1.32.0"
    wide = kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert "INTERNAL-IP" in wide[0] and "CONTAINER-RUNTIME" in wide[0]
    assert any("172.18.0." in line and "containerd://" in line for line in wide[1:])


def test_create_namespace(kubectl) -> None:
    """`kubectl create namespace` stores an Active namespace."""
    kubectl("create", "namespace", "team-a")
    ns = kubectl.json("get", "namespace", "team-a")
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    again = kubectl("create", "namespace", "team-a", check=False)
    assert again.returncode != 0
    assert 'namespaces "team-a" already exists' in again.stderr


def test_client_side_apply_then_reapply(kubectl, fresh_namespace) -> None:
    """A second `kubectl apply` of a changed manifest updates replicas and labels in place."""
    ns = fresh_namespace()
    out = kubectl("apply", "-n", ns, "-f", "-", input=MANIFESTS).stdout
    assert "configmap/web-config created" in out
    assert "service/web created" in out
    assert "deployment.apps/web created" in out
    deploy = kubectl.json("get", "-n", ns, "deployment", "web")
    assert deploy["spec"]["replicas"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in deploy["metadata"]["annotations"]
    svc = kubectl.json("get", "-n", ns, "service", "web")
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    changed = MANIFESTS.replace("replicas: 2", "replicas: 4").replace(
        "  labels:\n    app: web\nspec:\n  replicas", "  labels:\n    app: web\n    tier: frontend\nspec:\n  replicas"
    )
    out = kubectl("apply", "-n", ns, "-f", "-", input=changed).stdout
    assert "deployment.apps/web configured" in out
    assert "configmap/web-config unchanged" in out
    deploy = kubectl.json("get", "-n", ns, "deployment", "web")
    assert deploy["spec"]["replicas"] == 4
    assert deploy["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert deploy["metadata"]["generation"] == 2


def test_server_side_apply(kubectl, fresh_namespace) -> None:
    """`kubectl apply --server-side` creates, then updates, and records the kubectl field manager."""
    ns = fresh_namespace()
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n  b: '2'\n"
    assert "configmap/ssa serverside-applied" in kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=cm).stdout
    kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=cm.replace("  b: '2'\n", "  c: '3'\n"))
    got = kubectl.json("get", "-n", ns, "configmap", "ssa", "--show-managed-fields")
    assert got["data"] == {"a": "1", "c": "3"}
    managers = {m["manager"]: m for m in got["metadata"]["managedFields"]}
    assert managers["kubectl"]["operation"] == "Apply"
    assert "f:c" in managers["kubectl"]["fieldsV1"]["f:data"]


def test_get_json_wide_and_label_selector(kubectl, fresh_namespace) -> None:
    """`-o json`, `-o wide` and `-l` select and print as a real cluster does."""
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=MANIFESTS)
    kubectl("create", "configmap", "other", "-n", ns, "--from-literal=x=y")
    kubectl("label", "-n", ns, "configmap", "other", "app=other")
    listed = kubectl.json("get", "-n", ns, "configmaps", "-l", "app=other")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["other"]
    assert listed["kind"] == "List" or listed["kind"] == "ConfigMapList"
    wide = kubectl("get", "-n", ns, "deployment", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[0] == "web" and "nginx:1.27" in wide[1] and "app=web" in wide[1]
    names = kubectl("get", "-n", ns, "configmaps", "-l", "app!=other", "-o", "name").stdout.split()
    assert "configmap/other" not in names and "configmap/web-config" in names


@pytest.mark.parametrize(
    ("kind", "patch", "expect"),
    [
        ("merge", '{"data":{"greeting":"hi"}}', {"greeting": "hi"}),
        ("json", '[{"op":"add","path":"/data/extra","value":"x"}]', {"greeting": "hello", "extra": "x"}),
        ("strategic", '{"data":{"greeting":null,"n":"1"}}', {"n": "1"}),
    ],
)
def test_patch_types(kubectl, fresh_namespace, kind: str, patch: str, expect: dict[str, str]) -> None:
    """All three patch types change exactly what they say."""
    ns = fresh_namespace()
    kubectl("create", "configmap", "web-config", "-n", ns, "--from-literal=greeting=hello")
    kubectl("patch", "-n", ns, "configmap", "web-config", "--type", kind, "-p", patch)
    assert kubectl.json("get", "-n", ns, "configmap", "web-config")["data"] == expect


def test_strategic_patch_merges_containers_by_name(kubectl, fresh_namespace) -> None:
    """A strategic patch of one container keeps the others (merge key `name`)."""
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=MANIFESTS)
    patch = '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}'
    kubectl("patch", "-n", ns, "deployment", "web", "--type", "strategic", "-p", patch)
    containers = kubectl.json("get", "-n", ns, "deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["sidecar", "web"] or [c["name"] for c in containers] == [
        "web",
        "sidecar",
    ]


def test_label_annotate_scale(kubectl, fresh_namespace) -> None:
    """`label`, `annotate` and `scale` store what they say."""
    ns = fresh_namespace()
    kubectl("apply", "-n", ns, "-f", "-", input=MANIFESTS)
    kubectl("label", "-n", ns, "deployment", "web", "team=blue")
    kubectl("annotate", "-n", ns, "deployment", "web", "owner=ops")
    assert "deployment.apps/web scaled" in kubectl("scale", "-n", ns, "deployment", "web", "--replicas=5").stdout
    d = kubectl.json("get", "-n", ns, "deployment", "web")
    assert d["metadata"]["labels"]["team"] == "blue"
    assert d["metadata"]["annotations"]["owner"] == "ops"
    assert d["spec"]["replicas"] == 5
    kubectl("label", "-n", ns, "deployment", "web", "team-")
    assert "team" not in kubectl.json("get", "-n", ns, "deployment", "web")["metadata"]["labels"]


def _reader(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))


def test_delete_and_watch(kubectl, fresh_namespace) -> None:
    """`kubectl get -w` receives the ADDED and DELETED events of a configmap."""
    ns = fresh_namespace()
    proc = subprocess.Popen(
        [
            kubectl.binary,
            "--kubeconfig",
            kubectl.kubeconfig,
            "get",
            "configmaps",
            "-n",
            ns,
            "-w",
            "--output-watch-events",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc, lines), daemon=True).start()
    seen: list[str] = []

    def wait_for(*fragments: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=0.2))
            except queue.Empty:
                continue
            if all(f in seen[-1] for f in fragments):
                return
        raise AssertionError(f"no watch line with {fragments!r}; saw {seen}")

    try:
        kubectl("create", "configmap", "watched", "-n", ns, "--from-literal=a=b")
        wait_for("ADDED", "watched")
        assert 'configmap "watched" deleted' in kubectl("delete", "configmap", "watched", "-n", ns).stdout
        wait_for("DELETED", "watched")
    finally:
        proc.kill()
        proc.wait()
    gone = kubectl("get", "configmap", "watched", "-n", ns, check=False)
    assert gone.returncode != 0 and 'configmaps "watched" not found' in gone.stderr


BAD_NAME = MANIFESTS.split("---")[2].replace("name: web\n  labels", "name: Web\n  labels")


@pytest.mark.parametrize(
    ("manifest", "flags", "message"),
    [
        (
            BAD_NAME,
            (),
            'The Deployment "Web" is invalid: metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain',
        ),
        (
            MANIFESTS.split("---")[2].replace("replicas: 2", "replicas: two"),
            (),
            "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            MANIFESTS.split("---")[2].replace("  replicas: 2", "  replicas: 2\n  replicaz: 3"),
            ("--validate=strict",),
            'strict decoding error: unknown field "spec.replicaz"',
        ),
    ],
    ids=["upper-case-name", "wrong-type", "unknown-field"],
)
def test_bad_manifest_fails_and_changes_nothing(
    kubectl, fresh_namespace, manifest: str, flags: tuple[str, ...], message: str
) -> None:
    """A bad manifest is refused with the apiserver's own words and leaves the cluster as it was."""
    ns = fresh_namespace()
    done = kubectl("apply", "-n", ns, *flags, "-f", "-", input=manifest, check=False)
    assert done.returncode != 0
    assert message in done.stderr
    assert kubectl.json("get", "-n", ns, "deployments")["items"] == []


def test_stranger_is_forbidden_and_no_token_is_unauthorized(kubectl_stranger, kubeglass_server: LiveServer) -> None:
    """Another student's token gets 403; no token gets 401."""
    done = kubectl_stranger("get", "pods", check=False)
    assert done.returncode != 0
    assert 'pods is forbidden: User "mallory" cannot list resource "pods"' in done.stderr
    import json
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(kubeglass_server.ca_file))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{kubeglass_server.https_url}/k8s/e2e/api/v1/pods", context=ctx, timeout=10)
    assert err.value.code == 401
    assert json.loads(err.value.read())["reason"] == "Unauthorized"


def test_server_dry_run_stores_nothing(kubectl, fresh_namespace) -> None:
    """`--dry-run=server` runs admission and validation, returns the result and stores nothing."""
    ns = fresh_namespace()
    out = kubectl("apply", "-n", ns, "--dry-run=server", "-f", "-", input=MANIFESTS).stdout
    assert "deployment.apps/web created (server dry run)" in out
    assert kubectl.json("get", "-n", ns, "deployments")["items"] == []
    bad = kubectl("apply", "-n", ns, "--dry-run=server", "-f", "-", input=BAD_NAME, check=False)
    assert bad.returncode != 0 and "is invalid" in bad.stderr

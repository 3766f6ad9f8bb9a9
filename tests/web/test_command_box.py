"""The command box: kubectl's common verbs parsed in Python and sent to the API server, never to a shell."""

from __future__ import annotations

import copy
import os
import subprocess
from typing import Any

import pytest

from cluster.api import registry
from web import kubectl

POD = registry.by_kind("", "Pod")
NODE = registry.by_kind("", "Node")
DEPLOY = registry.by_kind("apps", "Deployment")
RS = registry.by_kind("apps", "ReplicaSet")
SVC = registry.by_kind("", "Service")


@pytest.fixture(autouse=True)
def no_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start a process fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the command box tried to run a process: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "system", refuse)


def run(api: Any, line: str) -> kubectl.Outcome:
    return kubectl.run(api, line)


def ok(api: Any, line: str) -> str:
    out = run(api, line)
    assert out.code == 0, (line, out)
    return out.stdout


def _pod(api: Any, name: str, node: str | None = None, labels: dict[str, str] | None = None, **spec: Any) -> None:
    body = {
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 8080}]}], **spec},
    }
    api.create(POD, "default", body)
    if node:
        api.bind("default", name, {"target": {"name": node}})


@pytest.fixture
def web(api: Any) -> dict[str, Any]:
    ok(api, "kubectl create deployment web --image=nginx:1.27 --replicas=3 --port=80")
    return api.get(DEPLOY, "default", "web")


def test_create_deployment_builds_what_kubectl_builds(api: Any, web: dict[str, Any]) -> None:
    assert web["spec"]["replicas"] == 3
    assert web["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "nginx" and container["image"] == "nginx:1.27"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert run(api, "create deployment nope").stderr == 'error: required flag(s) "image" not set'
    assert "created" in ok(api, "create namespace team-a")


def test_get_prints_the_server_side_columns(api: Any, web: dict[str, Any]) -> None:
    _pod(api, "solo", node="worker-1")
    table = ok(api, "kubectl get pods")
    assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "solo" in table and "Pending" in table
    wide = ok(api, "get po -o wide")
    assert "NODE" in wide.splitlines()[0] and "worker-1" in wide
    assert ok(api, "get pods -o name") == "pod/solo\n"
    assert "kind: Pod" in ok(api, "get pod solo -o yaml")
    assert '"kind": "Pod"' in ok(api, "get pod/solo -o json")
    nodes = ok(api, "get nodes")
    assert "control-plane" in nodes and "worker-3" in nodes
    assert "deployment.apps/web" in ok(api, "get all")
    assert ok(api, "get pods -A").splitlines()[0].startswith("NAMESPACE")
    assert ok(api, "get pods -l app=solo --show-labels").count("solo") == 2
    missing = run(api, "get pod ghost")
    assert missing.code == 1 and missing.stderr == 'Error from server (NotFound): pods "ghost" not found'
    empty = run(api, "get services -n kube-public")
    assert empty.code == 0 and empty.stderr == "No resources found in kube-public namespace."
    assert "doesn't have a resource type" in run(api, "get widgets").stderr


def test_describe_shows_the_key_facts(api: Any, web: dict[str, Any]) -> None:
    _pod(api, "solo", node="worker-2")
    pod = ok(api, "describe pod solo")
    assert "Name:                solo" in pod and "Node:                worker-2/" in pod and "Containers:" in pod
    assert "Events:" in pod
    assert "3 desired" in ok(api, "describe deployment web")
    node = ok(api, "describe node worker-1")
    assert "PodCIDR:" in node and "InternalIP:" in node
    ok(api, "expose deployment web --port=80")
    assert "TargetPort:" in ok(api, "describe svc web")


def test_apply_reads_the_manifest_pasted_below(api: Any) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n"
    assert ok(api, f"kubectl apply -f -\n{manifest}") == "configmap/settings created\n"
    assert ok(api, f"kubectl apply -f -\n{manifest}") == "configmap/settings unchanged\n"
    assert (
        ok(api, f"kubectl apply -f -\n{manifest.replace(chr(39) + '1', chr(39) + '2')}")
        == "configmap/settings configured\n"
    )
    assert "paste the manifest" in run(api, "kubectl apply -f -").stderr
    assert "only -f -" in run(api, "kubectl apply -f https://example.com/x.yaml").stderr
    bad = run(api, "apply -f -\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: -1}\n")
    assert bad.code == 1 and 'The Deployment "x" is invalid' in bad.stderr and "spec.replicas" in bad.stderr


def test_scale(api: Any, web: dict[str, Any]) -> None:
    assert ok(api, "kubectl scale deployment web --replicas=5") == "deployment.apps/web scaled\n"
    assert api.get(DEPLOY, "default", "web")["spec"]["replicas"] == 5
    assert ok(api, "scale --replicas=2 deploy/web") == "deployment.apps/web scaled\n"
    assert api.get(DEPLOY, "default", "web")["spec"]["replicas"] == 2
    assert 'required flag(s) "replicas"' in run(api, "scale deployment web").stderr
    assert "invalid argument" in run(api, "scale deployment web --replicas=lots").stderr
    assert "NotFound" in run(api, "scale deployment ghost --replicas=1").stderr


def test_set_image(api: Any, web: dict[str, Any]) -> None:
    assert ok(api, "kubectl set image deployment/web nginx=nginx:1.28") == "deployment.apps/web image updated\n"
    image = api.get(DEPLOY, "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.28"
    assert run(api, "set image deployment/web nope=x").stderr == 'error: unable to find container named "nope"'


def _revision(api: Any, deploy: dict[str, Any], revision: int, image: str) -> None:
    template = copy.deepcopy(deploy["spec"]["template"])
    template["spec"]["containers"][0]["image"] = image
    template["metadata"]["labels"]["pod-template-hash"] = f"h{revision}"
    body = {
        "metadata": {
            "name": f"web-h{revision}",
            "labels": template["metadata"]["labels"],
            "annotations": {kubectl.REVISION: str(revision)},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": deploy["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 0, "selector": {"matchLabels": template["metadata"]["labels"]}, "template": template},
    }
    api.create(RS, "default", body)


def test_rollout_status_history_and_undo(api: Any, web: dict[str, Any]) -> None:
    assert "Waiting for deployment" in ok(api, "rollout status deployment/web")
    d = api.get(DEPLOY, "default", "web")
    d["status"] = {
        "observedGeneration": d["metadata"]["generation"],
        "replicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
    }
    api.update(DEPLOY, "default", "web", d, subresource="status")
    assert ok(api, "rollout status deployment/web") == 'deployment "web" successfully rolled out\n'
    _revision(api, web, 1, "nginx:1.26")
    _revision(api, web, 2, "nginx:1.27")
    d = api.get(DEPLOY, "default", "web")
    d["metadata"].setdefault("annotations", {})[kubectl.REVISION] = "2"
    api.update(DEPLOY, "default", "web", d)
    history = ok(api, "rollout history deployment/web")
    assert history.splitlines()[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [line.split()[0] for line in history.splitlines()[2:]] == ["1", "2"]
    assert ok(api, "rollout undo deployment/web") == "deployment.apps/web rolled back\n"
    image = api.get(DEPLOY, "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.26"
    assert "unable to find specified revision 9" in run(api, "rollout undo deployment/web --to-revision=9").stderr


def test_delete(api: Any, web: dict[str, Any]) -> None:
    _pod(api, "doomed")
    assert ok(api, "kubectl delete pod doomed") == 'pod "doomed" deleted\n'
    assert run(api, "get pod doomed").code == 1
    assert ok(api, "delete deployment/web") == 'deployment.apps "web" deleted\n'
    assert "NotFound" in run(api, "delete pod ghost").stderr


def test_cordon_uncordon_and_drain(api: Any) -> None:
    assert ok(api, "kubectl cordon worker-1") == "node/worker-1 cordoned\n"
    assert api.get(NODE, None, "worker-1")["spec"]["unschedulable"] is True
    assert ok(api, "cordon worker-1") == "node/worker-1 already cordoned\n"
    assert ok(api, "uncordon worker-1") == "node/worker-1 uncordoned\n"
    assert not api.get(NODE, None, "worker-1")["spec"].get("unschedulable")
    _pod(api, "bare", node="worker-2")
    refused = run(api, "drain worker-2 --ignore-daemonsets")
    assert refused.code == 1 and "use --force" in refused.stderr and "default/bare" in refused.stderr
    out = ok(api, "drain worker-2 --ignore-daemonsets --force")
    assert "evicting pod default/bare" in out and out.endswith("node/worker-2 drained\n")
    assert api.get(NODE, None, "worker-2")["spec"]["unschedulable"] is True


def test_label(api: Any) -> None:
    _pod(api, "tagged", labels={"app": "tagged"})
    assert ok(api, "kubectl label pod tagged tier=front") == "pod/tagged labeled\n"
    assert api.get(POD, "default", "tagged")["metadata"]["labels"] == {"app": "tagged", "tier": "front"}
    assert "--overwrite is false" in run(api, "label pod tagged tier=back").stderr
    assert ok(api, "label pod tagged tier=back --overwrite") == "pod/tagged labeled\n"
    assert ok(api, "label pod/tagged tier-") == "pod/tagged labeled\n"
    assert "tier" not in api.get(POD, "default", "tagged")["metadata"]["labels"]
    assert ok(api, "label node worker-3 disk=ssd") == "node/worker-3 labeled\n"


def test_expose(api: Any, web: dict[str, Any]) -> None:
    assert ok(api, "kubectl expose deployment web --port=80 --target-port=8080") == "service/web exposed\n"
    svc = api.get(SVC, "default", "web")
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["clusterIP"]
    assert ok(api, "expose deployment web --name=web-np --type=NodePort") == "service/web-np exposed\n"
    assert api.get(SVC, "default", "web-np")["spec"]["ports"][0]["port"] == 80


def test_anything_else_is_refused_without_a_shell(api: Any) -> None:
    assert "unknown command" in run(api, "kubectl exec -it web -- sh").stderr
    assert "unknown command" in run(api, "rm -rf /").stderr
    sneaky = run(api, "kubectl get pods; rm -rf /")
    assert sneaky.code == 1
    assert run(api, "get pods $(reboot)").code == 1
    assert "unknown flag" in run(api, "get pods --kubeconfig=/etc/passwd").stderr
    assert "No closing quotation" in run(api, 'get pods "unterminated').stderr
    assert "Supported here" in ok(api, "help")

"""The glass's pages and partials: dashboard, inspector, scheduling decision, manifest apply, feed, clusters."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from django.test import Client
from django.utils import translation

from cluster.api import registry
from cluster.kubeconfig import token_for
from cluster.models import Cluster
from cluster.scheduler.annotations import decision_annotations
from cluster.scheduler.schedule_one import schedule_one
from web import feed, manifests, narration

POD = registry.by_kind("", "Pod")
NODE = registry.by_kind("", "Node")
CM = registry.by_kind("", "ConfigMap")
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(cluster: Any, owner: Any) -> Client:
    c = Client()
    c.force_login(owner)
    return c


@pytest.fixture
def intruder(cluster: Any, stranger: Any) -> Client:
    c = Client()
    c.force_login(stranger)
    return c


def _head(cluster: Any) -> int:
    return int(Cluster.objects.get(pk=cluster.pk).revision)


def test_dashboard_is_rendered_at_a_revision_for_the_socket_to_continue_from(browser: Client, cluster: Any) -> None:
    resp = browser.get("/clusters/lab/")
    assert resp.status_code == 200
    html = resp.content.decode()
    revision = _head(cluster)
    assert f'ws-connect="/ws/clusters/lab/?after={revision}"' in html
    snapshot = json.loads(
        re.search(r'<script id="glass-snapshot" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    assert snapshot["seq"] == revision
    assert sorted(o["metadata"]["name"] for o in snapshot["objects"] if o["kind"] == "Node") == [
        "control-plane", "worker-1", "worker-2", "worker-3",
    ]  # fmt: skip
    assert all("managedFields" not in o["metadata"] for o in snapshot["objects"])
    for name in ("Architecture", "Narration", "Inspector", "Scheduling decision", "Packet"):
        assert f'aria-label="{name}"' in html
    for label in ("Play", "Pause", "Step back", "Step forward", "Live", "Timeline"):
        assert f'aria-label="{label}"' in html
    for label in ("Manifest", "Command", "Source", "Destination"):
        assert re.search(rf">\s*{label}\b", html), label


def test_the_dashboard_is_only_for_its_owner(client: Client, intruder: Client, cluster: Any) -> None:
    assert client.get("/clusters/lab/").status_code == 302
    assert intruder.get("/clusters/lab/").status_code == 404
    assert intruder.get("/clusters/lab/inspect", {"kind": "Node", "name": "worker-1"}).status_code == 404
    assert intruder.post("/clusters/lab/apply", {"manifest": "x: 1"}).status_code == 404
    assert intruder.post("/clusters/lab/command", {"command": "get pods"}).status_code == 404
    assert intruder.get("/clusters/lab/feed").status_code == 404
    assert intruder.post("/clusters/lab/delete").status_code == 404
    assert Cluster.objects.filter(name="lab").exists()


def test_zh_hans_dashboard_and_narration(browser: Client, cluster: Any) -> None:
    html = browser.get("/clusters/lab/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert 'aria-label="架构"' in html and "解说" in html
    catalogue = json.loads(
        re.search(r'<script id="glass-narration" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    assert catalogue["apiserver.authn"].startswith("kube-apiserver 收到")


def test_narration_is_collected_from_every_cluster_module() -> None:
    keys = narration.templates()
    assert {"apiserver.authn", "etcd.create", "kcm.serviceaccount.created", "kube-proxy.synced"} <= set(keys)
    with translation.override("zh-hans"):
        zh = narration.catalogue()
    holes = re.compile(r"\{(\w+)\}")
    for key, english in keys.items():
        assert set(holes.findall(zh[key])) == set(holes.findall(english)), key
    assert narration.render("kcm.serviceaccount.created", {"namespace": "dev"}, "zh-hans") == (
        "ServiceAccount 控制器在命名空间 dev 中创建了 default ServiceAccount。"
    )


def test_the_feed_reads_a_bounded_stretch_of_the_glass_kinds(browser: Client, api: Any, cluster: Any) -> None:
    start = _head(cluster)
    api.create(CM, "default", {"metadata": {"name": "ignored"}})
    api.create(POD, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    page = json.loads(browser.get("/clusters/lab/feed", {"after": start}).content)
    kinds = [(e["type"], e.get("kind")) for e in page["entries"]]
    assert kinds.count(("TRACE", None)) == 10 and ("ADDED", "Pod") in kinds and ("ADDED", "ConfigMap") not in kinds
    assert page["next"] == page["head"] == _head(cluster)
    upto = json.loads(browser.get("/clusters/lab/feed", {"after": start, "upto": start + 5}).content)
    assert [e["seq"] for e in upto["entries"]] == list(range(start + 1, start + 6)) and upto["next"] == start + 5
    small = feed.read(cluster.pk, start, limit=3)
    assert [e["seq"] for e in small["entries"]] == list(range(start + 1, start + 4)) and small["next"] == start + 3


def test_apply_creates_and_reports_like_kubectl(browser: Client) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n"
    resp = browser.post("/clusters/lab/apply", {"manifest": manifest}, **HX)
    html = resp.content.decode()
    assert resp.status_code == 200 and "configmap/a created" in html and "namespace/team created" in html
    assert "configmap/a unchanged" in browser.post("/clusters/lab/apply", {"manifest": manifest}, **HX).content.decode()


BAD = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: -1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ""
"""


def test_a_bad_manifest_returns_the_status_with_its_fields_marked(browser: Client) -> None:
    resp = browser.post("/clusters/lab/apply", {"manifest": BAD}, **HX)
    html = resp.content.decode()
    assert "422 Invalid" in html and 'role="alert"' in html
    assert '<code class="field">spec.replicas</code>' in html
    assert '<code class="field">spec.template.spec.containers[0].image</code>' in html
    marked = re.findall(r'<mark class="field-error">(.*?)</mark>', html)
    assert marked == ["  replicas: -1", "        image: &quot;&quot;"]
    # Without htmx the same form is a full page with a 422.
    assert browser.post("/clusters/lab/apply", {"manifest": BAD}).status_code == 422


def test_yaml_errors_and_unknown_kinds(browser: Client) -> None:
    html = browser.post(
        "/clusters/lab/apply", {"manifest": "kind: ConfigMap\nmetadata:\n  name: [oops\n"}, **HX
    ).content.decode()
    assert "error converting YAML to JSON" in html and "field-error" in html
    html = browser.post(
        "/clusters/lab/apply", {"manifest": "apiVersion: v9\nkind: Gizmo\nmetadata: {name: g}\n"}, **HX
    ).content.decode()
    assert "no matches for kind &quot;Gizmo&quot;" in html
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    assert "aliases are not allowed" in browser.post("/clusters/lab/apply", {"manifest": bomb}, **HX).content.decode()


def test_field_lines() -> None:
    docs = manifests.parse(BAD)
    node = docs[0].node
    assert BAD.splitlines()[manifests.field_line(node, "spec.replicas")] == "  replicas: -1"
    assert BAD.splitlines()[manifests.field_line(node, "spec.template.spec.containers[0].image")] == '        image: ""'
    # A missing field points at the deepest part that is there.
    assert BAD.splitlines()[manifests.field_line(node, "spec.strategy.type")] == "spec:"


def test_command_and_quick_actions(browser: Client, api: Any) -> None:
    api.create(POD, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    html = browser.post("/clusters/lab/command", {"command": "kubectl get pods"}, **HX).content.decode()
    assert "$ kubectl get pods" in html and "NAME" in html and 'data-exit="0"' in html
    html = browser.post(
        "/clusters/lab/action", {"action": "cordon", "kind": "node", "name": "worker-1"}, **HX
    ).content.decode()
    assert "node/worker-1 cordoned" in html
    assert api.get(NODE, None, "worker-1")["spec"]["unschedulable"] is True
    html = browser.post(
        "/clusters/lab/action", {"action": "delete", "kind": "pod", "namespace": "default", "name": "p"}, **HX
    ).content.decode()
    assert "pod &quot;p&quot; deleted" in html
    assert browser.post("/clusters/lab/action", {"action": "exec", "kind": "pod", "name": "p"}).status_code == 404
    assert (
        browser.post("/clusters/lab/action", {"action": "delete", "kind": "pod", "name": "p; rm -rf /"}).status_code
        == 404
    )


def test_the_inspector_rewinds_with_the_timeline(browser: Client, api: Any, cluster: Any) -> None:
    before = _head(cluster)
    api.create(CM, "default", {"metadata": {"name": "c1"}, "data": {"v": "1"}})
    middle = _head(cluster)
    cm = api.get(CM, "default", "c1")
    cm["data"]["v"] = "2"
    api.update(CM, "default", "c1", cm)
    q = {"kind": "ConfigMap", "namespace": "default", "name": "c1"}
    assert "Not there at this point" in browser.get("/clusters/lab/inspect", {**q, "at": before}, **HX).content.decode()
    then = browser.get("/clusters/lab/inspect", {**q, "at": middle}, **HX).content.decode()
    assert "v: &#x27;1&#x27;" in then
    now = browser.get("/clusters/lab/inspect", q, **HX).content.decode()
    assert "v: &#x27;2&#x27;" in now and "managedFields" not in now
    api.delete(CM, "default", "c1")
    assert "Deleted at seq" in browser.get("/clusters/lab/inspect", {**q, "at": _head(cluster)}, **HX).content.decode()
    page = browser.get("/clusters/lab/inspect", {"kind": "Node", "name": "worker-1"})
    assert page.status_code == 200 and "<html" in page.content.decode() and "Cordon node" in page.content.decode()


def test_the_scheduling_decision_from_the_pods_annotations(browser: Client, api: Any) -> None:
    pod_body = {
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    nodes = api.list(NODE, None)["items"]
    decision = schedule_one(pod_body, nodes)
    assert decision.selected_node
    api.create(
        POD,
        "default",
        {**pod_body, "metadata": {**pod_body["metadata"], "annotations": decision_annotations(decision)}},
    )
    html = browser.get("/clusters/lab/decision", {"namespace": "default", "name": "web-1"}, **HX).content.decode()
    assert f'<strong class="winner-name">{decision.selected_node}</strong>' in html
    rows = re.findall(r"<tr class=\"([^\"]*)\"", html)
    assert len(rows) == 4 and sum("winner" in r for r in rows) == 1 and sum("filtered" in r for r in rows) == 1
    assert "TaintToleration</strong>: node(s) had untolerated taint" in html
    assert html.count('class="bar-row"') >= 3 * len(decision.score_plugins)
    assert "\u00d73=" in html  # TaintToleration's weight (a multiplication sign)
    inspector = browser.get(
        "/clusters/lab/inspect", {"kind": "Pod", "namespace": "default", "name": "web-1"}
    ).content.decode()
    assert 'aria-label="Scheduling decision"' in inspector
    none = browser.get("/clusters/lab/decision", {"namespace": "default", "name": "ghost"}, **HX).content.decode()
    assert "no scheduling decision recorded" in none


def test_create_and_delete_clusters_from_the_list(browser: Client, owner: Any) -> None:
    home = browser.get("/").content.decode()
    assert 'value="single-node"' in home and "Create cluster" in home
    resp = browser.post("/clusters/create", {"name": "tiny", "preset": "single-node"})
    assert resp.status_code == 302 and resp["Location"] == "/clusters/tiny/"
    tiny = Cluster.objects.get(name="tiny")
    assert tiny.owner == owner
    bad = browser.post("/clusters/create", {"name": "Not_A_Name", "preset": "demo"})
    assert bad.status_code == 400 and "lowercase letters" in bad.content.decode()
    assert browser.post("/clusters/create", {"name": "x", "preset": "nope"}).status_code == 400
    assert browser.post("/clusters/tiny/delete").status_code == 302
    assert not Cluster.objects.filter(name="tiny").exists()


def test_kubeconfig_for_a_real_kubectl(browser: Client, owner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEGLASS_TLS_PORT", "9443")
    resp = browser.get("/clusters/lab/kubeconfig", {"download": "1"})
    assert 'filename="kubeconfig-lab.yaml"' in resp["Content-Disposition"]
    doc = yaml.safe_load(resp.content)
    assert doc["clusters"][0]["cluster"]["server"] == "https://testserver:9443/k8s/lab"
    assert doc["users"][0]["user"]["token"] == token_for(owner)


def test_the_feed_answers_a_bearer_token_too(cluster: Any, owner: Any) -> None:
    c = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}")
    assert c.get("/clusters/lab/feed").status_code == 200
    assert Client().get("/clusters/lab/feed").status_code == 401

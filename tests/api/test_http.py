"""The HTTP facade: Status errors, limits, discovery and OpenAPI, as a client sees them."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.kubeconfig import token_for

CM_URL = "/k8s/lab/api/v1/namespaces/default/configmaps"


@pytest.fixture
def http(cluster, owner) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}")


def _status(resp) -> dict:
    body = json.loads(resp.content)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    return body


def test_health_at_root_and_under_cluster(client: Client, cluster) -> None:
    for path in ("/healthz", "/livez", "/readyz", "/k8s/lab/healthz", "/k8s/lab/readyz"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.content == b"ok"


def test_no_token_is_401_and_a_stranger_is_403(client: Client, cluster, stranger) -> None:
    assert _status(client.get(CM_URL))["code"] == 401
    other = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(stranger)}")
    body = _status(other.get(CM_URL))
    assert body["code"] == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps is forbidden: User "mallory" cannot list resource "configmaps" in API group "" in the namespace "default"'
    )
    assert _status(Client(HTTP_AUTHORIZATION="Bearer nope").get(CM_URL))["code"] == 401


def test_unknown_cluster_and_resource_are_404(http: Client) -> None:
    assert _status(http.get("/k8s/nope/api/v1/pods"))["code"] == 404
    assert _status(http.get("/k8s/lab/api/v1/widgets"))["code"] == 404
    assert _status(http.get("/k8s/lab/apis/apps/v1/namespaces/default/deployments/none"))["reason"] == "NotFound"


def test_discovery_documents(http: Client) -> None:
    groups = json.loads(http.get("/k8s/lab/apis").content)
    assert [g["name"] for g in groups["groups"]] == [
        "apps",
        "discovery.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "coordination.k8s.io",
    ]
    core = json.loads(http.get("/k8s/lab/api/v1").content)
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/binding", "pods/eviction", "pods/log", "pods/status", "nodes", "services"} <= names
    apps = json.loads(http.get("/k8s/lab/apis/apps/v1").content)
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert scale["group"] == "autoscaling" and scale["kind"] == "Scale"
    assert json.loads(http.get("/k8s/lab/version").content)["gitVersion"].startswith("v1.32.0")


def test_openapi_v3_index_points_under_the_cluster_prefix(http: Client) -> None:
    index = json.loads(http.get("/k8s/lab/openapi/v3").content)
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/k8s/lab/openapi/v3/apis/apps/v1?hash=")
    doc = json.loads(http.get(url).content)
    dep = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    patch_ops = [p["patch"] for p in doc["paths"].values() if "patch" in p]
    assert any(any(q["name"] == "fieldValidation" for q in op["parameters"]) for op in patch_ops)
    containers = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"


def test_table_output_for_kubectl_get(http: Client) -> None:
    resp = http.get(
        "/k8s/lab/api/v1/nodes", HTTP_ACCEPT="application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    )
    table = json.loads(resp.content)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Status", "Roles", "Age", "Version"]
    assert sorted(r["cells"][0] for r in table["rows"]) == ["control-plane", "worker-1", "worker-2", "worker-3"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_oversize_body_is_413_and_changes_nothing(http: Client, settings) -> None:
    settings.KUBEGLASS = {**settings.KUBEGLASS, "MAX_REQUEST_BYTES": 1024}
    big = json.dumps({"metadata": {"name": "big"}, "data": {"x": "y" * 4096}})
    body = _status(http.post(CM_URL, big, content_type="application/json"))
    assert body["code"] == 413 and body["reason"] == "RequestEntityTooLarge"
    assert _status(http.get(f"{CM_URL}/big"))["code"] == 404


def test_yaml_aliases_are_refused(http: Client) -> None:
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    body = _status(http.post(CM_URL, bomb, content_type="application/yaml"))
    assert body["code"] == 400 and "aliases are not allowed" in body["message"]


def test_deep_nesting_is_refused(http: Client) -> None:
    deep = '{"metadata":{"name":"deep"},"data":' + "[" * 5000 + "]" * 5000 + "}"
    assert _status(http.post(CM_URL, deep, content_type="application/json"))["code"] == 400


def test_yaml_manifest_is_accepted(http: Client) -> None:
    resp = http.post(CM_URL, "metadata:\n  name: from-yaml\ndata:\n  k: v\n", content_type="application/yaml")
    assert resp.status_code == 201
    assert json.loads(resp.content)["data"] == {"k": "v"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_garbage_never_gets_a_5xx(http: Client, body: bytes) -> None:
    """Whatever bytes arrive, the answer is a 4xx Status or a success, never a server error."""
    for ctype in ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf"):
        resp = http.post(CM_URL, body, content_type=ctype)
        assert resp.status_code < 500, resp.content


def test_json_patch_failure_is_a_status(http: Client) -> None:
    http.post(CM_URL, json.dumps({"metadata": {"name": "p"}, "data": {"a": "1"}}), content_type="application/json")
    resp = http.patch(
        f"{CM_URL}/p",
        json.dumps([{"op": "test", "path": "/data/a", "value": "2"}]),
        content_type="application/json-patch+json",
    )
    assert 400 <= resp.status_code < 500
    assert _status(resp)["status"] == "Failure"


def test_pod_log_and_previous_log(http: Client, api) -> None:
    """`kubectl logs` reads the current run; `kubectl logs -p` the run before it, or a 400 if none."""
    from cluster.api import registry

    pods = registry.by_kind("", "Pod")
    api.create(
        pods, "default", {"metadata": {"name": "crash"}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
    )
    url = "/k8s/lab/api/v1/namespaces/default/pods/crash/log"
    first = _status(http.get(url, {"previous": "true"}))
    assert first["code"] == 400
    assert first["message"] == 'previous terminated container "app" in pod "crash" not found'
    pod = api.get(pods, "default", "crash")
    pod["status"]["containerStatuses"] = [
        {
            "name": "app",
            "image": "docker.io/library/busybox:latest",
            "ready": False,
            "restartCount": 1,
            "state": {"running": {"startedAt": "2026-01-01T00:00:20Z"}},
            "lastState": {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": "2026-01-01T00:00:05Z",
                    "finishedAt": "2026-01-01T00:00:06Z",
                }
            },
        }
    ]
    api.update(pods, "default", "crash", pod, subresource="status")
    previous = http.get(url, {"previous": "true"}).content.decode().splitlines()
    assert previous == [
        "2026-01-01T00:00:05Z kubeglass: container app (docker.io/library/busybox:latest) started",
        "2026-01-01T00:00:06Z kubeglass: container app exited with code 1 (Error)",
    ]
    current = http.get(url).content.decode().splitlines()
    assert current[-1] == "2026-01-01T00:00:20Z kubeglass: container app (docker.io/library/busybox:latest) started"
    assert http.get(url, {"previous": "true", "tailLines": "1"}).content.decode().splitlines() == previous[1:]

"""The official kubernetes Python client against a live Kubeglass process."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_client(kubeglass_server: LiveServer) -> Iterator[client.ApiClient]:
    config = client.Configuration()
    config.host = f"{kubeglass_server.https_url}/k8s/{kubeglass_server.cluster}"
    config.api_key = {"authorization": kubeglass_server.token}
    config.api_key_prefix = {"authorization": "Bearer"}
    config.ssl_ca_cert = str(kubeglass_server.ca_file)
    with client.ApiClient(config) as c:
        yield c


@pytest.fixture
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> str:
    name = "py-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


def _deployment(name: str, replicas: int = 2) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    }


def test_list_nodes(api_client: client.ApiClient) -> None:
    """The typed client lists the four nodes with their capacity and addresses."""
    nodes = client.CoreV1Api(api_client).list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["control-plane", "worker-1", "worker-2", "worker-3"]
    worker = next(n for n in nodes if n.metadata.name == "worker-1")
    assert worker.status.capacity["cpu"] == "4"
    assert worker.spec.pod_cidr == "10.244.1.0/24"


def test_create_patch_delete(api_client: client.ApiClient, namespace: str) -> None:
    """Create, read back, patch and delete a Deployment."""
    apps = client.AppsV1Api(api_client)
    created = apps.create_namespaced_deployment(namespace, _deployment("web"))
    assert created.spec.strategy.type == "RollingUpdate"
    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4
    scaled = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 6}})
    assert scaled.spec.replicas == 6
    apps.delete_namespaced_deployment("web", namespace)
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("web", namespace)
    assert err.value.status == 404


def test_stale_resource_version_is_409(api_client: client.ApiClient, namespace: str) -> None:
    """Replacing with an outdated resourceVersion is refused with 409 Conflict."""
    core = client.CoreV1Api(api_client)
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("cfg", namespace, cm)
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cfg", namespace, cm)
    assert err.value.status == 409
    assert '"reason":"Conflict"' in err.value.body.replace(" ", "")
    assert core.read_namespaced_config_map("cfg", namespace).data == {"a": "2"}


def test_watch_from_resource_version(api_client: client.ApiClient, namespace: str) -> None:
    """A watch from a list's resourceVersion sees exactly the later events, in order."""
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def consume() -> None:
        w = watch.Watch()
        # The field selector keeps out the kube-root-ca.crt ConfigMap the controller publishes meanwhile.
        for event in w.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=rv,
            timeout_seconds=30,
            field_selector="metadata.name=during",
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()
        done.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "during"}})
    core.patch_namespaced_config_map("during", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("during", namespace)
    assert done.wait(30), f"watch did not finish; saw {seen}"
    assert seen == [("ADDED", "during"), ("MODIFIED", "during"), ("DELETED", "during")]

"""The network endpoints: per-node tables and packet walks, over HTTP, for the owner only."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from cluster.api import registry
from cluster.kubeconfig import token_for

POD = registry.by_kind("", "Pod")
SVC = registry.by_kind("", "Service")
SLICE = registry.by_kind("discovery.k8s.io", "EndpointSlice")


def _running_pod(api, name: str, node: str, ip: str) -> None:
    body = {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 8080}]}]},
    }
    api.create(POD, "default", body)
    api.bind("default", name, {"target": {"name": node}})
    pod = api.get(POD, "default", name)
    pod["status"].update({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.3"})
    api.update(POD, "default", name, pod, subresource="status")


@pytest.fixture
def web_cluster(api):
    """Two web pods on two workers behind Service web (the endpoints written by hand, as the controller would)."""
    _running_pod(api, "client", "worker-1", "10.244.1.5")
    _running_pod(api, "web-a", "worker-2", "10.244.2.7")
    svc = api.create(
        SVC,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ).object
    api.create(
        SLICE,
        "default",
        {
            "metadata": {"name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": ["10.244.2.7"],
                    "conditions": {"ready": True},
                    "nodeName": "worker-2",
                    "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-a"},
                }
            ],
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
        },
    )
    return svc


@pytest.fixture
def http(cluster, owner) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}")


def test_walk_pod_to_service_across_nodes(http: Client, web_cluster) -> None:
    """A pod-to-Service walk is DNAT'd on the source node and VXLAN-encapsulated between nodes."""
    resp = http.get("/clusters/lab/net/walk", {"src": "default/client", "dst": "svc/default/web:80"})
    assert resp.status_code == 200, resp.content
    result = json.loads(resp.content)
    assert result["verdict"] == "delivered"
    actions = [h["action"] for h in result["hops"]]
    assert "dnat" in actions and "encap" in actions and "decap" in actions
    assert actions.index("dnat") < actions.index("encap")
    dnat = next(h for h in result["hops"] if h["action"] == "dnat")
    assert dnat["node"] == "worker-1" and dnat["headers"]["ip"]["dst"] == "10.244.2.7"
    encap = next(h for h in result["hops"] if h["action"] == "encap")
    outer = encap["headers"]["outer"]
    assert outer["ip"]["src"] == "172.18.0.3" and outer["ip"]["dst"] == "172.18.0.4"
    assert outer["udp"]["dport"] == 8472
    assert any(h["action"] == "un-dnat" for h in result["reply"])


def test_node_tables_are_plain_text(http: Client, web_cluster) -> None:
    routes = http.get("/clusters/lab/nodes/worker-1/net/routes")
    assert routes.status_code == 200 and routes["Content-Type"].startswith("text/plain")
    assert "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink" in routes.content.decode()
    rules = http.get("/clusters/lab/nodes/worker-1/net/iptables").content.decode()
    assert "-A KUBE-SERVICES" in rules and "KUBE-SVC-" in rules and "KUBE-SEP-" in rules
    assert http.get("/clusters/lab/nodes/nowhere/net/routes").status_code == 404
    assert http.get("/clusters/lab/nodes/worker-1/net/bogus").status_code == 404


def test_bad_walk_input_is_a_400(http: Client, web_cluster) -> None:
    resp = http.get("/clusters/lab/net/walk", {"src": "default/nobody", "dst": "svc/default/web:80"})
    assert resp.status_code == 400 and json.loads(resp.content)["kind"] == "Status"
    assert http.get("/clusters/lab/net/walk").status_code == 400


def test_network_endpoints_need_the_owner(client: Client, stranger, web_cluster) -> None:
    assert client.get("/clusters/lab/net/walk", {"src": "default/client", "dst": "10.244.2.7:8080"}).status_code == 401
    other = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(stranger)}")
    assert other.get("/clusters/lab/nodes/worker-1/net/routes").status_code == 404

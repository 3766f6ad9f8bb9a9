"""NetworkPolicy semantics, evaluated directly (calico enforces exactly these)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cluster.network.index import ClusterIndex, index
from cluster.network.netpol import Peer, evaluate, policy_types, selector_matches
from tests.network.factories import kind_cluster, namespace, netpol


def _idx(*policies: dict[str, Any], namespaces: Sequence[dict[str, Any]] = ()) -> ClusterIndex:
    return index(kind_cluster("calico-bgp", policies=list(policies), namespaces=list(namespaces)))


def test_policy_types_default_as_upstream() -> None:
    assert policy_types(netpol("d", "p", ingress=[])) == {"Ingress"}
    assert policy_types(netpol("d", "p", egress=[])) == {"Ingress", "Egress"}
    assert policy_types(netpol("d", "p", egress=[], policy_types=["Egress"])) == {"Egress"}


def test_selectors() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({}, labels)
    assert selector_matches({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchLabels": {"app": "db"}}, labels)


def test_unselected_pods_are_not_isolated() -> None:
    idx = _idx()
    d = evaluate(idx, idx.pods["default/db"], "ingress", Peer("10.244.1.2", idx.pods["default/client"]), "tcp", 5432)
    assert d.allowed and not d.isolated


def test_namespace_selector_and_pod_selector_are_anded() -> None:
    pol = netpol("default", "from-monitoring", {"matchLabels": {"app": "db"}}, ingress=[{"from": [{
        "namespaceSelector": {"matchLabels": {"team": "ops"}}, "podSelector": {"matchLabels": {"app": "client"}}}]}])  # fmt: skip
    idx = _idx(pol, namespaces=[namespace("default", {"team": "ops"})])
    db, client, web = idx.pods["default/db"], idx.pods["default/client"], idx.pods["default/web-1"]
    assert evaluate(idx, db, "ingress", Peer(str(client.ip), client), "tcp", 5432).allowed
    assert not evaluate(idx, db, "ingress", Peer(str(web.ip), web), "tcp", 5432).allowed
    idx2 = _idx(pol)  # default namespace without the label
    assert not evaluate(idx2, idx2.pods["default/db"], "ingress", Peer(str(client.ip), client), "tcp", 5432).allowed


def test_kubernetes_metadata_name_label_selects_a_namespace() -> None:
    pol = netpol("default", "from-kube-system", {}, ingress=[{"from": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]}])  # fmt: skip
    idx = _idx(pol)
    dns = idx.pods["kube-system/coredns-0"]
    assert evaluate(idx, idx.pods["default/db"], "ingress", Peer(str(dns.ip), dns), "tcp", 5432).allowed


def test_ip_block_with_except_and_port_ranges() -> None:
    pol = netpol("default", "egress-range", {"matchLabels": {"app": "client"}}, egress=[{
        "to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}],
        "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}])  # fmt: skip
    idx = _idx(pol)
    client = idx.pods["default/client"]
    assert evaluate(idx, client, "egress", Peer("10.244.1.3"), "tcp", 8080).allowed
    assert not evaluate(idx, client, "egress", Peer("10.244.2.2"), "tcp", 8080).allowed  # excepted
    assert not evaluate(idx, client, "egress", Peer("10.244.1.3"), "tcp", 9000).allowed  # outside the range
    assert not evaluate(idx, client, "egress", Peer("10.244.1.3"), "udp", 8080).allowed  # protocol


def test_named_ports_resolve_against_the_destination_pod() -> None:
    pol = netpol("default", "db-port", {"matchLabels": {"app": "db"}}, ingress=[{"ports": [{"port": "postgres"}]}])
    idx = _idx(pol)
    db = idx.pods["default/db"]
    assert evaluate(idx, db, "ingress", Peer("10.244.1.2"), "tcp", 5432).allowed
    assert not evaluate(idx, db, "ingress", Peer("10.244.1.2"), "tcp", 5433).allowed


def test_traffic_from_the_pods_own_node_is_allowed_even_when_isolated() -> None:
    idx = _idx(netpol("default", "deny", {}, policy_types=["Ingress"]))
    db = idx.pods["default/db"]
    assert evaluate(idx, db, "ingress", Peer("172.18.0.4", node="kind-worker2"), "tcp", 5432).allowed
    remote = evaluate(idx, db, "ingress", Peer("172.18.0.3", node="kind-worker"), "tcp", 5432)
    assert not remote.allowed and remote.policies == ["default/deny"]

"""Small Kubernetes-object factories and a kind-like reference cluster for the network tests.

Every snapshot gets a fresh revision, so the per-revision cache never mixes two
test clusters up.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from cluster.network.snapshot import Snapshot

_revisions = itertools.count(1_000_000)


def node(name: str, index: int, *, ip: str | None = None, pod_cidr: str | None = None, vtep_mac: str | None = None,
         labels: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """A kind node: ``172.18.0.<index+2>``, podCIDR ``10.244.<index>.0/24``."""
    meta: dict[str, Any] = {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}}
    if vtep_mac:
        meta["annotations"] = {"flannel.alpha.coreos.com/backend-data": json.dumps({"VNI": 1, "VtepMAC": vtep_mac})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "spec": {"podCIDR": pod_cidr or f"10.244.{index}.0/24"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip or f"172.18.0.{index + 2}"},
                {"type": "Hostname", "address": name},
            ]
        },
    }


def pod(namespace: str, name: str, node_name: str, ip: str | None, *, labels: dict[str, str] | None = None,
        ports: Sequence[tuple[str, int] | tuple[str, int, str]] = (), containers: Sequence[str] | None = None,
        host_network: bool = False) -> dict[str, Any]:  # fmt: skip
    """A pod; ``ports`` go on the first container, as ``(name, port[, protocol])``."""
    names = list(containers or ["app"])
    specs: list[dict[str, Any]] = [{"name": n, "image": "registry.k8s.io/pause:3.9"} for n in names]
    specs[0]["ports"] = [
        {"name": p[0], "containerPort": p[1], "protocol": p[2] if len(p) > 2 else "TCP"}  # type: ignore[misc]
        for p in ports
    ]
    status: dict[str, Any] = {"phase": "Running" if ip else "Pending"}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": dict(labels or {}),
            "uid": f"uid-{namespace}-{name}",
        },
        "spec": {"nodeName": node_name, "containers": specs, "hostNetwork": host_network},
        "status": status,
    }


def service(namespace: str, name: str, cluster_ip: str, ports: Sequence[dict[str, Any]], *,
            selector: dict[str, str] | None = None, type: str = "ClusterIP", etp: str | None = None,
            itp: str | None = None, lb_ips: Sequence[str] = (), external_ips: Sequence[str] = (),
            affinity: bool = False) -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {
        "type": type,
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "ports": [{"protocol": "TCP", **p} for p in ports],
        "selector": dict(selector or {}),
        "sessionAffinity": "ClientIP" if affinity else "None",
    }
    if etp:
        spec["externalTrafficPolicy"] = etp
    if itp:
        spec["internalTrafficPolicy"] = itp
    if external_ips:
        spec["externalIPs"] = list(external_ips)
    status: dict[str, Any] = {"loadBalancer": {"ingress": [{"ip": i} for i in lb_ips]}} if lb_ips else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
        "status": status,
    }


def endpointslice(namespace: str, service_name: str, endpoints: Iterable[tuple[str, str | None, str | None]],
                  ports: Iterable[tuple[str, int, str]], *, ready: bool = True, suffix: str = "abcde") -> dict[str, Any]:  # fmt: skip
    """``endpoints`` are ``(ip, nodeName, podName)``; ``ports`` are ``(name, port, protocol)``."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": namespace,
            "name": f"{service_name}-{suffix}",
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": ready, "serving": ready, "terminating": False},
                **({"nodeName": node_name} if node_name else {}),
                **({"targetRef": {"kind": "Pod", "namespace": namespace, "name": pod_name}} if pod_name else {}),
            }
            for ip, node_name, pod_name in endpoints
        ],
        "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports],
    }


def slice_for(svc: dict[str, Any], pods: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What the EndpointSlice controller would write: selected, running pods; target ports resolved."""
    meta, spec = svc["metadata"], svc["spec"]
    selector = spec.get("selector") or {}
    chosen = [
        p
        for p in pods
        if p["metadata"]["namespace"] == meta["namespace"]
        and selector
        and all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
        and p["status"].get("podIP")
    ]
    ports = []
    for sp in spec["ports"]:
        target = sp.get("targetPort", sp["port"])
        if isinstance(target, str):
            named = [
                cp for p in chosen for c in p["spec"]["containers"] for cp in c.get("ports", []) if cp["name"] == target
            ]
            target = named[0]["containerPort"] if named else sp["port"]
        ports.append((sp.get("name", ""), target, sp.get("protocol", "TCP")))
    return endpointslice(
        meta["namespace"],
        meta["name"],
        [(p["status"]["podIP"], p["spec"]["nodeName"], p["metadata"]["name"]) for p in chosen],
        ports,
    )


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def netpol(namespace_name: str, name: str, pod_selector: dict[str, Any] | None = None, *,
           ingress: list[dict[str, Any]] | None = None, egress: list[dict[str, Any]] | None = None,
           policy_types: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {"podSelector": pod_selector or {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if policy_types is not None:
        spec["policyTypes"] = policy_types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"namespace": namespace_name, "name": name},
        "spec": spec,
    }


def snapshot(cni: str, nodes: Sequence[dict[str, Any]], pods: Sequence[dict[str, Any]] = (),
             services: Sequence[dict[str, Any]] = (), slices: Sequence[dict[str, Any]] | None = None,
             policies: Sequence[dict[str, Any]] = (), namespaces: Sequence[dict[str, Any]] = (),
             seed: int = 7, cluster: str = "test") -> Snapshot:  # fmt: skip
    """A snapshot with a fresh revision; EndpointSlices default to what the controller would write."""
    if slices is None:
        slices = [slice_for(s, pods) for s in services if s["spec"].get("selector")]
    ns_names = {p["metadata"]["namespace"] for p in pods} | {"default", "kube-system"}
    given = {n["metadata"]["name"] for n in namespaces}
    all_ns = [*namespaces, *(namespace(n) for n in sorted(ns_names - given))]
    return Snapshot.build(
        cluster=cluster,
        revision=next(_revisions),
        seed=seed,
        cni=cni,
        nodes=nodes,
        pods=pods,
        services=services,
        endpointslices=slices,
        networkpolicies=policies,
        namespaces=all_ns,
    )


CONTROL, WORKER, WORKER2 = "kind-control-plane", "kind-worker", "kind-worker2"
VTEP_MACS = {CONTROL: "06:a1:00:00:00:02", WORKER: "06:a1:00:00:00:03", WORKER2: "06:a1:00:00:00:04"}
"""flannel.1 MACs as flanneld publishes them in ``flannel.alpha.coreos.com/backend-data``."""


def kind_objects() -> dict[str, list[dict[str, Any]]]:
    """The reference cluster most tests walk (addresses are worked out by hand in the tests).

    ================  ==============  ==============  ============
    node              InternalIP      podCIDR         pods
    ================  ==============  ==============  ============
    kind-control-plane 172.18.0.2     10.244.0.0/24   coredns 10.244.0.2
    kind-worker       172.18.0.3      10.244.1.0/24   client 10.244.1.2, web-1 10.244.1.3
    kind-worker2      172.18.0.4      10.244.2.0/24   web-2 10.244.2.2, db 10.244.2.3
    ================  ==============  ==============  ============
    """
    nodes = [node(name, i, vtep_mac=VTEP_MACS[name]) for i, name in enumerate((CONTROL, WORKER, WORKER2))]
    web_ports = [("http", 8080)]
    pods = [
        pod("kube-system", "coredns-0", CONTROL, "10.244.0.2", labels={"k8s-app": "kube-dns"},
            ports=[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]),
        pod("default", "client", WORKER, "10.244.1.2", labels={"app": "client"}, containers=["app", "sidecar"]),
        pod("default", "web-1", WORKER, "10.244.1.3", labels={"app": "web"}, ports=web_ports),
        pod("default", "web-2", WORKER2, "10.244.2.2", labels={"app": "web"}, ports=web_ports),
        pod("default", "db", WORKER2, "10.244.2.3", labels={"app": "db"}, ports=[("postgres", 5432)]),
    ]  # fmt: skip
    pods[1]["spec"]["containers"][1]["ports"] = [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    http = {"name": "http", "port": 80, "targetPort": "http"}
    services = [
        service("kube-system", "kube-dns", "10.96.0.10", [
            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
            {"name": "metrics", "port": 9153, "targetPort": 9153},
        ], selector={"k8s-app": "kube-dns"}),
        service("default", "web", "10.96.100.10", [{**http, "nodePort": 30080}], selector={"app": "web"},
                type="NodePort"),
        service("default", "web-local", "10.96.100.11", [{**http, "nodePort": 30081}], selector={"app": "web"},
                type="NodePort", etp="Local"),
        service("default", "empty", "10.96.100.12", [{"name": "http", "port": 80, "targetPort": 8080}],
                selector={"app": "nothing"}),
        service("default", "db", "10.96.100.13", [{"name": "postgres", "port": 5432, "targetPort": 5432}],
                selector={"app": "db"}),
        service("default", "web-lb", "10.96.100.14", [{**http, "nodePort": 30082}], selector={"app": "web"},
                type="LoadBalancer", lb_ips=["172.18.255.200"]),
    ]  # fmt: skip
    return {"nodes": nodes, "pods": pods, "services": services}


def kind_cluster(cni: str = "flannel-vxlan", *, policies: Sequence[dict[str, Any]] = (), seed: int = 7,
                 namespaces: Sequence[dict[str, Any]] = ()) -> Snapshot:  # fmt: skip
    objs = kind_objects()
    return snapshot(cni, objs["nodes"], objs["pods"], objs["services"], policies=policies, seed=seed,
                    namespaces=namespaces)  # fmt: skip

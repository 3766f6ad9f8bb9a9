"""Creating a cluster: what ``kubeadm init`` and ``kubeadm join`` leave behind.

Namespaces, the Node objects kubelets register, and the Services every kubeadm
cluster has. Everything goes through the API server, like any other write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options
from cluster.models import CNI, Cluster

KUBELET_VERSION = "v1.32.0"
RUNTIME_VERSION = "containerd://1.7.24"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
CONTROL_PLANE_IMAGES = (
    ("registry.k8s.io/etcd:3.5.16-0", 57_680_541),
    ("registry.k8s.io/kube-apiserver:v1.32.0", 28_671_624),
    ("registry.k8s.io/kube-controller-manager:v1.32.0", 26_258_470),
    ("registry.k8s.io/kube-scheduler:v1.32.0", 20_658_969),
)
NODE_IMAGES = (
    ("registry.k8s.io/kube-proxy:v1.32.0", 30_907_858),
    ("registry.k8s.io/coredns/coredns:v1.11.3", 18_562_039),
    ("docker.io/flannel/flannel:v0.26.1", 32_370_201),
    (PAUSE_IMAGE, 320_368),
)


@dataclass(frozen=True)
class Topology:
    cni: str = CNI.FLANNEL_VXLAN
    control_planes: int = 1
    workers: int = 3
    seed: int = 0
    managed_control_plane: bool = False
    untaint_control_plane: bool = False
    # The add-ons a kubeadm cluster runs (kube-proxy, the CNI agent, CoreDNS, a default StorageClass).
    system_workloads: bool = True
    cpu: str = "4"
    memory: str = "8Gi"
    pods: str = "110"
    # Simulated work durations (image pulls, container start); off makes them instant.
    sim_delays: bool = True


class BootstrapError(ValueError):
    pass


def presets_dir() -> Path:
    return Path(settings.BASE_DIR) / "fixtures" / "presets"


def load_preset(name_or_path: str) -> tuple[Topology, dict[str, str]]:
    """A topology preset from fixtures/presets (by name) or a path; returns it and its titles."""
    path = Path(name_or_path)
    if not path.suffix:
        path = presets_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BootstrapError(f"no such preset: {name_or_path}")
    data = yaml.safe_load(path.read_text()) or {}
    topo = Topology(
        cni=data.get("cni", CNI.FLANNEL_VXLAN),
        control_planes=int(data.get("controlPlanes", 1)),
        workers=int(data.get("workers", 3)),
        seed=int(data.get("seed", 0)),
        managed_control_plane=bool(data.get("managedControlPlane", False)),
        untaint_control_plane=bool(data.get("untaintControlPlane", False)),
        system_workloads=bool(data.get("systemWorkloads", True)),
        sim_delays=bool(data.get("simDelays", True)),
    )
    return topo, dict(data.get("title") or {})


def list_presets() -> list[tuple[str, dict[str, str]]]:
    out = []
    for path in sorted(presets_dir().glob("*.yaml")):
        _, titles = load_preset(str(path))
        out.append((path.stem, titles))
    return out


def node_ip(cluster: Cluster, index: int) -> str:
    """Underlay addresses from the node network, starting at .2 as a kind/docker network does."""
    net = ipaddress.ip_network(cluster.node_cidr)
    return str(net.network_address + 2 + index)


def pod_cidr(cluster: Cluster, index: int) -> str:
    """Node IPAM: the index-th /24 of the cluster CIDR, as the nodeipam controller hands them out."""
    net = ipaddress.ip_network(cluster.pod_cidr)
    if index >= 2 ** (24 - net.prefixlen):
        raise BootstrapError(f"the pod CIDR {cluster.pod_cidr} has no /24 left for node {index}")
    return f"{net.network_address + index * 256}/24"


def node_object(
    cluster: Cluster,
    name: str,
    index: int,
    control_plane: bool,
    topo: Topology,
    now: str,
) -> dict[str, Any]:
    ip = node_ip(cluster, index)
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    taints: list[dict[str, Any]] = []
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        if not topo.untaint_control_plane:
            taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    images = list(NODE_IMAGES) + (list(CONTROL_PLANE_IMAGES) if control_plane else [])
    capacity = {
        "cpu": topo.cpu,
        "memory": topo.memory,
        "pods": topo.pods,
        "ephemeral-storage": "100Gi",
        "hugepages-2Mi": "0",
    }
    allocatable = dict(capacity)
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    spec: dict[str, Any] = {"podCIDR": pod_cidr(cluster, index), "podCIDRs": [pod_cidr(cluster, index)]}
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for t, s, r, m in conditions
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _hex_id(cluster.seed, name, "machine"),
                "systemUUID": _hex_id(cluster.seed, name, "system"),
                "bootID": _hex_id(cluster.seed, name, "boot"),
                "kernelVersion": "6.1.0-28-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": RUNTIME_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [{"names": [img], "sizeBytes": size} for img, size in images],
        },
    }


def _hex_id(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:32]


def node_names(topo: Topology) -> list[tuple[str, bool]]:
    """(name, is_control_plane) in join order."""
    names: list[tuple[str, bool]] = []
    if not topo.managed_control_plane:
        if topo.control_planes == 1:
            names.append(("control-plane", True))
        else:
            names += [(f"control-plane-{i + 1}", True) for i in range(topo.control_planes)]
    names += [(f"worker-{i + 1}", False) for i in range(topo.workers)]
    return names


def _system_objects(cluster: Cluster) -> list[tuple[str, str, dict[str, Any]]]:
    """(group, kind, body) a kubeadm cluster has before anyone applies anything."""
    service_net = ipaddress.ip_network(cluster.service_cidr)
    dns_ip = str(service_net.network_address + 10)
    objs: list[tuple[str, str, dict[str, Any]]] = []
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        objs.append(("", "Namespace", {"metadata": {"name": ns}}))
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        objs.append(("", "ServiceAccount", {"metadata": {"name": "default", "namespace": ns}}))
    objs.append(
        (
            "",
            "Service",
            {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": str(service_net.network_address + 1),
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                },
            },
        )
    )
    objs.append(
        (
            "",
            "Service",
            {
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {
                        "k8s-app": "kube-dns",
                        "kubernetes.io/cluster-service": "true",
                        "kubernetes.io/name": "CoreDNS",
                    },
                    "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
                },
                "spec": {
                    "clusterIP": dns_ip,
                    "selector": {"k8s-app": "kube-dns"},
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                        {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                    ],
                },
            },
        )
    )
    return objs


def system_manifests(cluster: Cluster) -> list[dict[str, Any]]:
    """The add-on manifests from fixtures/system, filled in for this cluster's CIDR and CNI."""
    root = Path(settings.BASE_DIR) / "fixtures" / "system"
    files = ["storage.yaml", "scheduler-config.yaml", "kube-proxy.yaml", "coredns.yaml"]
    files.insert(3, "calico.yaml" if cluster.cni.startswith("calico") else "flannel.yaml")
    values = {
        "podCIDR": cluster.pod_cidr,
        "flannelBackend": "host-gw" if cluster.cni == CNI.FLANNEL_HOST_GW else "vxlan",
        "calicoIPIP": "Always" if cluster.cni == CNI.CALICO_IPIP else "Never",
    }
    docs: list[dict[str, Any]] = []
    for name in files:
        text = (root / name).read_text()
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def create_cluster(
    name: str,
    owner: AbstractBaseUser,
    topo: Topology,
    pod_cidr_: str = "10.244.0.0/16",
    service_cidr: str = "10.96.0.0/12",
    sim_epoch: dt.datetime | None = None,
) -> Cluster:
    """A new cluster with its nodes registered and its system objects in place."""
    if topo.cni not in CNI.values:
        raise BootstrapError(f"unknown CNI {topo.cni!r}; choose one of {', '.join(CNI.values)}")
    if not 0 <= topo.workers <= 5000 or not 0 <= topo.control_planes <= 7:
        raise BootstrapError("a cluster has 0-5000 workers and 0-7 control-plane nodes")
    if Cluster.objects.filter(name=name).exists():
        raise BootstrapError(f'cluster "{name}" already exists')
    with transaction.atomic():
        cluster = Cluster.objects.create(
            name=name,
            owner=owner,
            cni=topo.cni,
            seed=topo.seed,
            pod_cidr=pod_cidr_,
            service_cidr=service_cidr,
            managed_control_plane=topo.managed_control_plane,
            sim_delays=topo.sim_delays,
            # Sim time starts at the wall time of creation, unless a replay pins it.
            sim_epoch=sim_epoch or dt.datetime.now(dt.UTC).replace(microsecond=0),
            clock_anchor=time.time(),
        )
        api = ApiServer(cluster)
        opts = Options(component="kubeadm", trace=False)
        for group, kind, body in _system_objects(cluster):
            resource = registry.by_kind(group, kind)
            assert resource is not None
            api.create(resource, body["metadata"].get("namespace"), body, opts)
        if topo.system_workloads:
            for doc in system_manifests(cluster):
                resource = registry.by_api_version(doc["apiVersion"], doc["kind"])
                assert resource is not None, doc["kind"]
                api.create(resource, doc["metadata"].get("namespace"), doc, opts)
        nodes = registry.by_kind("", "Node")
        assert nodes is not None
        now = api.now()
        for index, (node_name, cp) in enumerate(node_names(topo)):
            api.create(nodes, None, node_object(cluster, node_name, index, cp, topo, now), opts)
    return cluster

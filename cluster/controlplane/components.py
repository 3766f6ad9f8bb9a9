"""Which control loops make up each component, by its Channels channel name.

A cluster-wide component maps to controller classes; a node agent (kubelet, kube-proxy)
maps to classes built once per Node, as a real node runs one of each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

COMPONENTS = (
    "kube-controller-manager",
    "kube-scheduler",
    "cloud-controller-manager",
    "kubelet",
    "kube-proxy",
    "coredns",
)
NODE_AGENTS = ("kubelet", "kube-proxy")

# name -> zero-argument loader returning controller classes (imported late so components stay optional).
_CLUSTER: dict[str, Callable[[], list[type[Any]]]] = {}
_NODE: dict[str, Callable[[], list[type[Any]]]] = {}


def register(name: str, loader: Callable[[], list[type[Any]]], per_node: bool = False) -> None:
    (_NODE if per_node else _CLUSTER)[name] = loader


def cluster_controllers(name: str) -> list[type[Any]]:
    loader = _CLUSTER.get(name)
    return loader() if loader else []


def node_controllers(name: str) -> list[type[Any]]:
    loader = _NODE.get(name)
    return loader() if loader else []


def _load_builtin() -> None:
    """Import the modules that register themselves; a module not written yet is simply absent."""
    import importlib

    for module in (
        "cluster.controlplane.controllers",
        "cluster.controlplane.scheduler",
        "cluster.controlplane.kubelet",
        "cluster.controlplane.kube_proxy",
        "cluster.controlplane.coredns",
        "cluster.controlplane.cloud",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


_load_builtin()

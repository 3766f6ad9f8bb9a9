"""Builders for plain Kubernetes dicts, in the spirit of upstream's ``st.MakePod()`` /
``st.MakeNode()`` test wrappers, and a runner that drives one plugin like upstream's
plugin tests do (PreScore, Score for every node, NormalizeScore)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from cluster.scheduler.cache import Cache
from cluster.scheduler.framework import CycleState, Handle, Plugin, Workloads
from cluster.scheduler.nodeinfo import PodInfo

_uid = itertools.count(1)


def make_node(
    name: str,
    capacity: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, str]] | None = None,
    images: Sequence[tuple[Sequence[str], int]] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    """A node; ``capacity`` is used as both capacity and allocatable (like ``st.MakeNode().Capacity``)."""
    status: dict[str, Any] = {}
    if capacity is not None:
        status = {"capacity": dict(capacity), "allocatable": dict(capacity)}
    if images:
        status["images"] = [{"names": list(names), "sizeBytes": size} for names, size in images]
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": spec,
        "status": status,
    }


def make_pod(
    name: str = "",
    namespace: str = "",
    node: str = "",
    requests: Sequence[Mapping[str, str]] = (),
    labels: Mapping[str, str] | None = None,
    affinity: Mapping[str, Any] | None = None,
    tolerations: Sequence[Mapping[str, str]] | None = None,
    spread: Sequence[Mapping[str, Any]] | None = None,
    priority: int | None = None,
    images: Sequence[str] = (),
    init_images: Sequence[str] = (),
    host_ports: Sequence[int] = (),
    node_selector: Mapping[str, str] | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    """A pod; every ``requests`` entry becomes one container (``st.MakePod().Req``)."""
    uid = f"uid-{next(_uid)}"
    containers: list[dict[str, Any]] = [
        {"name": f"c{i}", "resources": {"requests": dict(r)}} for i, r in enumerate(requests)
    ]
    containers += [{"name": f"img{i}", "image": img} for i, img in enumerate(images)]
    if host_ports:
        if not containers:
            containers.append({"name": "ports"})
        containers[0]["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    spec: dict[str, Any] = {"containers": containers}
    if init_images:
        spec["initContainers"] = [{"name": f"init{i}", "image": img} for i, img in enumerate(init_images)]
    if node:
        spec["nodeName"] = node
    if affinity is not None:
        spec["affinity"] = affinity
    if tolerations is not None:
        spec["tolerations"] = [dict(t) for t in tolerations]
    if spread is not None:
        spec["topologySpreadConstraints"] = [dict(c) for c in spread]
    if priority is not None:
        spec["priority"] = priority
    if node_selector is not None:
        spec["nodeSelector"] = dict(node_selector)
    spec.update(spec_extra)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name or uid, "namespace": namespace, "uid": uid, "labels": dict(labels or {})},
        "spec": spec,
    }


def plugin_with_cache(
    cls: type[Plugin],
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]] = (),
    args: Mapping[str, Any] | None = None,
    namespaces: Sequence[Mapping[str, Any]] = (),
    workloads: Workloads | None = None,
) -> Plugin:
    """A plugin instance over a cache snapshot of these nodes and pods."""
    cache = Cache.build(nodes, pods, namespaces)
    return cls(args, Handle(cache, workloads=workloads))


def run_score(
    plugin: Plugin,
    pod: Mapping[str, Any],
    node_names: Sequence[str] | None = None,
    *,
    pre_score: bool = True,
    normalize: bool = True,
) -> list[int]:
    """PreScore over the candidate nodes, Score each, then NormalizeScore if the plugin has it."""
    pi = PodInfo(pod)
    cache = plugin.handle.cache
    nodes = [cache.get(n) for n in node_names] if node_names is not None else cache.node_infos()
    state = CycleState()
    if pre_score:
        st = plugin.pre_score(state, pi, nodes)
        assert st is None or st.is_success, st
    scores = [plugin.score(state, pi, n) for n in nodes]
    batch = plugin.score_nodes(state, pi, nodes)
    assert batch == scores, (batch, scores)
    if normalize and plugin.has_normalize:
        plugin.normalize_score(state, pi, nodes, scores)
    return scores


def run_filter(plugin: Plugin, pod: Mapping[str, Any], node_name: str) -> Any:
    """PreFilter then Filter on one node; returns the PreFilter status if it rejected or skipped."""
    pi = PodInfo(pod)
    state = CycleState()
    _res, st = plugin.pre_filter(state, pi)
    if st is not None and not st.is_success:
        return st
    node = plugin.handle.cache.get(node_name)
    single = plugin.filter(state, pi, node)
    batch = plugin.filter_nodes(state, pi, [node]).get(0)
    assert single == batch, (single, batch)
    return single

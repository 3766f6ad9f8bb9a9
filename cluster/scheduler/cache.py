"""The scheduler cache: NodeInfos kept up to date incrementally, in node-tree order.

Upstream lists nodes zone by zone, round-robin (``nodeTree.list``), so a scheduling cycle
that evaluates only part of the cluster still samples every zone; we keep that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .nodeinfo import ImageStateSummary, NodeInfo, PodInfo, parse_time, zone_key


class CacheError(KeyError):
    """An update refers to an object the cache does not know."""


class Cache:
    """Nodes, the pods bound or assumed onto them, image states and namespace labels."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._zones: dict[str, list[str]] = {}
        self._node_zone: dict[str, str] = {}
        self._list: list[NodeInfo] | None = None
        self._pod_node: dict[str, str] = {}
        self._infos: dict[str, PodInfo] = {}
        self._pending: dict[str, dict[str, PodInfo]] = {}
        self._assumed: set[str] = set()
        self.image_states: dict[str, ImageStateSummary] = {}
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self._with_affinity: dict[str, int] = {}
        self._with_anti_affinity: dict[str, int] = {}

    # ----- nodes -------------------------------------------------------------------------

    def add_node(self, node: Mapping[str, Any]) -> NodeInfo:
        """Add or update a node."""
        name = (node.get("metadata") or {}).get("name", "")
        ni = self._nodes.get(name)
        if ni is not None:
            self.update_node(node)
            return ni
        ni = NodeInfo(node)
        self._nodes[name] = ni
        self._add_images(ni)
        self._tree_add(name, zone_key(ni.labels))
        for pi in self._pending.pop(name, {}).values():
            self._attach(ni, pi)
        return ni

    def update_node(self, node: Mapping[str, Any]) -> None:
        """Replace a node's object (labels, taints, allocatable, images)."""
        name = (node.get("metadata") or {}).get("name", "")
        ni = self._nodes.get(name)
        if ni is None:
            self.add_node(node)
            return
        self._remove_images(ni)
        ni.set_node(node)
        self._add_images(ni)
        new_zone = zone_key(ni.labels)
        if new_zone != self._node_zone.get(name):
            self._tree_remove(name)
            self._tree_add(name, new_zone)

    def remove_node(self, name: str) -> None:
        """Drop a node; its pods are kept aside in case it comes back."""
        ni = self._nodes.pop(name, None)
        if ni is None:
            return
        self._remove_images(ni)
        self._tree_remove(name)
        self._with_affinity.pop(name, None)
        self._with_anti_affinity.pop(name, None)
        if ni.pods:
            self._pending[name] = {p.key: p for p in ni.pods}

    def _tree_add(self, name: str, zone: str) -> None:
        self._zones.setdefault(zone, []).append(name)
        self._node_zone[name] = zone
        self._list = None

    def _tree_remove(self, name: str) -> None:
        zone = self._node_zone.pop(name, None)
        if zone is None:
            return
        names = self._zones.get(zone, [])
        if name in names:
            names.remove(name)
        if not names:
            self._zones.pop(zone, None)
        self._list = None

    def _add_images(self, ni: NodeInfo) -> None:
        states: dict[str, ImageStateSummary] = {}
        for image in (ni.node.get("status") or {}).get("images") or ():
            for image_name in image.get("names") or ():
                state = self.image_states.get(image_name)
                if state is None:
                    state = ImageStateSummary(int(image.get("sizeBytes", 0) or 0))
                    self.image_states[image_name] = state
                state.nodes.add(ni.name)
                states.setdefault(image_name, state)
        ni.image_states = states

    def _remove_images(self, ni: NodeInfo) -> None:
        for image_name, state in ni.image_states.items():
            state.nodes.discard(ni.name)
            if not state.nodes:
                self.image_states.pop(image_name, None)
        ni.image_states = {}

    def node_infos(self) -> list[NodeInfo]:
        """All nodes in node-tree order (zones interleaved, insertion order within a zone)."""
        if self._list is None:
            zones = list(self._zones.values())
            out: list[NodeInfo] = []
            total = sum(len(z) for z in zones)
            index = 0
            while len(out) < total:
                for names in zones:
                    if index < len(names):
                        out.append(self._nodes[names[index]])
                index += 1
            self._list = out
        return self._list

    def get(self, name: str) -> NodeInfo | None:
        """The NodeInfo of a node, if known."""
        return self._nodes.get(name)

    def __len__(self) -> int:
        return len(self._nodes)

    def have_pods_with_affinity(self) -> list[NodeInfo]:
        """Nodes hosting at least one pod with (anti-)affinity."""
        return [ni for ni in self.node_infos() if ni.name in self._with_affinity]

    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]:
        """Nodes hosting at least one pod with required anti-affinity."""
        return [ni for ni in self.node_infos() if ni.name in self._with_anti_affinity]

    @property
    def any_pods_with_affinity(self) -> bool:
        """Whether some node hosts a pod with (anti-)affinity."""
        return bool(self._with_affinity)

    @property
    def any_pods_with_required_anti_affinity(self) -> bool:
        """Whether some node hosts a pod with required anti-affinity."""
        return bool(self._with_anti_affinity)

    # ----- pods --------------------------------------------------------------------------

    def _attach(self, ni: NodeInfo, pi: PodInfo) -> None:
        ni.add_pod(pi)
        self._pod_node[pi.key] = ni.name
        if pi.has_affinity:
            self._with_affinity[ni.name] = self._with_affinity.get(ni.name, 0) + 1
        if pi.has_required_anti_affinity:
            self._with_anti_affinity[ni.name] = self._with_anti_affinity.get(ni.name, 0) + 1

    def add_pod(self, pod: Mapping[str, Any] | PodInfo, node_name: str | None = None) -> PodInfo:
        """Add a pod bound (or being bound) to ``node_name`` (default: ``spec.nodeName``)."""
        pi = pod if isinstance(pod, PodInfo) else PodInfo(pod)
        self._assumed.discard(pi.key)
        node_name = node_name or pi.node_name
        if not node_name:
            raise CacheError(f"pod {pi.namespace}/{pi.name} is not assigned to a node")
        if pi.key in self._pod_node:
            self.remove_pod(pi.key)
        self._infos[pi.key] = pi
        ni = self._nodes.get(node_name)
        if ni is None:
            self._pending.setdefault(node_name, {})[pi.key] = pi
            self._pod_node[pi.key] = node_name
        else:
            self._attach(ni, pi)
        return pi

    def assume_pod(self, pod: Mapping[str, Any] | PodInfo, node_name: str) -> PodInfo:
        """Account a just-scheduled pod on its node before the binding is confirmed."""
        pi = self.add_pod(pod, node_name)
        self._assumed.add(pi.key)
        return pi

    def forget_pod(self, key: str) -> None:
        """Undo ``assume_pod`` (binding failed); a confirmed pod is left alone."""
        if key in self._assumed:
            self.remove_pod(key)

    def is_assumed(self, key: str) -> bool:
        """Whether the pod was assumed and not yet confirmed by an add/update."""
        return key in self._assumed

    def remove_pod(self, pod_or_key: Mapping[str, Any] | PodInfo | str) -> None:
        """Remove a pod (by object, PodInfo or key) from its node."""
        if isinstance(pod_or_key, str):
            key = pod_or_key
        elif isinstance(pod_or_key, PodInfo):
            key = pod_or_key.key
        else:
            key = PodInfo(pod_or_key).key
        self._assumed.discard(key)
        self._infos.pop(key, None)
        node_name = self._pod_node.pop(key, None)
        if node_name is None:
            return
        pending = self._pending.get(node_name)
        if pending is not None and key in pending:
            del pending[key]
            if not pending:
                del self._pending[node_name]
            return
        ni = self._nodes.get(node_name)
        if ni is None:
            return
        removed = ni.remove_pod(key)
        if removed is not None:
            if removed.has_affinity:
                self._decrement(self._with_affinity, node_name)
            if removed.has_required_anti_affinity:
                self._decrement(self._with_anti_affinity, node_name)

    @staticmethod
    def _decrement(counter: dict[str, int], name: str) -> None:
        n = counter.get(name, 0) - 1
        if n <= 0:
            counter.pop(name, None)
        else:
            counter[name] = n

    def update_pod(self, pod: Mapping[str, Any]) -> PodInfo | None:
        """Replace a pod; unassigned or finished pods are removed.

        Upstream builds a new PodInfo for every update. Most updates of a bound pod are its
        kubelet's status writes, which change nothing a PodInfo is built from but the start
        time, and the first is the binding that confirms an assumed pod on the node it was
        assumed on: those update the PodInfo in place, and the node's aggregates stay as they were.
        """
        meta = pod.get("metadata") or {}
        key = meta.get("uid") or f"{meta.get('namespace', '') or ''}/{meta.get('name', '') or ''}"
        current = self._infos.get(key)
        if current is not None and (
            _same_for_scheduling(current.pod, pod)
            if key not in self._assumed
            else _confirms(current.pod, pod, self._pod_node.get(key))
        ):
            self._assumed.discard(key)
            current.pod = pod
            current.node_name = current.node_name or str((pod.get("spec") or {}).get("nodeName") or "")
            current.start_time = parse_time((pod.get("status") or {}).get("startTime"))
            return current
        pi = PodInfo(pod)
        phase = (pod.get("status") or {}).get("phase")
        if not pi.node_name or phase in ("Succeeded", "Failed"):
            self.remove_pod(pi.key)
            return None
        return self.add_pod(pi)

    def node_of(self, key: str) -> str | None:
        """Name of the node a pod is on."""
        return self._pod_node.get(key)

    # ----- namespaces ----------------------------------------------------------------------

    def set_namespaces(self, namespaces: Iterable[Mapping[str, Any]]) -> None:
        """Record namespace labels (used by affinity namespace selectors)."""
        self.namespace_labels = {
            (ns.get("metadata") or {}).get("name", ""): dict((ns.get("metadata") or {}).get("labels") or {})
            for ns in namespaces
        }

    @classmethod
    def build(
        cls,
        nodes: Iterable[Mapping[str, Any]],
        pods: Iterable[Mapping[str, Any]] = (),
        namespaces: Iterable[Mapping[str, Any]] = (),
    ) -> Cache:
        """A cache holding these nodes and the assigned, unfinished pods among ``pods``."""
        cache = cls()
        for node in nodes:
            cache.add_node(node)
        for pod in pods:
            spec = pod.get("spec") or {}
            phase = (pod.get("status") or {}).get("phase")
            if spec.get("nodeName") and phase not in ("Succeeded", "Failed"):
                cache.add_pod(pod)
        cache.set_namespaces(namespaces)
        return cache


def _confirms(assumed: Mapping[str, Any], bound: Mapping[str, Any], node: str | None) -> bool:
    """Whether ``bound`` is the assumed pod as the binding left it: on the assumed node, and
    otherwise the same for scheduling."""
    spec, was = bound.get("spec") or {}, assumed.get("spec") or {}
    if not node or spec.get("nodeName") != node or was.get("nodeName") not in (None, "", node):
        return False
    if was.get("nodeName") != node:
        spec = {k: v for k, v in spec.items() if k != "nodeName"}
    return _same_for_scheduling(assumed, {**bound, "spec": spec})


def _same_for_scheduling(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a PodInfo built from ``new`` would equal one from ``old``, start time aside."""
    if old.get("spec") != new.get("spec"):
        return False
    mo, mn = old.get("metadata") or {}, new.get("metadata") or {}
    so, sn = old.get("status") or {}, new.get("status") or {}
    return (
        mo.get("labels") == mn.get("labels")
        and mo.get("deletionTimestamp") == mn.get("deletionTimestamp")
        and so.get("nominatedNodeName") == sn.get("nominatedNodeName")
        and so.get("phase") not in ("Succeeded", "Failed")
        and sn.get("phase") not in ("Succeeded", "Failed")
    )

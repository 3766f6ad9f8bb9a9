"""In-tree plugins, one module each, and the registry the framework instantiates them from."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..framework import Plugin
from .balanced_allocation import BalancedAllocation
from .default_preemption import DefaultPreemption
from .image_locality import ImageLocality
from .inter_pod_affinity import InterPodAffinity
from .node_affinity import NodeAffinity
from .node_name import NodeName
from .node_ports import NodePorts
from .node_resources_fit import NodeResourcesFit
from .node_unschedulable import NodeUnschedulable
from .pod_topology_spread import PodTopologySpread
from .taint_toleration import TaintToleration
from .unmodelled import DefaultBinder, NodeVolumeLimits, PrioritySort, SchedulingGates, VolumeRestrictions, VolumeZone
from .volume_binding import VolumeBinding

_PLUGINS: tuple[type[Plugin], ...] = (
    SchedulingGates,
    PrioritySort,
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    VolumeRestrictions,
    NodeVolumeLimits,
    VolumeBinding,
    VolumeZone,
    PodTopologySpread,
    InterPodAffinity,
    DefaultPreemption,
    BalancedAllocation,
    ImageLocality,
    DefaultBinder,
)

REGISTRY: Mapping[str, Callable[..., Plugin]] = {p.name: p for p in _PLUGINS}
"""Plugin name -> factory ``(args, handle) -> Plugin``."""

__all__ = [
    "REGISTRY",
    "BalancedAllocation",
    "DefaultBinder",
    "DefaultPreemption",
    "ImageLocality",
    "InterPodAffinity",
    "NodeAffinity",
    "NodeName",
    "NodePorts",
    "NodeResourcesFit",
    "NodeUnschedulable",
    "NodeVolumeLimits",
    "PodTopologySpread",
    "PrioritySort",
    "SchedulingGates",
    "TaintToleration",
    "VolumeBinding",
    "VolumeRestrictions",
    "VolumeZone",
]

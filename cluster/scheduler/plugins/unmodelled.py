"""Default plugins whose concerns Kubeglass does not model yet.

They are accepted in profiles (so the default v1.32 plugin list loads) and appear at their
extension points, but their PreFilter always returns Skip: VolumeRestrictions (volume
conflicts, ReadWriteOncePod), NodeVolumeLimits (CSI attach limits), VolumeZone (PV zone
labels).  Queue/bind plugins (SchedulingGates, PrioritySort, DefaultBinder) are behaviour of
the queue and the control loop rather than of the filter/score decision.
"""

from __future__ import annotations

from typing import ClassVar

from ..framework import SKIP, CycleState, Plugin, PreFilterResult, Status
from ..nodeinfo import PodInfo


class _Skipping(Plugin):
    """PreFilter returns Skip, so Filter never runs."""

    def pre_filter(self, state: CycleState, pod: PodInfo) -> tuple[PreFilterResult | None, Status | None]:
        return None, SKIP


class VolumeRestrictions(_Skipping):
    """Not modelled: volume conflicts and ReadWriteOncePod."""

    name: ClassVar[str] = "VolumeRestrictions"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter"})


class NodeVolumeLimits(_Skipping):
    """Not modelled: CSI volume attach limits."""

    name: ClassVar[str] = "NodeVolumeLimits"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter"})


class VolumeZone(_Skipping):
    """Not modelled: PV topology zone labels."""

    name: ClassVar[str] = "VolumeZone"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preFilter", "filter"})


class SchedulingGates(Plugin):
    """PreEnqueue: handled by the scheduling queue (``spec.schedulingGates`` keeps a pod gated)."""

    name: ClassVar[str] = "SchedulingGates"
    extension_points: ClassVar[frozenset[str]] = frozenset({"preEnqueue"})


class PrioritySort(Plugin):
    """QueueSort: handled by the scheduling queue (priority, then queue timestamp)."""

    name: ClassVar[str] = "PrioritySort"
    extension_points: ClassVar[frozenset[str]] = frozenset({"queueSort"})


class DefaultBinder(Plugin):
    """Bind: the control loop posts the Binding."""

    name: ClassVar[str] = "DefaultBinder"
    extension_points: ClassVar[frozenset[str]] = frozenset({"bind"})

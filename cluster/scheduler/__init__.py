"""A pure-Python model of kube-scheduler v1.32's scheduling framework (no Django here).

The control loop (informers, binding) lives elsewhere; this package decides.  Entry points:
:func:`schedule_one` / :class:`Scheduler`, :class:`Decision`, :func:`load_profile`,
:class:`SchedulingQueue`, :func:`decision_annotations`.
"""

from __future__ import annotations

from .annotations import decision_annotations
from .cache import Cache
from .framework import Code, Nominator, Status, Volumes, Workloads
from .nodeinfo import NodeInfo, PodInfo
from .profile import Profile, ProfileError, default_profile, load_configuration, load_profile
from .quantity import QuantityError, milli_value, parse_quantity, value
from .queue import ClusterEvent, QueuedPodInfo, SchedulingQueue
from .schedule_one import Decision, Scheduler, num_feasible_nodes_to_find, schedule_one, select_host

__all__ = [
    "Cache",
    "ClusterEvent",
    "Code",
    "Decision",
    "NodeInfo",
    "Nominator",
    "PodInfo",
    "Profile",
    "ProfileError",
    "QuantityError",
    "QueuedPodInfo",
    "Scheduler",
    "SchedulingQueue",
    "Status",
    "Volumes",
    "Workloads",
    "decision_annotations",
    "default_profile",
    "load_configuration",
    "load_profile",
    "milli_value",
    "num_feasible_nodes_to_find",
    "parse_quantity",
    "schedule_one",
    "select_host",
    "value",
]

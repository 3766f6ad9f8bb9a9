"""The kubelet: the node agent that turns pods bound to its node into running containers.

``kubelet.py`` is the control loop (one per Node); ``podworker.py`` runs one pod's pipeline;
the other modules are the concepts it is built from: admission, qos (cgroups), volumes,
cri (sandbox and containers), cni (IPAM), images, probes, backoff, status, heartbeat,
static_pods and behaviour (what a simulated container does). See docs/simulation.md.
"""

from __future__ import annotations

from typing import Any

from cluster.controlplane import components


def _load() -> list[type[Any]]:
    from cluster.controlplane.kubelet.kubelet import Kubelet

    return [Kubelet]


components.register("kubelet", _load, per_node=True)

"""The forwarding engine a walk runs: one packet, device by device, as Linux handles it.

Each step looks up the same data the kernel would (the namespace's routes, its
neighbour table, the bridge FDB, the VXLAN FDB, the netfilter hooks, conntrack)
and records a hop at the graph node where it happens.  The steps are grouped by
concept in :mod:`~cluster.network.podside`, :mod:`~cluster.network.bridge`,
:mod:`~cluster.network.ipstack`, :mod:`~cluster.network.overlay` and
:mod:`~cluster.network.outside`; this class puts them together.
"""

from __future__ import annotations

from cluster.network.bridge import BridgeSide
from cluster.network.ipstack import NodeStack
from cluster.network.outside import Outside
from cluster.network.overlay import Overlay
from cluster.network.podside import PodSide
from cluster.network.trace import MAX_HOPS, Stop

__all__ = ["MAX_HOPS", "Datapath", "Stop"]


class Datapath(PodSide, BridgeSide, NodeStack, Overlay, Outside):
    """Walks one packet from a pod, a node or the external client (see :mod:`cluster.network.walk`)."""

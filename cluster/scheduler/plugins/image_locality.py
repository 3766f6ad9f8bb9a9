"""ImageLocality: favour nodes that already have the pod's images, discounted by how rare
the image is across the cluster (``size * nodesWithImage / totalNodes``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..framework import MAX_NODE_SCORE, CycleState, Plugin
from ..nodeinfo import NodeInfo, PodInfo
from .node_resources_fit import go_div

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    """Clamp to [23MB, 1000MB * containers] and scale to 0-100."""
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    return go_div(MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD), max_threshold - MIN_THRESHOLD)


class ImageLocality(Plugin):
    """Sums scaled sizes of the pod's (init) container images present on the node."""

    name: ClassVar[str] = "ImageLocality"
    extension_points: ClassVar[frozenset[str]] = frozenset({"score"})

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node])[0]

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        total = len(self.handle.cache)
        known = self.handle.cache.image_states
        # scaledImageScore depends only on the (cluster-wide) image state, so compute it once.
        scaled = {
            img: int(float(known[img].size) * (len(known[img].nodes) / total))
            for img in pod.images
            if img in known and total
        }
        containers = pod.num_containers
        base = calculate_priority(0, containers)
        if not scaled:
            return [base] * len(nodes)
        if len(pod.images) == 1:
            # One image (the usual pod): two possible scores, so pick per node.
            (img,) = pod.images
            hit = calculate_priority(scaled[img], containers)
            return [hit if img in n.image_states else base for n in nodes]
        memo: dict[int, int] = {0: base}
        out = []
        for n in nodes:
            states = n.image_states
            s = 0
            for img in pod.images:
                if img in states:
                    s += scaled[img]
            v = memo.get(s)
            if v is None:
                v = memo[s] = calculate_priority(s, containers)
            out.append(v)
        return out

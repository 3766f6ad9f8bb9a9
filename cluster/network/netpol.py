"""NetworkPolicy evaluation with the upstream semantics calico enforces.

A pod is *isolated* for a direction once any policy in its namespace selects it
with that direction in its ``policyTypes`` (which default to ``Ingress``, plus
``Egress`` when the policy has an ``egress`` section).  An isolated pod accepts a
connection only if some rule of some selecting policy allows it (policies are
additive; there is no deny rule); a non-isolated pod accepts everything.  A peer
matches ``podSelector`` (pods in the policy's namespace), ``namespaceSelector``
(all pods of the selected namespaces), both (AND) or ``ipBlock`` (``cidr`` minus
``except``).  Ports match by number, range (``endPort``) or name (resolved against
the destination pod's container ports); protocols default to TCP.  Traffic from
the node a pod runs on is always allowed (kubelet probes), and a pod can always
reach itself.  Policies apply to pods, never to host-network pods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.network import addressing as addr
from cluster.network.index import ClusterIndex, PodInfo


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a connection, as the policy sees it (after NAT)."""

    ip: str
    pod: PodInfo | None = None
    node: str | None = None

    def describe(self) -> str:
        if self.pod is not None:
            return f"{self.ip} ({self.pod.key})"
        if self.node is not None:
            return f"{self.ip} (node {self.node})"
        return self.ip


@dataclass(slots=True)
class Decision:
    direction: str
    pod: str
    allowed: bool
    isolated: bool
    policies: list[str] = field(default_factory=list)
    """The policies that select the pod for this direction (and so isolate it)."""
    allowed_by: str | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "pod": self.pod,
            "allowed": self.allowed,
            "isolated": self.isolated,
            "policies": list(self.policies),
            "allowed_by": self.allowed_by,
            "reason": self.reason,
        }


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A ``metav1.LabelSelector``; an empty selector selects everything."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
        has = key in labels
        if op == "In" and not (has and labels[key] in values):
            return False
        if op == "NotIn" and has and labels[key] in values:
            return False
        if op == "Exists" and not has:
            return False
        if op == "DoesNotExist" and has:
            return False
    return True


def policy_types(policy: dict[str, Any]) -> set[str]:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress", "Egress"} if "egress" in spec else {"Ingress"}


def _name(policy: dict[str, Any]) -> str:
    meta = policy.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def selecting(idx: ClusterIndex, pod: PodInfo, direction: str) -> list[dict[str, Any]]:
    """Policies in the pod's namespace that select it for ``direction`` (``Ingress``/``Egress``)."""
    return [
        p
        for p in idx.policies.get(pod.namespace, ())
        if direction in policy_types(p) and selector_matches((p.get("spec") or {}).get("podSelector"), pod.labels)
    ]


def _peer_matches(idx: ClusterIndex, spec: dict[str, Any], policy_ns: str, peer: Peer) -> bool:
    block = spec.get("ipBlock")
    if block:
        if not addr.in_cidr(peer.ip, block["cidr"]):
            return False
        return not any(addr.in_cidr(peer.ip, e) for e in block.get("except") or ())
    pod_sel, ns_sel = spec.get("podSelector"), spec.get("namespaceSelector")
    if peer.pod is None or (pod_sel is None and ns_sel is None):
        return False
    if ns_sel is not None:
        if not selector_matches(ns_sel, idx.ns_labels(peer.pod.namespace)):
            return False
    elif peer.pod.namespace != policy_ns:
        return False
    return pod_sel is None or selector_matches(pod_sel, peer.pod.labels)


def _port_matches(ports: list[dict[str, Any]] | None, proto: str, port: int, target: PodInfo | None) -> bool:
    if not ports:
        return True
    for p in ports:
        if str(p.get("protocol") or "TCP").lower() != proto:
            continue
        value = p.get("port")
        if value is None:
            return True
        if isinstance(value, str) and not value.isdigit():
            named = {
                cp.port for cp in (target.ports if target else ()) if cp.name == value and cp.protocol.lower() == proto
            }
            if port in named:
                return True
            continue
        low = int(value)
        high = int(p.get("endPort") or low)
        if low <= port <= high:
            return True
    return False


def evaluate(idx: ClusterIndex, pod: PodInfo, direction: str, peer: Peer, proto: str, port: int) -> Decision:
    """May ``pod`` send to (``egress``) or receive from (``ingress``) ``peer`` on ``proto``/``port``?"""
    kind = "Ingress" if direction == "ingress" else "Egress"
    policies = selecting(idx, pod, kind)
    names = [_name(p) for p in policies]
    if pod.host_network:
        return Decision(
            direction, pod.key, True, False, reason=f"{pod.key} uses the host network; policies do not apply"
        )
    if not policies:
        return Decision(
            direction, pod.key, True, False, reason=f"no NetworkPolicy selects {pod.key} for {direction}: not isolated"
        )
    if direction == "ingress" and peer.node is not None and peer.node == pod.node:
        return Decision(
            direction,
            pod.key,
            True,
            True,
            names,
            reason=f"traffic from {pod.key}'s own node {peer.node} is always allowed",
        )
    target = pod if direction == "ingress" else peer.pod
    key = "from" if direction == "ingress" else "to"
    for policy in policies:
        ns = (policy.get("metadata") or {}).get("namespace") or "default"
        rules = (policy.get("spec") or {}).get(direction) or []
        for n, rule in enumerate(rules, 1):
            peers = rule.get(key)
            if peers and not any(_peer_matches(idx, s, ns, peer) for s in peers):
                continue
            if not _port_matches(rule.get("ports"), proto, port, target):
                continue
            return Decision(
                direction,
                pod.key,
                True,
                True,
                names,
                _name(policy),
                f"allowed by NetworkPolicy {_name(policy)} ({direction} rule {n})",
            )
    what = f"{'from' if direction == 'ingress' else 'to'} {peer.describe()} on {proto.upper()} {port}"
    if len(names) == 1:
        reason = (
            f"dropped by NetworkPolicy {names[0]}: it isolates {pod.key} for {direction} "
            f"and none of its rules allows traffic {what}"
        )
    else:
        reason = (
            f"dropped: {pod.key} is isolated for {direction} by NetworkPolicies {', '.join(names)} "
            f"and no rule in any of them allows traffic {what}"
        )
    return Decision(direction, pod.key, False, True, names, None, reason)

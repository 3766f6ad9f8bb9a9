"""The words the dashboard's JavaScript draws, translated on the server and handed over as JSON.

The browser gets one flat catalogue in the reader's language (no ``djangojs`` domain, no
extra request); ``{name}`` holes are filled in the browser.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

STRINGS = {
    # Pod and node states (each also has its own look; see kubeglass.css).
    "Pending": _("Pending"),
    "ContainerCreating": _("ContainerCreating"),
    "Running": _("Running"),
    "Ready": _("Ready"),
    "Terminating": _("Terminating"),
    "Failed": _("Failed"),
    "Succeeded": _("Completed"),
    "Unknown": _("Unknown"),
    "NotReady": _("NotReady"),
    "cordoned": _("cordoned"),
    # The architecture view.
    "unscheduled": _("Unscheduled (Pending, no node yet)"),
    "controlPlane": _("control plane"),
    "managedControlPlane": _("Managed control plane"),
    "worker": _("worker"),
    "user": _("you (kubectl)"),
    "underlay": _("node network {cidr} (underlay)"),
    "external": _("outside the cluster"),
    "more": _("+{n} more"),
    "podsOnNode": _("{n} pods"),
    "podLabel": _("Pod {name}: {state}"),
    "nodeLabel": _("Node {name}: {state}"),
    "noPods": _("no pods"),
    # Ownership view.
    "deployments": _("Deployments → ReplicaSets → Pods"),
    "services": _("Services → EndpointSlices → Pods"),
    "orphans": _("Pods with no owner"),
    "daemonsets": _("DaemonSets → Pods"),
    "replicasOf": _("{ready}/{want} ready"),
    "endpointsOf": _("{n} endpoints"),
    "none": _("none"),
    # Player and narration.
    "live": _("live"),
    "paused": _("paused"),
    "playing": _("playing"),
    "seqOf": _("seq {seq} of {head}"),
    "noStep": _("No trace step yet. Apply a manifest or run a command, then watch each step here."),
    "loadingHistory": _("Loading history…"),
    "connected": _("connected"),
    "reconnecting": _("connection lost; reconnecting…"),
    "refused": _("the server refused the live feed; reload the page to sign in again"),
    "stepAt": _("step at seq {seq}"),
    # Packet tracer.
    "request": _("Request"),
    "reply": _("Reply"),
    "hop": _("hop {n}"),
    "dnat": _("DNAT: destination rewritten"),
    "snat": _("SNAT: source rewritten"),
    "unDnat": _("reply un-DNAT: source restored"),
    "envelope": _("VXLAN envelope: outer headers wrap the inner packet"),
    "ipip": _("IP-in-IP envelope: an outer IP header wraps the inner packet"),
    "innerPacket": _("inner packet"),
    "matchedRule": _("matched rule"),
    "route": _("route"),
    "verdict": _("verdict: {verdict}"),
    "noReply": _("no reply to play"),
    "tracing": _("Tracing…"),
    "pickTwo": _("Pick a source and a destination first."),
    "noPair": _("No suitable pair of running pods yet: apply a Deployment and wait for its pods to run."),
    # Guided flows.
    "journeyStart": _("Applying the manifest; the journey starts at seq {seq}."),
    "noDecision": _("No pod has a scheduling decision yet: apply a Deployment and let the scheduler work."),
    "copied": _("Copied"),
    "copyFailed": _("Copy failed: use the download link"),
}

JOURNEY = [
    ("kubectl", _("kubectl sends the request")),
    ("authn", _("API server: authentication")),
    ("authz", _("API server: authorization")),
    ("admission", _("API server: admission")),
    ("validation", _("API server: validation")),
    ("etcd", _("etcd stores the object")),
    ("deployment", _("deployment controller creates a ReplicaSet")),
    ("replicaset", _("replicaset controller creates the Pods")),
    ("queue", _("scheduler: queue")),
    ("filter", _("scheduler: filter")),
    ("score", _("scheduler: score")),
    ("bind", _("scheduler: bind")),
    ("admit", _("kubelet: admit")),
    ("cgroup", _("kubelet: cgroup")),
    ("volumes", _("kubelet: volumes")),
    ("sandbox", _("CRI: sandbox and pause container")),
    ("cni", _("CNI ADD: pod network")),
    ("pull", _("image pull")),
    ("init", _("init containers")),
    ("containers", _("containers start")),
    ("probes", _("probes")),
    ("ready", _("Pod is Ready")),
    ("endpoints", _("endpoints updated")),
    ("kube-proxy", _("kube-proxy rewrites its rules")),
]


def strings() -> dict[str, str]:
    return {key: str(value) for key, value in STRINGS.items()}


def journey() -> list[dict[str, str]]:
    return [{"id": key, "label": str(label)} for key, label in JOURNEY]

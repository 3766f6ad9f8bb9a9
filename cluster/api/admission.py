"""Mutating admission and defaulting: what the apiserver fills in before it validates.

Mirrors upstream's ``SetDefaults_*`` functions plus the ServiceAccount,
DefaultTolerationSeconds and Priority admission plugins.
"""

from __future__ import annotations

from typing import Any

from cluster.api.registry import Resource

try:  # CPython's own SHA-256 (``_sha2`` from 3.12)
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - newer or other Pythons
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment]

DEFAULT_TOLERATION_SECONDS = 300
# The built-in PriorityClasses every cluster has (the Priority admission plugin resolves them).
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def deterministic_uid(*parts: object) -> str:
    """A v4-shaped UID derived from the cluster's seed and the write, so replays match.

    The text ``str(uuid.UUID(bytes=digest[:16], version=4))`` gives, set by hand from the hex
    digest (version nibble 4, RFC 4122 variant): every write takes one, and building a ``UUID``
    cost more than the hash. CPython's own SHA-256 is used: OpenSSL's costs more per call on
    inputs this short.
    """
    h = _sha256("/".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


# The variant nibble: its top two bits set to 10.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def image_pull_policy(image: str) -> str:
    """Always for ``:latest`` or an untagged image, IfNotPresent otherwise (upstream SetDefaults_Container)."""
    ref = image.split("@", 1)
    if len(ref) == 2:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _default_container(c: dict[str, Any]) -> None:
    if "image" in c and isinstance(c["image"], str):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if isinstance(p, dict):
            p.setdefault("timeoutSeconds", 1)
            p.setdefault("periodSeconds", 10)
            p.setdefault("successThreshold", 1)
            p.setdefault("failureThreshold", 3)
            http = p.get("httpGet")
            if isinstance(http, dict):
                http.setdefault("path", "/")
                http.setdefault("scheme", "HTTP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _default_container(c)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        for src in ("configMap", "secret"):
            if isinstance(vol.get(src), dict):
                vol[src].setdefault("defaultMode", 420)
        if set(vol) == {"name"}:
            vol["emptyDir"] = {}


def _pod_admission(pod: dict[str, Any], uid_parts: tuple[object, ...]) -> None:
    """ServiceAccount, DefaultTolerationSeconds and Priority admission, as a real apiserver runs them."""
    spec = pod.setdefault("spec", {})
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if "kubernetes.io/config.mirror" in annotations:
        # Mirror pods of static pods skip the ServiceAccount plugin, as upstream's admission does.
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", SYSTEM_PRIORITY_CLASSES.get(spec.get("priorityClassName", ""), 0))
        return
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", SYSTEM_PRIORITY_CLASSES.get(spec.get("priorityClassName", ""), 0))
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    have = {(t.get("key"), t.get("effect")) for t in tolerations if isinstance(t, dict)}
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if (key, "NoExecute") not in have and not any(
            isinstance(t, dict) and t.get("operator") == "Exists" and not t.get("key") for t in tolerations
        ):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    if spec.get("automountServiceAccountToken") is not False:
        volumes = spec.setdefault("volumes", [])
        if not any(isinstance(v, dict) and str(v.get("name", "")).startswith("kube-api-access-") for v in volumes):
            suffix = deterministic_uid(*uid_parts, "sa-token").replace("-", "")
            name = "kube-api-access-" + "".join(ch for ch in suffix if ch in "bcdfghjklmnpqrstvwxz2456789")[:5].ljust(
                5, "x"
            )
            volumes.append(
                {
                    "name": name,
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                }
            )
            for c in spec.get("containers") or []:
                if isinstance(c, dict):
                    c.setdefault("volumeMounts", []).append(
                        {
                            "name": name,
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    )


def _default_template(obj: dict[str, Any]) -> None:
    template = obj.setdefault("spec", {}).setdefault("template", {})
    if isinstance(template, dict):
        default_pod_spec(template.setdefault("spec", {}))
        template.setdefault("metadata", {}).setdefault("creationTimestamp", None)


def _default_deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(obj)


def _default_statefulset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        us.setdefault("type", "RollingUpdate")
        us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    for pvc in spec.get("volumeClaimTemplates") or []:
        if isinstance(pvc, dict):
            pvc.setdefault("apiVersion", "v1")
            pvc.setdefault("kind", "PersistentVolumeClaim")
            pvc.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            pvc.setdefault("status", {"phase": "Pending"})
    _default_template(obj)


def _default_daemonset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        us.setdefault("type", "RollingUpdate")
        ru = us.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _default_template(obj)


def _default_service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]


def _default_pvc(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")


def _default_pv(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")


def _default_storageclass(obj: dict[str, Any]) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def _default_namespace(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", obj["metadata"].get("name", ""))


def _default_networkpolicy(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if "policyTypes" not in spec:
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types
    for rules in (spec.get("ingress") or [], spec.get("egress") or []):
        for rule in rules:
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _default_endpointslice(obj: dict[str, Any]) -> None:
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


_BY_KIND = {
    ("apps", "Deployment"): _default_deployment,
    ("apps", "ReplicaSet"): lambda o: (o.setdefault("spec", {}).setdefault("replicas", 1), _default_template(o)),
    ("apps", "StatefulSet"): _default_statefulset,
    ("apps", "DaemonSet"): _default_daemonset,
    ("", "Service"): _default_service,
    ("", "PersistentVolumeClaim"): _default_pvc,
    ("", "PersistentVolume"): _default_pv,
    ("storage.k8s.io", "StorageClass"): _default_storageclass,
    ("", "Namespace"): _default_namespace,
    ("networking.k8s.io", "NetworkPolicy"): _default_networkpolicy,
    ("discovery.k8s.io", "EndpointSlice"): _default_endpointslice,
}


def apply_defaults(resource: Resource, obj: dict[str, Any], uid_parts: tuple[object, ...], creating: bool) -> None:
    """Fill defaults in place; only fields the client left unset are touched.

    Admission plugins (service account token volume, default tolerations) run on create only.
    """
    if resource.kind == "Pod":
        default_pod_spec(obj.setdefault("spec", {}))
        if creating:
            _pod_admission(obj, uid_parts)
        return
    fn = _BY_KIND.get((resource.group, resource.kind))
    if fn is not None:
        fn(obj)

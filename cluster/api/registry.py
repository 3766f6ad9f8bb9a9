"""The resources the API server serves, as upstream's discovery documents list them."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # A kind whose status a client may set on create (a kubelet registering its Node).
    status_on_create: bool = False
    singular: str = field(default="")

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",), subresources=("status", "finalize")),
    Resource("", "v1", "Node", "nodes", False, ("no",), subresources=("status", "proxy"), status_on_create=True),
    Resource(
        "",
        "v1",
        "Pod",
        "pods",
        True,
        ("po",),
        ("all",),
        subresources=("binding", "status", "eviction", "log"),
    ),
    Resource("", "v1", "Binding", "bindings", True, verbs=("create",)),
    Resource("", "v1", "Service", "services", True, ("svc",), ("all",), subresources=("status",)),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",), singular="endpoints"),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "Secret", "secrets", True),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), subresources=("status",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), subresources=("status",)),
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",), subresources=("scale", "status")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",), subresources=("scale", "status")),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), subresources=("scale", "status")),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",), subresources=("status",)),
    Resource("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
)

# Group versions in the order a real apiserver advertises them.
GROUP_ORDER = ("", "apps", "discovery.k8s.io", "networking.k8s.io", "storage.k8s.io", "coordination.k8s.io")

_BY_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


def by_plural(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PLURAL.get((group, version, plural))


def by_kind(group: str, kind: str) -> Resource | None:
    return _BY_KIND.get((group, kind))


def by_api_version(api_version: str, kind: str) -> Resource | None:
    group, _, version = api_version.rpartition("/")
    r = _BY_KIND.get((group, kind))
    return r if r is not None and r.version == version else None


def groups() -> list[str]:
    return [g for g in GROUP_ORDER if g]


def resources_in(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]

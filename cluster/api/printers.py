"""Server-side Table output: the columns and cells `kubectl get` prints.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever the server sends, so the
server, not kubectl, decides what READY, STATUS or AGE say. These follow kubernetes 1.32's
pkg/printers/internalversion/printers.go. Like the real apiserver, rows always carry the wide (priority 1) cells:
kubectl hides those columns unless asked for `-o wide`.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Iterable
from typing import Any

# Shortened from upstream's swagger docs; kubectl never prints descriptions.
_NAME_DOC = "Name must be unique within a namespace."
_AGE_DOC = "CreationTimestamp is a timestamp representing the server time when this object was created."
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."


def _col(name: str, type_: str = "string", priority: int = 0, description: str = "", fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


NAME = _col("Name", description=_NAME_DOC, fmt="name")
AGE = _col("Age", description=_AGE_DOC)
CONTAINERS = _col("Containers", priority=1, description=_CONTAINERS_DOC)
IMAGES = _col("Images", priority=1, description=_IMAGES_DOC)
SELECTOR = _col("Selector", priority=1, description="A label query over the objects this one manages.")

COLUMNS: dict[str, list[dict]] = {
    "Namespace": [NAME, _col("Status", description="The status of the namespace"), AGE],
    "Node": [
        NAME,
        _col("Status", description="The status of the node"),
        _col("Roles", description="The roles of the node"),
        AGE,
        _col("Version", description="Kubelet Version reported by the node."),
        _col("Internal-IP", priority=1, description="List of addresses reachable to the node."),
        _col("External-IP", priority=1, description="List of addresses reachable to the node."),
        _col("OS-Image", priority=1, description="OS Image reported by the node."),
        _col("Kernel-Version", priority=1, description="Kernel Version reported by the node."),
        _col("Container-Runtime", priority=1, description="ContainerRuntime Version reported by the node."),
    ],
    "Pod": [
        NAME,
        _col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", description="The aggregate status of the containers in this pod."),
        _col(
            "Restarts",
            description="The number of times the containers in this pod have been restarted and when the last "
            "container in this pod has restarted.",
        ),
        AGE,
        _col("IP", priority=1, description="podIP address allocated to the pod."),
        _col("Node", priority=1, description="NodeName is a request to schedule this pod onto a specific node."),
        _col("Nominated Node", priority=1, description="nominatedNodeName is set when this pod preempts other pods."),
        _col("Readiness Gates", priority=1, description="If specified, all readiness gates will be evaluated."),
    ],
    "Service": [
        NAME,
        _col("Type", description="type determines how the Service is exposed."),
        _col("Cluster-IP", description="clusterIP is the IP address of the service."),
        _col("External-IP", description="externalIPs is a list of IP addresses for which nodes also accept traffic."),
        _col("Port(s)", description="The list of ports that are exposed by this service."),
        AGE,
        _col("Selector", priority=1, description="Route service traffic to pods with matching label keys/values."),
    ],
    "Endpoints": [NAME, _col("Endpoints", description="The set of all endpoints is the union of all subsets."), AGE],
    "ConfigMap": [NAME, _col("Data", description="Data contains the configuration data."), AGE],
    "Secret": [
        NAME,
        _col("Type", description="Used to facilitate programmatic handling of secret data."),
        _col("Data", description="Data contains the secret data."),
        AGE,
    ],
    "ServiceAccount": [
        NAME,
        _col("Secrets", description="Secrets is a list of the secrets in the same namespace this SA uses."),
        AGE,
    ],
    "Event": [
        _col("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
        _col("Type", description="Type of this event (Normal, Warning)."),
        _col("Reason", description="A short, machine understandable string for the transition."),
        _col("Object", description="The object that this event is about."),
        _col("Subobject", priority=1, description="The field of the involved object this event is about."),
        _col("Source", priority=1, description="The component reporting this event."),
        _col("Message", description="A human-readable description of the status of this operation."),
        _col("First Seen", priority=1, description="The time at which the event was first recorded."),
        _col("Count", priority=1, description="The number of times this event has occurred."),
        _col("Name", priority=1, description=_NAME_DOC, fmt="name"),
    ],
    "PersistentVolume": [
        NAME,
        _col("Capacity", description="capacity is the description of the persistent volume's resources."),
        _col("Access Modes", description="accessModes contains all ways the volume can be mounted."),
        _col("Reclaim Policy", description="What happens to a persistent volume when released from its claim."),
        _col("Status", description="phase indicates if a volume is available, bound to a claim, or released."),
        _col("Claim", description="claimRef is part of a bi-directional binding between PV and PVC."),
        _col("StorageClass", description="StorageClass of the pv"),
        _col("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
        _col("Reason", description="reason is a brief CamelCase string that describes any failure."),
        AGE,
        _col("VolumeMode", priority=1, description="volumeMode defines if a volume is formatted or a raw block."),
    ],
    "PersistentVolumeClaim": [
        NAME,
        _col("Status", description="phase represents the current phase of PersistentVolumeClaim."),
        _col("Volume", description="volumeName is the binding reference to the PersistentVolume."),
        _col("Capacity", description="capacity represents the actual resources of the underlying volume."),
        _col("Access Modes", description="accessModes contains the actual access modes the volume has."),
        _col("StorageClass", description="StorageClass of the pvc"),
        _col("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
        AGE,
        _col("VolumeMode", priority=1, description="volumeMode defines what type of volume is required."),
    ],
    "Deployment": [
        NAME,
        _col("Ready", description="Number of the pod with ready state"),
        _col("Up-to-date", description="Total number of non-terminated pods with the desired template spec."),
        _col("Available", description="Total number of available pods (ready for at least minReadySeconds)."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    "ReplicaSet": [
        NAME,
        _col("Desired", "integer", description="Replicas is the number of desired replicas."),
        _col("Current", "integer", description="Replicas is the most recently observed number of replicas."),
        _col("Ready", "integer", description="The number of ready replicas for this replica set."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    "StatefulSet": [NAME, _col("Ready", description="Number of the pod with ready state"), AGE, CONTAINERS, IMAGES],
    "DaemonSet": [
        NAME,
        _col("Desired", "integer", description="The total number of nodes that should be running the daemon pod."),
        _col("Current", "integer", description="The number of nodes running at least one daemon pod."),
        _col("Ready", "integer", description="The number of nodes running the daemon pod and ready."),
        _col("Up-to-date", "integer", description="The number of nodes running the updated daemon pod."),
        _col("Available", "integer", description="The number of nodes with the daemon pod available."),
        _col("Node Selector", description="NodeSelector is a selector which must be true for the pod to fit."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    "EndpointSlice": [
        NAME,
        _col("AddressType", description="addressType specifies the type of address carried by this slice."),
        _col("Ports", description="ports specifies the list of network ports exposed by each endpoint."),
        _col("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
        AGE,
    ],
    "NetworkPolicy": [
        NAME,
        _col("Pod-Selector", description="Selects the pods to which this NetworkPolicy object applies."),
        AGE,
    ],
    "StorageClass": [
        NAME,
        _col("Provisioner", description="provisioner indicates the type of the provisioner."),
        _col("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for dynamic volumes."),
        _col("VolumeBindingMode", description="volumeBindingMode indicates how PVCs should be bound."),
        _col("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the class allows expansion"),
        AGE,
    ],
    "Lease": [NAME, _col("Holder", description="holderIdentity contains the identity of the holder of a lease."), AGE],
    "ControllerRevision": [
        NAME,
        _col("Controller", description="Controller of the object"),
        _col("Revision", "integer", description="Revision indicates the revision of the state represented by Data."),
        AGE,
    ],
}

# The apiserver's default table convertor, for every kind without a printer.
DEFAULT_COLUMNS = [NAME, _col("Created At", "date", description=_AGE_DOC)]


def column_definitions(kind: str) -> list[dict]:
    """Copies, so a caller that edits a column can't change every later table."""
    return copy.deepcopy(COLUMNS.get(kind, DEFAULT_COLUMNS))


# --- durations and timestamps ---------------------------------------------------------------------------------


def human_duration(d: datetime.timedelta) -> str:
    """Port of apimachinery's duration.HumanDuration: ~2-3 significant figures, tolerant of 1s of clock skew."""
    micros = d // datetime.timedelta(microseconds=1)
    seconds = -(-micros // 1_000_000) if micros < 0 else micros // 1_000_000  # Go truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime.datetime | None:
    """None stands for Go's zero time, which upstream prints as <unknown>."""
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _aware(now: datetime.datetime) -> datetime.datetime:
    return now if now.tzinfo else now.replace(tzinfo=datetime.UTC)


def _since(value: Any, now: datetime.datetime) -> str:
    when = _parse_time(value)
    return "<unknown>" if when is None else human_duration(_aware(now) - when)


def _age(obj: dict, now: datetime.datetime) -> str:
    return _since(obj.get("metadata", {}).get("creationTimestamp"), now)


# --- formatting helpers shared by several kinds ------------------------------------------------------------------


def _name(obj: dict) -> str:
    return obj.get("metadata", {}).get("name", "")


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: sorted k=v pairs, <none> when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


_SELECTOR_OPS = {"In": " in ", "NotIn": " notin ", "Exists": "", "DoesNotExist": ""}


def selector_string(selector: dict | None) -> str | None:
    """metav1.LabelSelectorAsSelector(...).String(); None where upstream reports an error."""
    if not selector:
        return ""
    requirements: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), list(expr.get("values") or [])
        if op not in _SELECTOR_OPS or (op in ("In", "NotIn")) != bool(values):
            return None
        if op == "Exists":
            requirements.append((key, key))
        elif op == "DoesNotExist":
            requirements.append((key, "!" + key))
        else:
            requirements.append((key, f"{key}{_SELECTOR_OPS[op]}({','.join(sorted(values))})"))
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: dict | None) -> str:
    """metav1.FormatLabelSelector: <none> for an empty selector, <error> for an invalid one."""
    text = selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _container_cells(pod_spec: dict) -> tuple[str, str]:
    containers = pod_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _template_spec(obj: dict) -> dict:
    return obj.get("spec", {}).get("template", {}).get("spec", {})


def _with_more(items: list[str], total: int, limit: int = 3, empty: str = "<unset>") -> str:
    """Upstream's listWithMoreString: the first few, then `+ N more...`."""
    text = ",".join(items[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty


def _join_host_port(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def _access_modes(modes: Iterable[str] | None) -> str:
    present = set(modes or [])
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


def _storage_class(obj: dict) -> str:
    beta = (obj.get("metadata", {}).get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    return beta if beta is not None else obj.get("spec", {}).get("storageClassName") or ""


# --- one function per kind ---------------------------------------------------------------------------------------


def _namespace(obj: dict, now: datetime.datetime) -> list:
    return [_name(obj), obj.get("status", {}).get("phase", "Active"), _age(obj, now)]


def _node_roles(labels: dict) -> str:
    roles = set()
    for key, value in labels.items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(status: dict, kind: str) -> str:
    return next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == kind), "<none>")


def _node(obj: dict, now: datetime.datetime) -> list:
    status = obj.get("status", {})
    # Only the Ready condition counts; a node that has never reported one is Unknown.
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    states = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if obj.get("spec", {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo", {})
    return [
        _name(obj),
        ",".join(states),
        _node_roles(obj.get("metadata", {}).get("labels") or {}),
        _age(obj, now),
        info.get("kubeletVersion", ""),
        _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _condition_true(conditions: list[dict], type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions)


def _terminated_reason(terminated: dict, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _later(current: datetime.datetime | None, status: dict) -> datetime.datetime | None:
    """The later of `current` and this container's last termination, as upstream's lastRestartDate."""
    finished = _parse_time((status.get("lastState", {}).get("terminated") or {}).get("finishedAt"))
    if finished is not None and (current is None or finished > current):
        return finished
    return current


def pod_status(pod: dict) -> tuple[int, int, str, int, datetime.datetime | None]:
    """(ready, total, STATUS, restarts, last restart) exactly as upstream's printPod reasons about them."""
    spec, status = pod.get("spec", {}), pod.get("status", {})
    conditions = status.get("conditions") or []
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecars = {name for name, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(sidecars)
    ready = restarts = sidecar_restarts = 0
    last_restart = last_sidecar_restart = None
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state", {})
        terminated, waiting = state.get("terminated"), state.get("waiting")
        restarts += cs.get("restartCount", 0)
        last_restart = _later(last_restart, cs)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            last_sidecar_restart = _later(last_sidecar_restart, cs)
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state", {})
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, cs)
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated") is not None:
                reason = _terminated_reason(state["terminated"])
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose last-listed container completed but others still run is not Completed.
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return ready, total, reason, restarts, last_restart


def _pod(obj: dict, now: datetime.datetime) -> list:
    ready, total, reason, restarts, last_restart = pod_status(obj)
    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration(_aware(now) - last_restart)} ago)"
    spec, status = obj.get("spec", {}), obj.get("status", {})
    ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        by_type: dict[str, dict] = {}
        for condition in status.get("conditions") or []:
            by_type.setdefault(condition.get("type"), condition)
        passed = sum(1 for g in gates if by_type.get(g.get("conditionType"), {}).get("status") == "True")
        gates_cell = f"{passed}/{len(gates)}"
    return [
        _name(obj),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        _age(obj, now),
        (ips[0].get("ip") if ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_cell,
    ]


def _service_external_ip(spec: dict, status: dict) -> str:
    svc_type = spec.get("type", "ClusterIP")
    external = spec.get("externalIPs") or []
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        # The server renders wide, so the 16-character clipping kubectl-side printers do never applies here.
        ingress = status.get("loadBalancer", {}).get("ingress") or []
        lb = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
        if external:
            return ",".join(lb + external)
        return ",".join(lb) or "<pending>"
    if svc_type == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_ports(ports: list[dict]) -> str:
    pieces = []
    for p in ports:
        protocol = p.get("protocol", "TCP")
        node_port = p.get("nodePort", 0)
        pieces.append(f"{p.get('port')}:{node_port}/{protocol}" if node_port else f"{p.get('port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service(obj: dict, now: datetime.datetime) -> list:
    spec = obj.get("spec", {})
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        _name(obj),
        spec.get("type", "ClusterIP"),
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(spec, obj.get("status", {})),
        _service_ports(spec.get("ports") or []),
        _age(obj, now),
        format_labels(spec.get("selector")),
    ]


def format_endpoints(obj: dict) -> str:
    """Every address:port pair, three shown; headless subsets without ports show bare IPs."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        for port in subset.get("ports") or [None]:
            count += len(ips)
            for ip in ips:
                if len(shown) == 3:
                    break
                shown.append(ip if port is None else _join_host_port(ip, port.get("port")))
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if count > 3 else text


def _endpoints(obj: dict, now: datetime.datetime) -> list:
    return [_name(obj), format_endpoints(obj), _age(obj, now)]


def _configmap(obj: dict, now: datetime.datetime) -> list:
    return [_name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _age(obj, now)]


def _secret(obj: dict, now: datetime.datetime) -> list:
    # The apiserver folds stringData into data before anything prints it.
    keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    return [_name(obj), obj.get("type", "Opaque"), len(keys), _age(obj, now)]


def _serviceaccount(obj: dict, now: datetime.datetime) -> list:
    return [_name(obj), len(obj.get("secrets") or []), _age(obj, now)]


def _event(obj: dict, now: datetime.datetime) -> list:
    first = _since(obj.get("firstTimestamp"), now)
    if _parse_time(obj.get("firstTimestamp")) is None:
        first = _since(obj.get("eventTime"), now)
    last = _since(obj.get("lastTimestamp"), now)
    if _parse_time(obj.get("lastTimestamp")) is None:
        last = first
    count = obj.get("count") or 0
    series = obj.get("series")
    if series:
        last = _since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events from the events.k8s.io API carry no count
    involved = obj.get("involvedObject", {})
    target = involved.get("kind", "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = obj.get("source", {})
    component = source.get("component") or obj.get("reportingComponent") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        obj.get("message", "").strip(),
        first,
        count,
        _name(obj),
    ]


def _persistentvolume(obj: dict, now: datetime.datetime) -> list:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    claim = spec.get("claimRef")
    phase = "Terminating" if obj.get("metadata", {}).get("deletionTimestamp") else status.get("phase", "")
    return [
        _name(obj),
        (spec.get("capacity") or {}).get("storage", "0"),
        _access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        phase,
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
        _storage_class(obj),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        _age(obj, now),
        spec.get("volumeMode") or "<unset>",
    ]


def _persistentvolumeclaim(obj: dict, now: datetime.datetime) -> list:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    phase = "Terminating" if obj.get("metadata", {}).get("deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):  # an unbound claim shows neither
        modes = _access_modes(status.get("accessModes"))
        capacity = (status.get("capacity") or {}).get("storage", "0")
    return [
        _name(obj),
        phase,
        spec.get("volumeName", ""),
        capacity,
        modes,
        _storage_class(obj),
        spec.get("volumeAttributesClassName") or "<unset>",
        _age(obj, now),
        spec.get("volumeMode") or "<unset>",
    ]


def _deployment(obj: dict, now: datetime.datetime) -> list:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _container_cells(_template_spec(obj))
    selector = selector_string(spec.get("selector"))
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _replicaset(obj: dict, now: datetime.datetime) -> list:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _container_cells(_template_spec(obj))
    return [
        _name(obj),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _statefulset(obj: dict, now: datetime.datetime) -> list:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    names, images = _container_cells(_template_spec(obj))
    return [_name(obj), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", _age(obj, now), names, images]


def _daemonset(obj: dict, now: datetime.datetime) -> list:
    status = obj.get("status", {})
    names, images = _container_cells(_template_spec(obj))
    return [
        _name(obj),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        format_labels(_template_spec(obj).get("nodeSelector")),
        _age(obj, now),
        names,
        images,
        format_label_selector(obj.get("spec", {}).get("selector")),
    ]


def _endpointslice(obj: dict, now: datetime.datetime) -> list:
    ports = obj.get("ports") or []
    # A port with neither number nor name is "*"; an empty name is still a name.
    port_cells = [str(p["port"]) if p.get("port") is not None else p.get("name", "*") for p in ports]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        _name(obj),
        obj.get("addressType", ""),
        _with_more(port_cells, len(port_cells)),
        _with_more(addresses, len(addresses)),
        _age(obj, now),
    ]


def _networkpolicy(obj: dict, now: datetime.datetime) -> list:
    return [_name(obj), format_label_selector(obj.get("spec", {}).get("podSelector") or {}), _age(obj, now)]


_DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _storageclass(obj: dict, now: datetime.datetime) -> list:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    name = _name(obj)
    if any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS):
        name += " (default)"
    return [
        name,
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy") or "Delete",
        obj.get("volumeBindingMode") or "Immediate",
        bool(obj.get("allowVolumeExpansion")),
        _age(obj, now),
    ]


def _lease(obj: dict, now: datetime.datetime) -> list:
    return [_name(obj), obj.get("spec", {}).get("holderIdentity") or "", _age(obj, now)]


def _controller_revision(obj: dict, now: datetime.datetime) -> list:
    """printControllerRevision: the controller as ``kind.group/name`` (formatResourceName with kind)."""
    ref = next((r for r in obj.get("metadata", {}).get("ownerReferences") or [] if r.get("controller")), None)
    controller = "<none>"
    if ref is not None:
        api_version = str(ref.get("apiVersion") or "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        kind = f"{ref.get('kind', '')}.{group}" if group else str(ref.get("kind", ""))
        controller = f"{kind.lower()}/{ref.get('name', '')}"
    return [_name(obj), controller, int(obj.get("revision") or 0), _age(obj, now)]


def _default(obj: dict, now: datetime.datetime) -> list:
    created = _parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    stamp = (
        "0001-01-01T00:00:00Z" if created is None else created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return [_name(obj), stamp]


_PRINTERS: dict[str, Callable[[dict, datetime.datetime], list]] = {
    "Namespace": _namespace,
    "Node": _node,
    "Pod": _pod,
    "Service": _service,
    "Endpoints": _endpoints,
    "ConfigMap": _configmap,
    "Secret": _secret,
    "ServiceAccount": _serviceaccount,
    "Event": _event,
    "PersistentVolume": _persistentvolume,
    "PersistentVolumeClaim": _persistentvolumeclaim,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "EndpointSlice": _endpointslice,
    "NetworkPolicy": _networkpolicy,
    "StorageClass": _storageclass,
    "Lease": _lease,
    "ControllerRevision": _controller_revision,
}


def row_cells(kind: str, obj: dict, now: datetime.datetime) -> list:
    """All cells, wide ones included: the server always renders wide and kubectl drops what it doesn't show."""
    return _PRINTERS.get(kind, _default)(obj, now)


_POD_FINISHED = {
    "Succeeded": {"reason": "Succeeded", "message": "The pod has completed successfully."},
    "Failed": {"reason": "Failed", "message": "The pod failed."},
}


def _row(kind: str, obj: dict, now: datetime.datetime, include_object: str) -> dict:
    row: dict[str, Any] = {"cells": row_cells(kind, obj, now)}
    finished = _POD_FINISHED.get(obj.get("status", {}).get("phase", "")) if kind == "Pod" else None
    if finished:
        row["conditions"] = [{"type": "Completed", "status": "True", **finished}]
    if include_object == "Object":
        row["object"] = copy.deepcopy(obj)
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(obj.get("metadata", {})),
        }
    return row


def table(kind: str, objects: list[dict], now: datetime.datetime, include_object: str = "Metadata") -> dict:
    """A complete meta.k8s.io/v1 Table. include_object: "None" | "Metadata" | "Object" (the apiserver's includeObject).

    Metadata is the apiserver's default and what kubectl relies on to name rows; the caller fills resourceVersion.
    """
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": column_definitions(kind),
        "rows": [_row(kind, obj, now, include_object) for obj in objects],
    }

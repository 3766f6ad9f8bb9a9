"""Semantic validation: the rules a user meets first, with upstream's field.Error wording."""

from __future__ import annotations

import json
import re
from typing import Any

from cluster.api.errors import field_cause, invalid
from cluster.api.registry import Resource
from cluster.api.selectors import match_label_selector

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# Kinds whose names must be DNS-1123 labels or DNS-1035 labels rather than subdomains.
_LABEL_NAMED = {"Namespace"}
_DNS1035_NAMED = {"Service"}


def go_repr(value: Any) -> str:
    """Go's %#v of a label map, the shape upstream prints in Invalid value messages."""
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + inner + "}"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value)


def invalid_value(path: str, value: Any, detail: str) -> dict[str, str]:
    return field_cause(path, f"Invalid value: {go_repr(value)}: {detail}")


def required(path: str) -> dict[str, str]:
    return field_cause(path, "Required value", "FieldValueRequired")


def forbidden(path: str, detail: str) -> dict[str, str]:
    return field_cause(path, f"Forbidden: {detail}", "FieldValueForbidden")


def not_supported(path: str, value: Any, supported: list[str]) -> dict[str, str]:
    values = ", ".join(json.dumps(s) for s in supported)
    return field_cause(
        path, f"Unsupported value: {json.dumps(value)}: supported values: {values}", "FieldValueNotSupported"
    )


def _name_causes(kind: str, name: str, path: str = "metadata.name") -> list[dict[str, str]]:
    if not name:
        return [field_cause(path, "Required value: name or generateName is required", "FieldValueRequired")]
    if kind in _DNS1035_NAMED:
        if len(name) > 63 or not DNS1035_LABEL.match(name):
            return [invalid_value(path, name, DNS1035_MSG)]
    elif kind in _LABEL_NAMED:
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            return [invalid_value(path, name, LABEL_MSG)]
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return [invalid_value(path, name, SUBDOMAIN_MSG)]
    return []


_LABEL_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _label_causes(labels: Any, path: str) -> list[dict[str, str]]:
    causes: list[dict[str, str]] = []
    if not isinstance(labels, dict):
        return causes
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not DNS1123_SUBDOMAIN.match(prefix)) or len(name) > 63 or not _LABEL_KEY.match(name):
            causes.append(
                invalid_value(
                    path,
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                invalid_value(
                    f"{path}",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    return causes


def _container_causes(containers: Any, path: str, need_one: bool) -> list[dict[str, str]]:
    if not containers:
        return [required(path)] if need_one else []
    causes: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        p = f"{path}[{i}]"
        name = c.get("name") or ""
        if not name:
            causes.append(required(f"{p}.name"))
        elif not DNS1123_LABEL.match(name) or len(name) > 63:
            causes.append(invalid_value(f"{p}.name", name, LABEL_MSG))
        elif name in seen:
            causes.append(field_cause(f"{p}.name", f"Duplicate value: {json.dumps(name)}", "FieldValueDuplicate"))
        seen.add(name)
        if not c.get("image"):
            causes.append(required(f"{p}.image"))
        policy = c.get("imagePullPolicy")
        if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
            causes.append(not_supported(f"{p}.imagePullPolicy", policy, ["Always", "IfNotPresent", "Never"]))
    return causes


def pod_spec_causes(spec: dict[str, Any], path: str) -> list[dict[str, str]]:
    causes = _container_causes(spec.get("containers"), f"{path}.containers", True)
    causes += _container_causes(spec.get("initContainers"), f"{path}.initContainers", False)
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in ("Always", "OnFailure", "Never"):
        causes.append(not_supported(f"{path}.restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):
        causes.append(
            not_supported(f"{path}.dnsPolicy", dns, ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"])
        )
    return causes


def _workload_causes(obj: dict[str, Any], need_selector: bool = True) -> list[dict[str, str]]:
    spec = obj.get("spec") or {}
    causes: list[dict[str, str]] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(invalid_value("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if need_selector and not selector:
        causes.append(required("spec.selector"))
    elif selector is not None:
        if not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(invalid_value("spec.selector", selector, "empty selector is invalid for deployment"))
        elif not match_label_selector(selector, labels):
            causes.append(
                invalid_value("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
            )
    causes += _label_causes(labels, "spec.template.metadata.labels")
    causes += pod_spec_causes(template.get("spec") or {}, "spec.template.spec")
    rp = (template.get("spec") or {}).get("restartPolicy")
    if rp not in (None, "Always"):
        causes.append(not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
    return causes


def _service_causes(obj: dict[str, Any]) -> list[dict[str, str]]:
    spec = obj.get("spec") or {}
    causes: list[dict[str, str]] = []
    stype = spec.get("type", "ClusterIP")
    types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    if stype not in types:
        causes.append(not_supported("spec.type", stype, types))
    ports = spec.get("ports") or []
    if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        if len(ports) > 1 and not port.get("name"):
            causes.append(required(f"{p}.name"))
        if port.get("name") in names:
            causes.append(
                field_cause(f"{p}.name", f"Duplicate value: {json.dumps(port['name'])}", "FieldValueDuplicate")
            )
        names.add(port.get("name"))
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(invalid_value(f"{p}.port", number, "must be between 1 and 65535, inclusive"))
        proto = port.get("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            causes.append(not_supported(f"{p}.protocol", proto, ["SCTP", "TCP", "UDP"]))
        node_port = port.get("nodePort")
        if node_port is not None and stype == "ClusterIP":
            causes.append(forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
    return causes


def _pod_causes(obj: dict[str, Any]) -> list[dict[str, str]]:
    return pod_spec_causes(obj.get("spec") or {}, "spec")


_KIND_RULES = {
    ("", "Pod"): _pod_causes,
    ("", "Service"): _service_causes,
    ("apps", "Deployment"): _workload_causes,
    ("apps", "ReplicaSet"): _workload_causes,
    ("apps", "StatefulSet"): _workload_causes,
    ("apps", "DaemonSet"): _workload_causes,
}

# Fields that may not change after create, per kind (upstream's ValidateUpdate).
IMMUTABLE: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("apps", "Deployment"): (("spec", "selector"),),
    ("apps", "ReplicaSet"): (("spec", "selector"),),
    ("apps", "DaemonSet"): (("spec", "selector"),),
    ("apps", "StatefulSet"): (("spec", "selector"), ("spec", "serviceName"), ("spec", "volumeClaimTemplates")),
    ("", "PersistentVolumeClaim"): (("spec", "storageClassName"), ("spec", "accessModes")),
    ("", "Service"): (("spec", "clusterIP"),),
    ("", "Pod"): (("spec", "nodeName"),),
    ("", "ConfigMap"): (),
}


def _dig(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _update_causes(resource: Resource, obj: dict[str, Any], old: dict[str, Any]) -> list[dict[str, str]]:
    causes: list[dict[str, str]] = []
    for path in IMMUTABLE.get((resource.group, resource.kind), ()):
        before, after = _dig(old, path), _dig(obj, path)
        if before is not None and before != after:
            causes.append(invalid_value(".".join(path), after, "field is immutable"))
    if resource.kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for key in ("data", "binaryData", "stringData"):
            if old.get(key) != obj.get(key) and not (key == "stringData"):
                causes.append(forbidden(key, "field is immutable when `immutable` is set"))
    if resource.kind == "Pod":
        causes += _pod_update_causes(obj, old)
    return causes


def _pod_update_causes(obj: dict[str, Any], old: dict[str, Any]) -> list[dict[str, str]]:
    """Pod spec updates may only change images, activeDeadlineSeconds and added tolerations."""
    a, b = json.loads(json.dumps(old.get("spec") or {})), json.loads(json.dumps(obj.get("spec") or {}))
    for spec in (a, b):
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                c.pop("image", None)
        spec.pop("activeDeadlineSeconds", None)
        spec.pop("tolerations", None)
        spec.pop("terminationGracePeriodSeconds", None)
    if a != b:
        return [
            forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                "(allow it to be set to 1 if it was previously negative)",
            )
        ]
    return []


def validate(resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Raise 422 Invalid with every cause found, as upstream aggregates its field errors."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    causes = _name_causes(resource.kind, name)
    if resource.namespaced:
        ns = meta.get("namespace") or ""
        if not ns:
            causes.append(required("metadata.namespace"))
    causes += _label_causes(meta.get("labels"), "metadata.labels")
    rule = _KIND_RULES.get((resource.group, resource.kind))
    if rule is not None:
        causes += rule(obj)
    if old is not None:
        causes += _update_causes(resource, obj, old)
    if causes:
        raise invalid(resource.group, resource.kind, name, causes)

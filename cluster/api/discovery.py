"""Discovery documents (``/api``, ``/apis``, each group version, ``/version``), as a real apiserver serves them."""

from __future__ import annotations

from typing import Any

from cluster.api import registry

GIT_VERSION = "v1.32.0"


def version() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"{GIT_VERSION}+kubeglass",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(group: str) -> dict[str, Any]:
    versions = sorted({r.version for r in registry.RESOURCES if r.group == group})
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in registry.groups()]}


def api_group(group: str) -> dict[str, Any] | None:
    if group not in registry.groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group)}


def _entry(r: registry.Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.name,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    entry["storageVersionHash"] = ""
    return entry


_SUBRESOURCE_KINDS = {
    "status": (None, ("get", "patch", "update")),
    "scale": (("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "binding": (("", "v1", "Binding"), ("create",)),
    "eviction": (("policy", "v1", "Eviction"), ("create",)),
    "log": (("", "v1", "Pod"), ("get",)),
    "finalize": (None, ("update",)),
    "proxy": (("", "v1", "NodeProxyOptions"), ("create", "delete", "get", "patch", "update")),
}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    out: list[dict[str, Any]] = []
    for r in resources:
        out.append(_entry(r))
        for sub in r.subresources:
            gvk, verbs = _SUBRESOURCE_KINDS[sub]
            item: dict[str, Any] = {
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": gvk[2] if gvk else r.kind,
                "verbs": list(verbs),
            }
            if gvk and gvk[0] != r.group:
                item["group"] = gvk[0]
                item["version"] = gvk[1]
            out.append(item)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}

"""OpenAPI v2 and v3 documents built from the official schemas.

kubectl reads them to compute client-side apply patches (merge keys), to explain
fields, and to learn that the server validates fields itself (``fieldValidation``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from cluster.api import registry
from cluster.api import schema as schemas

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _convert(node: Any, ref_prefix: str, v3: bool) -> Any:
    """JSON-schema style (``type: [t, null]``, ``$defs``) to OpenAPI style."""
    if isinstance(node, list):
        return [_convert(n, ref_prefix, v3) for n in node]
    if not isinstance(node, dict):
        return node
    if "oneOf" in node and len(node) <= 2:
        types = schemas.types_of(node)
        if types == {"string", "integer"}:
            return {"x-kubernetes-int-or-string": True} if v3 else {"type": "string", "format": "int-or-string"}
        return {"type": "string"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            name = schemas.ref_name(node)
            out["$ref"] = ref_prefix + name if name else value
        elif key == "type" and isinstance(value, list):
            real = [t for t in value if t != "null"]
            if real:
                out["type"] = real[0]
        elif key == "additionalProperties" and value is False:
            continue
        elif key in ("properties",):
            out[key] = {k: _convert(v, ref_prefix, v3) for k, v in value.items()}
        else:
            out[key] = _convert(value, ref_prefix, v3)
    if v3 and "$ref" in out and len(out) > 1:
        # OpenAPI v3.0 ignores siblings of $ref; upstream wraps the ref in allOf.
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def _closure(names: list[str]) -> list[str]:
    defs = schemas.definitions()
    seen: set[str] = set()
    stack = list(names)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = schemas.ref_name(node)
            if name and name not in seen:
                stack.append(name)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    while stack:
        n = stack.pop()
        if n in seen or n not in defs:
            continue
        seen.add(n)
        walk(defs[n])
    return sorted(seen)


_META_DEFS = (
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
)


def _kind_defs(resources: list[registry.Resource]) -> list[str]:
    names = list(_META_DEFS)
    for r in resources:
        for kind in (r.kind, f"{r.kind}List"):
            name = schemas.definition_name(r.group, r.version, kind)
            if name:
                names.append(name)
    return names


def _operation(r: registry.Resource, verb: str, ref_prefix: str, v3: bool) -> dict[str, Any]:
    params = [
        {"name": p, "in": "query", "schema": {"type": "string"}} if v3 else {"name": p, "in": "query", "type": "string"}
        for p in _QUERY_PARAMS
    ]
    op: dict[str, Any] = {
        "operationId": f"{verb}{r.kind}",
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": params,
    }
    name = schemas.definition_name(r.group, r.version, r.kind)
    if name:
        if v3:
            op["responses"] = {"200": {"content": {"application/json": {"schema": {"$ref": ref_prefix + name}}}}}
        else:
            op["responses"] = {"200": {"schema": {"$ref": ref_prefix + name}}}
    return op


def _paths(resources: list[registry.Resource], ref_prefix: str, v3: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for r in resources:
        if r.kind == "Binding":
            continue
        base = f"/api/{r.version}" if not r.group else f"/apis/{r.group}/{r.version}"
        coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
        paths[coll] = {"get": _operation(r, "list", ref_prefix, v3), "post": _operation(r, "post", ref_prefix, v3)}
        paths[f"{coll}/{{name}}"] = {
            "get": _operation(r, "get", ref_prefix, v3),
            "put": _operation(r, "put", ref_prefix, v3),
            "patch": _operation(r, "patch", ref_prefix, v3),
            "delete": _operation(r, "delete", ref_prefix, v3),
        }
    return paths


@functools.cache
def v2_bytes() -> bytes:
    defs = schemas.definitions()
    ref = "#/definitions/"
    names = _closure(_kind_defs(list(registry.RESOURCES)))
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": _paths(list(registry.RESOURCES), ref, False),
        "definitions": {n: _convert(defs[n], ref, False) for n in names},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def group_versions() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for r in registry.RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


@functools.cache
def v3_bytes(group: str, version: str) -> bytes:
    defs = schemas.definitions()
    ref = "#/components/schemas/"
    resources = registry.resources_in(group, version)
    names = _closure(_kind_defs(resources))
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": _paths(resources, ref, True),
        "components": {"schemas": {n: _convert(defs[n], ref, True) for n in names}},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@functools.cache
def v3_hash(group: str, version: str) -> str:
    return hashlib.sha512(v3_bytes(group, version)).hexdigest().upper()


def v3_index(prefix: str) -> dict[str, Any]:
    return {
        "paths": {
            gv_path(g, v): {"serverRelativeURL": f"{prefix}/openapi/v3/{gv_path(g, v)}?hash={v3_hash(g, v)}"}
            for g, v in group_versions()
        }
    }

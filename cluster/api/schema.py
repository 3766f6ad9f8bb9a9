"""The official Kubernetes schemas, as shipped by kubernetes-validate.

One copy of the definitions serves validation, OpenAPI documents and patch
merge keys, so the three can never disagree.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_VERSION = "v1.32.0"
REF_PREFIX = "#/$defs/"


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """All definitions keyed by their OpenAPI name, e.g. ``io.k8s.api.core.v1.Pod``."""
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"{SCHEMA_VERSION}-local-strict"
    with (root / "_definitions.json").open() as fh:
        return json.load(fh)["$defs"]


@functools.cache
def gvk_index() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, from ``x-kubernetes-group-version-kind``."""
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition name for a group/version/kind, or None when the schemas have none."""
    return gvk_index().get((group, version, kind))


def ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return ref[len(REF_PREFIX) :]
    return None


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` (possibly chained) to the schema it names."""
    seen = 0
    while (name := ref_name(schema)) is not None and seen < 32:
        schema = definitions()[name]
        seen += 1
    return schema


def types_of(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows, without ``null``."""
    schema = resolve(schema)
    t = schema.get("type")
    if isinstance(t, str):
        return {t} - {"null"}
    if isinstance(t, list):
        return set(t) - {"null"}
    if "oneOf" in schema:
        out: set[str] = set()
        for alt in schema["oneOf"]:
            out |= types_of(alt)
        return out
    return set()


def child(schema: dict[str, Any], key: str | None) -> dict[str, Any] | None:
    """The schema of a field (``key``) of an object, or of the items of an array (``key=None``)."""
    schema = resolve(schema)
    if key is None:
        items = schema.get("items")
        return resolve(items) if isinstance(items, dict) else None
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return None

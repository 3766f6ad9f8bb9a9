"""runtime.RawExtension fields, served byte for byte as they were written.

A ControllerRevision's ``data`` is raw JSON to its readers: ``kubectl rollout undo`` compares
it byte for byte with the patch it computes (Go's ``json.Marshal``, keys sorted). PostgreSQL's
jsonb keeps no key order, so the object is put back into sorted order before it is served.
"""

from __future__ import annotations

from typing import Any


def sorted_keys(value: Any) -> Any:
    """``value`` with every object's keys in sorted order, as Go's encoding/json writes a map."""
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


def canonical(body: Any) -> Any:
    """``body`` (an object or a list of them) with every ControllerRevision's ``data`` in sorted key order."""
    if not isinstance(body, dict):
        return body
    kind = body.get("kind")
    if kind == "ControllerRevision" and isinstance(body.get("data"), dict):
        return {**body, "data": sorted_keys(body["data"])}
    if kind == "ControllerRevisionList" and isinstance(body.get("items"), list):
        items = [
            {**i, "data": sorted_keys(i["data"])} if isinstance(i, dict) and isinstance(i.get("data"), dict) else i
            for i in body["items"]
        ]
        return {**body, "items": items}
    return body

"""Decoding a request body against the official schema, as the apiserver's JSON decoder would.

A wrong type fails like Go's ``encoding/json``; unknown fields are dropped and,
under ``fieldValidation=Strict``, reported as a strict decoding error.
"""

from __future__ import annotations

import re
from typing import Any

from cluster.api import schema as schemas
from cluster.api.errors import StatusError

_GO_TYPES = {"string": "string", "boolean": "bool", "number": "float64", "object": "map[string]interface {}"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _go_type(sch: dict[str, Any], name: str | None) -> str:
    if name:
        short = name.rsplit(".", 1)[-1]
        if short in ("Quantity",):
            return "resource.Quantity"
        if short == "IntOrString":
            return "intstr.IntOrString"
        if short == "Time":
            return "v1.Time"
        return f"v1.{short}" if schemas.resolve(sch).get("properties") else _go_type(schemas.resolve(sch), None)
    types = schemas.types_of(sch)
    if "integer" in types:
        return "int64" if sch.get("format") == "int64" else "int32"
    if "array" in types:
        items = sch.get("items") or {}
        return "[]" + _go_type(items, schemas.ref_name(items))
    if "object" in types and not sch.get("properties"):
        extra = sch.get("additionalProperties")
        if isinstance(extra, dict):
            return "map[string]" + _go_type(extra, schemas.ref_name(extra))
    for t in types:
        return _GO_TYPES.get(t, t)
    return "interface {}"


class Decoder:
    """Walks one object with its schema, collecting unknown fields and the first type error."""

    def __init__(self, kind: str, version: str) -> None:
        self.kind = kind
        self.version = version
        self.unknown: list[str] = []

    def type_error(self, value: Any, struct: str, path: str, go_type: str) -> StatusError:
        go_path = re.sub(r"\[[^\]]*\]", "", path)
        where = f"Go struct field {struct}.{go_path}" if struct else "Go value"
        return StatusError(
            400,
            "BadRequest",
            f'{self.kind} in version "{self.version}" cannot be handled as a {self.kind}: '
            f"json: cannot unmarshal {_json_type(value)} into {where} of type {go_type}",
        )

    def decode(self, value: Any, sch: dict[str, Any], path: str, struct: str) -> Any:
        """Return ``value`` with unknown fields removed; raise on a type mismatch."""
        name = schemas.ref_name(sch)
        resolved = schemas.resolve(sch)
        if value is None:
            return None
        if "oneOf" in resolved:
            allowed = schemas.types_of(resolved)
            jt = _json_type(value)
            ok = (jt == "string" and "string" in allowed) or (
                jt == "number" and ({"integer", "number"} & allowed) and (isinstance(value, int) or "number" in allowed)
            )
            if not ok:
                raise self.type_error(value, struct, path, _go_type(sch, name))
            return value
        types = schemas.types_of(resolved)
        if not types:
            return value
        jt = _json_type(value)
        if "object" in types and jt == "object":
            props = resolved.get("properties")
            if props is None:
                extra = resolved.get("additionalProperties")
                if isinstance(extra, dict):
                    return {k: self.decode(v, extra, f"{path}[{k}]" if path else k, struct) for k, v in value.items()}
                return value
            child_struct = name.rsplit(".", 1)[-1] if name else struct
            out: dict[str, Any] = {}
            for k, v in value.items():
                sub = f"{path}.{k}" if path else k
                if k not in props:
                    self.unknown.append(sub)
                    continue
                out[k] = self.decode(v, props[k], sub, child_struct if name else struct)
            return out
        if "array" in types and jt == "array":
            items = resolved.get("items") or {}
            return [self.decode(v, items, f"{path}[{i}]", struct) for i, v in enumerate(value)]
        if "integer" in types and jt == "number":
            if isinstance(value, float) and not value.is_integer():
                raise self.type_error(value, struct, path, _go_type(resolved, None))
            return int(value)
        if "number" in types and jt == "number":
            return value
        if "string" in types and jt == "string":
            return value
        if "boolean" in types and jt == "bool":
            return value
        raise self.type_error(value, struct, path, _go_type(sch, name))


def decode(group: str, version: str, kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The decoded object and the unknown field paths that were dropped from it."""
    def_name = schemas.definition_name(group, version, kind)
    if def_name is None:
        return body, []
    dec = Decoder(kind, version)
    out = dec.decode(body, {"$ref": schemas.REF_PREFIX + def_name}, "", "")
    return out, dec.unknown


def strict_error(kind: str, version: str, unknown: list[str]) -> StatusError:
    fields = ", ".join(f'unknown field "{u}"' for u in unknown)
    return StatusError(
        400,
        "BadRequest",
        f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}',
    )

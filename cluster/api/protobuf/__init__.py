"""Decoding Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) into JSON form.

kubectl's typed clients (``kubectl create namespace``, ``create deployment``, ``drain``'s
evictions) send protobuf. Responses are always JSON, which every client accepts.
The field table comes from upstream's generated.proto (see the ``protofields`` command).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import struct
from importlib import resources
from typing import Any

MAGIC = b"k8s\x00"
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_PACKAGES = {
    "": "k8s.io.api.core",
    "apps": "k8s.io.api.apps",
    "discovery.k8s.io": "k8s.io.api.discovery",
    "networking.k8s.io": "k8s.io.api.networking",
    "storage.k8s.io": "k8s.io.api.storage",
    "coordination.k8s.io": "k8s.io.api.coordination",
    "policy": "k8s.io.api.policy",
    "autoscaling": "k8s.io.api.autoscaling",
    "meta.k8s.io": META.rsplit(".", 1)[0],
}


class ProtobufError(ValueError):
    pass


@functools.cache
def _table() -> dict[str, Any]:
    with (resources.files(__package__) / "fields.json").open() as fh:
        return json.load(fh)


def messages() -> dict[str, dict[str, list[str]]]:
    return _table()["messages"]


@functools.cache
def omitzero(name: str) -> frozenset[int]:
    """Field numbers of the message's non-pointer bools and numbers, which Go's JSON omits at zero.

    Go's protobuf encoder writes them even when zero (``stdin: false``, ``generation: 0``); a
    pointer field written as zero was set to zero, and stays.
    """
    return frozenset(_table().get("omitzero", {}).get(name, ()))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ProtobufError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) in order."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ProtobufError("truncated length-delimited field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind == "string":
        return raw.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "bool":
        return bool(raw)
    if kind in ("int32", "int64"):
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind in ("uint32", "uint64"):
        return raw
    if kind == "double":
        return struct.unpack("<d", raw)[0]
    if kind == "float":
        return struct.unpack("<f", raw)[0]
    raise ProtobufError(f"unsupported scalar {kind}")


def _special(name: str, value: dict[str, Any]) -> Any:
    """Types whose JSON form is not their message form."""
    short = name.rsplit(".", 1)[-1]
    if name in (f"{META}.Time", f"{META}.MicroTime"):
        seconds = value.get("seconds", 0)
        if not seconds and not value.get("nanos"):
            return None
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if short == "Quantity":
        return value.get("string", "0")
    if short == "IntOrString":
        return value.get("strVal", "") if value.get("type") == 1 else value.get("intVal", 0)
    if short in ("RawExtension", "FieldsV1"):
        raw = base64.b64decode(value.get("raw", "")) if value.get("raw") else b""
        return json.loads(raw) if raw else None
    if name == f"{META}.Duration":
        return f"{value.get('duration', 0) / 1e9:g}s"
    return value


def _message(name: str, buf: bytes, depth: int = 0) -> Any:
    if depth > 100:
        raise ProtobufError("message nested too deeply")
    table = messages().get(name)
    if table is None:
        raise ProtobufError(f"unknown message type {name}")
    out: dict[str, Any] = {}
    zeros = omitzero(name)
    for number, wire, raw in _fields(buf):
        spec = table.get(str(number))
        if spec is None:
            continue
        field, label, kind = spec[0], spec[1], spec[2]
        if label == "map":
            entry = {n: (w, r) for n, w, r in _fields(raw)}
            key = _value(kind, *entry[1], depth) if 1 in entry else ""
            val = _value(spec[3], *entry[2], depth) if 2 in entry else _empty(spec[3])
            out.setdefault(field, {})[key] = val
            continue
        if label == "repeated" and wire == 2 and kind in ("int32", "int64", "bool"):
            # Packed repeated scalars.
            pos, items = 0, []
            while pos < len(raw):
                v, pos = _varint(raw, pos)
                items.append(_scalar(kind, 0, v))
            out.setdefault(field, []).extend(items)
            continue
        value = _value(kind, wire, raw, depth)
        if number in zeros and type(value) in (bool, int, float) and not value:
            continue
        if label == "repeated":
            out.setdefault(field, []).append(value)
        else:
            out[field] = value
    return _special(name, out)


def _empty(kind: str) -> Any:
    return "" if kind in ("string", "bytes") else {}


def _value(kind: str, wire: int, raw: Any, depth: int) -> Any:
    if "." in kind:
        return _message(kind, raw, depth + 1)
    return _scalar(kind, wire, raw)


def _prune(value: Any) -> Any:
    """Drop the empty strings, lists and maps Go's encoder writes for unset non-pointer fields."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a ``k8s\\0``-framed protobuf object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    envelope = {n: r for n, _, r in _fields(body[len(MAGIC) :])}
    type_meta = {n: r.decode() for n, _, r in _fields(envelope.get(1, b""))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    group, _, version = api_version.rpartition("/")
    package = _PACKAGES.get(group)
    if package is None or not kind:
        raise ProtobufError(f"no protobuf schema for {api_version} {kind}")
    obj = _prune(_message(f"{package}.{version}.{kind}", envelope.get(2, b"")))
    if not isinstance(obj, dict):
        raise ProtobufError("the protobuf body is not an object")
    return {"apiVersion": api_version, "kind": kind, **obj}

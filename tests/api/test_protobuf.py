"""Decoding kubectl's protobuf bodies into the JSON a Go apiserver would answer with."""

from __future__ import annotations

from cluster.api import protobuf

CORE, APPS = "k8s.io.api.core.v1", "k8s.io.api.apps.v1"
META = "k8s.io.apimachinery.pkg.apis.meta.v1"


def _number(message: str, field: str) -> int:
    table = protobuf.messages()[message]
    return next(int(n) for n, spec in table.items() if spec[0] == field)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(message: str, name: str, value: bool | int | str | bytes) -> bytes:
    """One field as Go's generated Marshal writes it (numbers and bools always, even at zero)."""
    number = _number(message, name)
    if isinstance(value, bool | int):
        return _varint(number << 3) + _varint(int(value))
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _deployment() -> bytes:
    container = (
        _field(f"{CORE}.Container", "name", "web")
        + _field(f"{CORE}.Container", "image", "nginx:1.27")
        + _field(f"{CORE}.Container", "stdin", False)
        + _field(f"{CORE}.Container", "tty", False)
    )
    pod_spec = (
        _field(f"{CORE}.PodSpec", "containers", container)
        + _field(f"{CORE}.PodSpec", "hostPID", False)
        + _field(f"{CORE}.PodSpec", "automountServiceAccountToken", False)
    )
    template = _field(f"{CORE}.PodTemplateSpec", "metadata", _field(f"{META}.ObjectMeta", "generation", 0))
    template += _field(f"{CORE}.PodTemplateSpec", "spec", pod_spec)
    spec = (
        _field(f"{APPS}.DeploymentSpec", "replicas", 0)
        + _field(f"{APPS}.DeploymentSpec", "template", template)
        + _field(f"{APPS}.DeploymentSpec", "minReadySeconds", 0)
        + _field(f"{APPS}.DeploymentSpec", "paused", False)
    )
    meta = _field(f"{META}.ObjectMeta", "name", "web") + _field(f"{META}.ObjectMeta", "generation", 0)
    obj = _field(f"{APPS}.Deployment", "metadata", meta) + _field(f"{APPS}.Deployment", "spec", spec)
    type_meta = _varint(1 << 3 | 2) + _varint(7) + b"apps/v1" + _varint(2 << 3 | 2) + _varint(10) + b"Deployment"
    envelope = _varint(1 << 3 | 2) + _varint(len(type_meta)) + type_meta
    return protobuf.MAGIC + envelope + _varint(2 << 3 | 2) + _varint(len(obj)) + obj


def test_zero_bools_and_numbers_go_omits_are_dropped_and_zero_pointers_kept() -> None:
    """`stdin: false` must not reach the store: a template decoded from protobuf would then differ
    from the same template sent as JSON (by `kubectl rollout undo`), and the Deployment would
    make a new ReplicaSet instead of going back to the old one."""
    obj = protobuf.decode(_deployment())
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    assert obj["metadata"] == {"name": "web"}
    spec = obj["spec"]
    assert spec["replicas"] == 0  # *int32: a zero that was set
    assert "minReadySeconds" not in spec and "paused" not in spec
    template = spec["template"]
    assert "generation" not in (template.get("metadata") or {})
    pod_spec = template["spec"]
    assert "hostPID" not in pod_spec
    assert pod_spec["automountServiceAccountToken"] is False  # *bool
    assert pod_spec["containers"] == [{"name": "web", "image": "nginx:1.27"}]


def test_the_omitzero_table_knows_pointers_from_values() -> None:
    container = protobuf.omitzero(f"{CORE}.Container")
    assert _number(f"{CORE}.Container", "stdin") in container
    pod_spec = protobuf.omitzero(f"{CORE}.PodSpec")
    assert _number(f"{CORE}.PodSpec", "hostNetwork") in pod_spec
    assert _number(f"{CORE}.PodSpec", "automountServiceAccountToken") not in pod_spec
    assert _number(f"{CORE}.PodSpec", "terminationGracePeriodSeconds") not in pod_spec

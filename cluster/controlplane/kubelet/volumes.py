"""The volume manager's answer for a pod: can every volume be set up now, and if not, why.

Upstream ``pkg/kubelet/volumemanager``: the desired-state populator turns each pod
volume into a spec (a PVC must be bound first), the reconciler mounts them, retrying a
failed ``MountVolume.SetUp`` with exponential back-off (500 ms doubling to 2m2s) and a
``FailedMount`` event each time; the pod worker waits at most 2m3s
(``podAttachAndMountTimeout``) and reports what is still missing, then tries again.
emptyDir, hostPath, downwardAPI and the service account token always succeed. The
``kube-root-ca.crt`` ConfigMap in a projected token volume is taken as published
(kube-controller-manager's root-ca-cert-publisher keeps it in every namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ATTACH_AND_MOUNT_TIMEOUT = 123.0
MOUNT_RETRY_INITIAL = 0.5
MOUNT_RETRY_MAX = 122.0
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"

Getter = Callable[[str, str], dict[str, Any] | None]


@dataclass
class VolumeCheck:
    """Which volumes are ready, which failed to set up (with the event message), which wait on a PVC."""

    mounted: list[str] = field(default_factory=list)
    setup_errors: list[tuple[str, str]] = field(default_factory=list)
    unprocessed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.setup_errors and not self.unprocessed

    def timeout_message(self) -> str:
        """The FailedMount message after podAttachAndMountTimeout."""
        unmounted = sorted([n for n, _ in self.setup_errors] + [n for n, _ in self.unprocessed])
        unprocessed = sorted(n for n, _ in self.unprocessed)
        return (
            f"Unable to attach or mount volumes: unmounted volumes=[{' '.join(unmounted)}], "
            f"unattached volumes=[], failed to process volumes=[{' '.join(unprocessed)}]: "
            "timed out waiting for the condition"
        )


def _missing_keys(data_obj: dict[str, Any], items: list[dict[str, Any]] | None) -> list[str]:
    data = set((data_obj.get("data") or {}).keys()) | set((data_obj.get("binaryData") or {}).keys())
    data |= set((data_obj.get("stringData") or {}).keys())
    return [str(i.get("key")) for i in items or [] if i.get("key") not in data]


def _source_error(kind: str, src: dict[str, Any], namespace: str, get: Getter) -> str | None:
    """Why a configMap/secret source cannot be set up, or None."""
    name = src.get("name") if kind == "configmap" else src.get("secretName", src.get("name"))
    if not name:
        return None
    obj = get(namespace, str(name))
    if obj is None:
        if src.get("optional"):
            return None
        return f'{kind} "{name}" not found'
    missing = _missing_keys(obj, src.get("items"))
    if missing and not src.get("optional"):
        return f"{kind} references non-existent {'config' if kind == 'configmap' else 'secret'} key: {missing[0]}"
    return None


def check(pod: dict[str, Any], configmap: Getter, secret: Getter, pvc: Getter) -> VolumeCheck:
    """Check every volume of ``pod`` against the objects the kubelet can read."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    out = VolumeCheck()
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = str(vol.get("name", ""))
        error: str | None = None
        if isinstance(vol.get("configMap"), dict):
            error = _source_error("configmap", vol["configMap"], namespace, configmap)
        elif isinstance(vol.get("secret"), dict):
            error = _source_error("secret", vol["secret"], namespace, secret)
        elif isinstance(vol.get("projected"), dict):
            for source in vol["projected"].get("sources") or []:
                if isinstance(source.get("configMap"), dict):
                    if source["configMap"].get("name") == ROOT_CA_CONFIGMAP:
                        continue
                    error = _source_error("configmap", source["configMap"], namespace, configmap)
                elif isinstance(source.get("secret"), dict):
                    error = _source_error("secret", source["secret"], namespace, secret)
                if error:
                    break
        elif isinstance(vol.get("persistentVolumeClaim"), dict):
            claim = str(vol["persistentVolumeClaim"].get("claimName", ""))
            obj = pvc(namespace, claim)
            if obj is None:
                out.unprocessed.append(
                    (
                        name,
                        f'error processing PVC {namespace}/{claim}: failed to fetch PVC from API server: persistentvolumeclaims "{claim}" not found',
                    )
                )
                continue
            phase = (obj.get("status") or {}).get("phase")
            if phase != "Bound" or not (obj.get("spec") or {}).get("volumeName"):
                out.unprocessed.append((name, f"error processing PVC {namespace}/{claim}: PVC is not bound"))
                continue
        if error:
            out.setup_errors.append((name, f'MountVolume.SetUp failed for volume "{name}" : {error}'))
        else:
            out.mounted.append(name)
    return out


def references(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap, Secret and PVC the pod's volumes read."""
    out: set[tuple[str, str]] = set()
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        if isinstance(vol.get("configMap"), dict):
            out.add(("ConfigMap", str(vol["configMap"].get("name", ""))))
        if isinstance(vol.get("secret"), dict):
            out.add(("Secret", str(vol["secret"].get("secretName", ""))))
        if isinstance(vol.get("persistentVolumeClaim"), dict):
            out.add(("PersistentVolumeClaim", str(vol["persistentVolumeClaim"].get("claimName", ""))))
        for source in (
            (vol.get("projected") or {}).get("sources") or [] if isinstance(vol.get("projected"), dict) else []
        ):
            if isinstance(source.get("configMap"), dict):
                out.add(("ConfigMap", str(source["configMap"].get("name", ""))))
            if isinstance(source.get("secret"), dict):
                out.add(("Secret", str(source["secret"].get("name", ""))))
    return out

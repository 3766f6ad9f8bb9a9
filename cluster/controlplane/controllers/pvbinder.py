"""The PersistentVolume controller (binder), with the external provisioner it hands claims to.

Upstream ``pkg/controller/volume/persistentvolume`` (``syncClaim``/``syncVolume``):

* an unbound claim gets the smallest Available volume that fits: access modes (the
  smallest superset first), capacity, storageClassName, volumeMode and label selector;
  both sides are written: ``spec.claimRef``/``spec.volumeName``, the
  ``pv.kubernetes.io/bind-completed`` and ``bound-by-controller`` annotations, and phase Bound;
* a claim without a class gets the default StorageClass (retroactive assignment);
* with nothing to bind, a claim of a class is handed to that class's provisioner
  (``volume.kubernetes.io/storage-provisioner``) - at once for ``Immediate``, after the
  scheduler picked a node (``volume.kubernetes.io/selected-node``) for ``WaitForFirstConsumer``;
* when a claim goes, its volume becomes Released; ``Delete`` removes a provisioned volume,
  ``Retain`` keeps it Released.

The provisioner itself (kind's ``rancher.io/local-path`` or any other) is simulated by
``ExternalProvisioner``: it creates ``pvc-<claim uid>`` pre-bound to the claim.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import Any

from django.utils.translation import gettext_noop

from cluster.api import registry
from cluster.api.errors import StatusError
from cluster.controlplane.controller import Controller
from cluster.controlplane.informer import object_key
from cluster.scheduler.quantity import QuantityError, parse_quantity

logger = logging.getLogger(__name__)

COMPONENT = "kube-controller-manager"
EVENT_SOURCE = "persistentvolume-controller"
RESYNC_SECONDS = 15.0  # --pvclaimbinder-sync-period

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
ANN_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
ANN_BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"

NARRATION = {
    "kcm.pv.bound": gettext_noop(
        "The PersistentVolume controller bound claim {namespace}/{claim} to volume {volume} ({capacity})."
    ),
    "kcm.pv.default-class": gettext_noop(
        "Claim {namespace}/{claim} named no StorageClass: the PersistentVolume controller gave it the default, {cls}."
    ),
    "kcm.pv.waiting": gettext_noop(
        "Claim {namespace}/{claim} uses a WaitForFirstConsumer class: no binding until a pod using it is scheduled."
    ),
    "kcm.pv.provisioning": gettext_noop(
        "No volume fits claim {namespace}/{claim}: the PersistentVolume controller asked provisioner {provisioner}."
    ),
    "kcm.pv.provisioned": gettext_noop(
        "Provisioner {provisioner} created volume {volume} for claim {namespace}/{claim}."
    ),
    "kcm.pv.released": gettext_noop(
        "Claim {namespace}/{claim} is gone: volume {volume} is Released (reclaim policy {policy})."
    ),
    "kcm.pv.deleted": gettext_noop("Volume {volume} had reclaim policy Delete: it was deleted with its claim."),
    "kcm.pv.lost": gettext_noop("Claim {namespace}/{claim} lost its volume {volume}: phase Lost."),
}


# --------------------------------------------------------------------------- helpers
def quantity(value: Any) -> int:
    try:
        return parse_quantity(value if value is not None else 0)
    except QuantityError:
        return 0


def claim_class(claim: dict[str, Any]) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation wins, then spec.storageClassName."""
    ann = (claim["metadata"].get("annotations") or {}).get(ANN_BETA_CLASS)
    if ann is not None:
        return ann
    return (claim.get("spec") or {}).get("storageClassName") or ""


def claim_has_class(claim: dict[str, Any]) -> bool:
    return ANN_BETA_CLASS in (claim["metadata"].get("annotations") or {}) or (
        (claim.get("spec") or {}).get("storageClassName") is not None
    )


def volume_class(volume: dict[str, Any]) -> str:
    ann = (volume["metadata"].get("annotations") or {}).get(ANN_BETA_CLASS)
    if ann is not None:
        return ann
    return (volume.get("spec") or {}).get("storageClassName") or ""


def is_default_class(sc: dict[str, Any]) -> bool:
    ann = sc["metadata"].get("annotations") or {}
    return ann.get(ANN_DEFAULT_CLASS) == "true" or ann.get(ANN_BETA_DEFAULT_CLASS) == "true"


def bound_to_claim(volume: dict[str, Any], claim: dict[str, Any]) -> bool:
    """IsVolumeBoundToClaim: claimRef names this claim, with its UID or none yet."""
    ref = (volume.get("spec") or {}).get("claimRef")
    if not ref:
        return False
    meta = claim["metadata"]
    if ref.get("name") != meta["name"] or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref["uid"] == meta.get("uid")


def _mode(spec: dict[str, Any]) -> str:
    return spec.get("volumeMode") or "Filesystem"


def match_selector(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    from cluster.api.selectors import match_label_selector

    return selector is None or match_label_selector(selector, labels or {})


def check_volume_satisfies_claim(volume: dict[str, Any], claim: dict[str, Any]) -> str | None:
    """Why a volume named by the claim cannot serve it, or None (checkVolumeSatisfyClaim)."""
    requested = quantity(((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage"))
    capacity = quantity(((volume.get("spec") or {}).get("capacity") or {}).get("storage"))
    if capacity < requested:
        return "requested PV is too small"
    if volume_class(volume) != claim_class(claim):
        return "storageClassName does not match"
    if _mode(volume.get("spec") or {}) != _mode(claim.get("spec") or {}):
        return "incompatible volumeMode"
    if not set((claim.get("spec") or {}).get("accessModes") or []) <= set(
        (volume.get("spec") or {}).get("accessModes") or []
    ):
        return "incompatible accessMode"
    return None


def find_matching_volume(
    claim: dict[str, Any], volumes: list[dict[str, Any]], delay_binding: bool
) -> dict[str, Any] | None:
    """The volume pre-bound to the claim, else the smallest Available one that fits (FindMatchingVolume)."""
    spec = claim.get("spec") or {}
    requested = quantity((spec.get("resources") or {}).get("requests", {}).get("storage"))
    wanted_class = claim_class(claim)
    smallest: dict[str, Any] | None = None
    smallest_qty = 0
    for volume in volumes:
        vspec = volume.get("spec") or {}
        if vspec.get("claimRef") and not bound_to_claim(volume, claim):
            continue
        qty = quantity((vspec.get("capacity") or {}).get("storage"))
        if qty < requested:
            continue
        if _mode(vspec) != _mode(spec):
            continue
        if volume["metadata"].get("deletionTimestamp"):
            continue
        if bound_to_claim(volume, claim):
            return volume
        if delay_binding:
            continue  # the scheduler binds these, once it has picked a node
        if (volume.get("status") or {}).get("phase") != "Available":
            continue
        if not match_selector(spec.get("selector"), volume["metadata"].get("labels")):
            continue
        if volume_class(volume) != wanted_class:
            continue
        if smallest is None or qty < smallest_qty:
            smallest, smallest_qty = volume, qty
    return smallest


def find_best_match(claim: dict[str, Any], volumes: list[dict[str, Any]], delay_binding: bool) -> dict[str, Any] | None:
    """Search volumes by access-mode set, the smallest superset of the claim's modes first (persistentVolumeOrderedIndex)."""
    wanted = set((claim.get("spec") or {}).get("accessModes") or [])
    by_modes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for volume in volumes:
        modes = frozenset((volume.get("spec") or {}).get("accessModes") or [])
        by_modes.setdefault(modes, []).append(volume)
    candidates = sorted((m for m in by_modes if wanted <= m), key=lambda m: (len(m), sorted(m)))
    for modes in candidates:
        found = find_matching_volume(claim, by_modes[modes], delay_binding)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- the PV controller
class PersistentVolumeController(Controller):
    component = COMPONENT
    name = "persistentvolume-binder"
    watches = (
        ("", "PersistentVolumeClaim"),
        ("", "PersistentVolume"),
        ("storage.k8s.io", "StorageClass"),
    )
    resync_seconds = RESYNC_SECONDS

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "PersistentVolumeClaim":
            self.queue.add(f"claim/{object_key(obj)}")
            if etype == "DELETED" and (obj.get("spec") or {}).get("volumeName"):
                self.queue.add(f"volume/{obj['spec']['volumeName']}")
        elif kind == "PersistentVolume":
            self.queue.add(f"volume/{obj['metadata']['name']}")
            ref = (obj.get("spec") or {}).get("claimRef")
            if etype == "DELETED" and ref:
                self.queue.add(f"claim/{ref.get('namespace')}/{ref.get('name')}")
        elif etype != "DELETED":
            # A new or changed class may let pending claims move on.
            for claim in self.ctx.lister("", "PersistentVolumeClaim"):
                if (claim.get("status") or {}).get("phase") == "Pending":
                    self.queue.add(f"claim/{object_key(claim)}")

    def resync(self) -> None:
        for claim in self.ctx.lister("", "PersistentVolumeClaim"):
            self.queue.add(f"claim/{object_key(claim)}")
        for volume in self.ctx.lister("", "PersistentVolume"):
            self.queue.add(f"volume/{volume['metadata']['name']}")

    def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition("/")
        if kind == "claim":
            namespace, _, name = rest.partition("/")
            claim = self.ctx.lister("", "PersistentVolumeClaim").get(namespace, name)
            if claim is not None:
                self.sync_claim(claim)
        elif kind == "volume":
            volume = self.ctx.lister("", "PersistentVolume").get(None, rest)
            if volume is not None:
                self.sync_volume(volume)
        return None

    # ------------------------------------------------------------- lookups
    def storage_class(self, name: str) -> dict[str, Any] | None:
        return self.ctx.lister("storage.k8s.io", "StorageClass").get(None, name) if name else None

    def default_class(self) -> dict[str, Any] | None:
        """The default StorageClass; with several, the newest (then by name), as upstream GetDefaultClass."""
        defaults = [sc for sc in self.ctx.lister("storage.k8s.io", "StorageClass") if is_default_class(sc)]
        if not defaults:
            return None
        defaults.sort(key=lambda sc: (sc["metadata"].get("creationTimestamp") or "", sc["metadata"]["name"]))
        return defaults[-1]

    def is_delay_binding(self, claim: dict[str, Any]) -> bool:
        sc = self.storage_class(claim_class(claim))
        return sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"

    def _live_claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        resource = registry.by_kind("", "PersistentVolumeClaim")
        assert resource is not None
        try:
            return self.ctx.api.get(resource, namespace, name)
        except StatusError as err:
            if err.code == 404:
                return None
            raise

    # ------------------------------------------------------------- claims
    def sync_claim(self, claim: dict[str, Any]) -> None:
        if (claim["metadata"].get("annotations") or {}).get(ANN_BIND_COMPLETED) is None:
            self.sync_unbound_claim(claim)
        else:
            self.sync_bound_claim(claim)

    def sync_unbound_claim(self, claim: dict[str, Any]) -> None:
        spec = claim.get("spec") or {}
        volumes = self.ctx.lister("", "PersistentVolume").list()
        if not spec.get("volumeName"):
            delay = self.is_delay_binding(claim)
            volume = find_best_match(claim, volumes, delay)
            if volume is not None:
                self.bind(volume, claim)
                return
            if self.assign_default_class(claim):
                return
            selected = (claim["metadata"].get("annotations") or {}).get(ANN_SELECTED_NODE)
            if delay and not selected:
                self.ctx.event(
                    EVENT_SOURCE,
                    claim,
                    "Normal",
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                )
                self._trace("kcm.pv.waiting", claim)
            elif claim_class(claim):
                self.provision_claim(claim)
                return
            else:
                self.ctx.event(
                    EVENT_SOURCE,
                    claim,
                    "Normal",
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                )
            self.update_claim_status(claim, "Pending", None)
            return
        volume = self.ctx.lister("", "PersistentVolume").get(None, spec["volumeName"])
        if volume is None:
            self.update_claim_status(claim, "Pending", None)
            return
        if not (volume.get("spec") or {}).get("claimRef"):
            why = check_volume_satisfies_claim(volume, claim)
            if why is not None:
                self.ctx.event(
                    EVENT_SOURCE,
                    claim,
                    "Warning",
                    "VolumeMismatch",
                    f'Cannot bind to requested volume "{volume["metadata"]["name"]}": {why}',
                )
                self.update_claim_status(claim, "Pending", None)
                return
            self.bind(volume, claim)
        elif bound_to_claim(volume, claim):
            self.bind(volume, claim)
        elif not (claim["metadata"].get("annotations") or {}).get(ANN_BOUND_BY_CONTROLLER):
            self.ctx.event(
                EVENT_SOURCE,
                claim,
                "Warning",
                "FailedBinding",
                f'volume "{volume["metadata"]["name"]}" already bound to a different claim.',
            )
            self.update_claim_status(claim, "Pending", None)

    def sync_bound_claim(self, claim: dict[str, Any]) -> None:
        name = (claim.get("spec") or {}).get("volumeName")
        if not name:
            self._claim_lost(claim, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
            return
        volume = self.ctx.lister("", "PersistentVolume").get(None, name)
        if volume is None:
            self._claim_lost(claim, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref or ref.get("uid") == claim["metadata"].get("uid"):
            self.bind(volume, claim)
            return
        self._claim_lost(
            claim, "Two claims are bound to the same volume, this one is bound incorrectly", "ClaimMisbound"
        )

    def _claim_lost(self, claim: dict[str, Any], message: str, reason: str = "ClaimLost") -> None:
        if (claim.get("status") or {}).get("phase") == "Lost":
            return
        self.update_claim_status(claim, "Lost", None)
        self.ctx.event(EVENT_SOURCE, claim, "Warning", reason, message)
        self._trace("kcm.pv.lost", claim, volume=(claim.get("spec") or {}).get("volumeName") or "")

    def assign_default_class(self, claim: dict[str, Any]) -> bool:
        """Retroactive default StorageClass assignment for a claim created without a class."""
        if claim_has_class(claim):
            return False
        sc = self.default_class()
        if sc is None:
            return False
        body = copy.deepcopy(claim)
        body.setdefault("spec", {})["storageClassName"] = sc["metadata"]["name"]
        self.ctx.update(COMPONENT, body)
        self._trace("kcm.pv.default-class", claim, cls=sc["metadata"]["name"])
        return True

    def provision_claim(self, claim: dict[str, Any]) -> None:
        """Hand the claim to its class's provisioner (provisionClaimOperation, external path)."""
        cls_name = claim_class(claim)
        sc = self.storage_class(cls_name)
        if sc is None:
            self.ctx.event(
                EVENT_SOURCE,
                claim,
                "Warning",
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{cls_name}" not found',
            )
            self.update_claim_status(claim, "Pending", None)
            return
        provisioner = sc.get("provisioner") or ""
        if provisioner == NO_PROVISIONER:
            self.ctx.event(
                EVENT_SOURCE,
                claim,
                "Warning",
                "ProvisioningFailed",
                f"no volume plugin matched name: {provisioner}",
            )
            self.update_claim_status(claim, "Pending", None)
            return
        annotations = claim["metadata"].get("annotations") or {}
        if (
            annotations.get(ANN_STORAGE_PROVISIONER) != provisioner
            or annotations.get(ANN_BETA_STORAGE_PROVISIONER) != provisioner
        ):
            body = copy.deepcopy(claim)
            ann = body["metadata"].setdefault("annotations", {})
            ann[ANN_STORAGE_PROVISIONER] = provisioner
            ann[ANN_BETA_STORAGE_PROVISIONER] = provisioner
            claim = self.ctx.update(COMPONENT, body).object
            self._trace("kcm.pv.provisioning", claim, provisioner=provisioner)
        self.ctx.event(
            EVENT_SOURCE,
            claim,
            "Normal",
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually "
            "by the system administrator. If volume creation is delayed, please verify that the provisioner is "
            "running and correctly registered.",
        )
        self.update_claim_status(
            self._live_claim(claim["metadata"]["namespace"], claim["metadata"]["name"]) or claim, "Pending", None
        )

    # ------------------------------------------------------------- binding
    def bind(self, volume: dict[str, Any], claim: dict[str, Any]) -> None:
        """Write both halves of the binding, each step only when it changes something."""
        volume = self.bind_volume_to_claim(volume, claim)
        volume = self.update_volume_phase(volume, "Bound")
        claim = self.bind_claim_to_volume(claim, volume)
        was = (claim.get("status") or {}).get("phase")
        self.update_claim_status(claim, "Bound", volume)
        if was != "Bound":
            self._trace(
                "kcm.pv.bound",
                claim,
                volume=volume["metadata"]["name"],
                capacity=((volume.get("spec") or {}).get("capacity") or {}).get("storage", ""),
            )

    def bind_volume_to_claim(self, volume: dict[str, Any], claim: dict[str, Any]) -> dict[str, Any]:
        meta = claim["metadata"]
        set_by_controller = not bound_to_claim(volume, claim)
        body = copy.deepcopy(volume)
        dirty = False
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if (ref.get("name"), ref.get("namespace"), ref.get("uid")) != (meta["name"], meta["namespace"], meta["uid"]):
            body["spec"]["claimRef"] = {
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": meta.get("resourceVersion"),
            }
            dirty = True
        annotations = body["metadata"].setdefault("annotations", {})
        if set_by_controller and ANN_BOUND_BY_CONTROLLER not in annotations:
            annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
            dirty = True
        if not annotations:
            body["metadata"].pop("annotations")
        if not dirty:
            return volume
        return self.ctx.update(COMPONENT, body).object

    def bind_claim_to_volume(self, claim: dict[str, Any], volume: dict[str, Any]) -> dict[str, Any]:
        name = volume["metadata"]["name"]
        body = copy.deepcopy(claim)
        dirty = False
        set_by_controller = (claim.get("spec") or {}).get("volumeName") != name
        if set_by_controller:
            body.setdefault("spec", {})["volumeName"] = name
            dirty = True
        annotations = body["metadata"].setdefault("annotations", {})
        if set_by_controller and ANN_BOUND_BY_CONTROLLER not in annotations:
            annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
            dirty = True
        if ANN_BIND_COMPLETED not in annotations:
            annotations[ANN_BIND_COMPLETED] = "yes"
            dirty = True
        if not dirty:
            return claim
        return self.ctx.update(COMPONENT, body).object

    def update_claim_status(self, claim: dict[str, Any], phase: str, volume: dict[str, Any] | None) -> dict[str, Any]:
        status = copy.deepcopy(claim.get("status") or {})
        dirty = False
        if status.get("phase") != phase:
            status["phase"] = phase
            dirty = True
        if volume is None:
            for key in ("accessModes", "capacity"):
                if key in status:
                    status.pop(key)
                    dirty = True
        else:
            modes = (volume.get("spec") or {}).get("accessModes")
            if status.get("accessModes") != modes:
                status["accessModes"] = modes
                dirty = True
            if (claim.get("status") or {}).get("phase") != phase:
                capacity = (volume.get("spec") or {}).get("capacity") or {}
                have = (status.get("capacity") or {}).get("storage")
                if have is None or quantity(have) != quantity(capacity.get("storage")):
                    status["capacity"] = copy.deepcopy(capacity)
                    dirty = True
        if not dirty:
            return claim
        body = copy.deepcopy(claim)
        body["status"] = status
        return self.ctx.update_status(COMPONENT, body).object

    def update_volume_phase(self, volume: dict[str, Any], phase: str, message: str = "") -> dict[str, Any]:
        status = volume.get("status") or {}
        if status.get("phase") == phase and (status.get("message") or "") == message:
            return volume
        body = copy.deepcopy(volume)
        new_status = body.setdefault("status", {})
        if new_status.get("phase") != phase:
            new_status["lastPhaseTransitionTime"] = self.ctx.timestamp()
        new_status["phase"] = phase
        if message:
            new_status["message"] = message
        else:
            new_status.pop("message", None)
        return self.ctx.update_status(COMPONENT, body).object

    # ------------------------------------------------------------- volumes
    def sync_volume(self, volume: dict[str, Any]) -> None:
        spec = volume.get("spec") or {}
        ref = spec.get("claimRef")
        if not ref or not ref.get("uid"):
            self.update_volume_phase(volume, "Available")
            return
        claim = self.ctx.lister("", "PersistentVolumeClaim").get(ref.get("namespace"), ref.get("name"))
        if claim is None:
            # Not in the cache is not proof: ask the apiserver before releasing anything.
            claim = self._live_claim(ref.get("namespace", ""), ref.get("name", ""))
        if claim is not None and claim["metadata"].get("uid") != ref.get("uid"):
            claim = None
        if claim is None:
            phase = (volume.get("status") or {}).get("phase")
            if phase not in ("Released", "Failed"):
                volume = self.update_volume_phase(volume, "Released")
                self.ctx.trace(
                    COMPONENT,
                    "pvbinder",
                    "kcm.pv.released",
                    {
                        "namespace": ref.get("namespace", ""),
                        "claim": ref.get("name", ""),
                        "volume": volume["metadata"]["name"],
                        "policy": spec.get("persistentVolumeReclaimPolicy", "Retain"),
                    },
                    [{"kind": "PersistentVolume", "name": volume["metadata"]["name"]}],
                )
            self.reclaim_volume(volume)
            return
        claim_volume = (claim.get("spec") or {}).get("volumeName")
        if not claim_volume:
            # The binding is half done (a provisioned volume, or an interrupted bind): the claim sync finishes it.
            self.queue.add(f"claim/{object_key(claim)}")
            return
        if claim_volume == volume["metadata"]["name"]:
            self.update_volume_phase(volume, "Bound")
            return
        annotations = volume["metadata"].get("annotations") or {}
        if ANN_PROVISIONED_BY in annotations and spec.get("persistentVolumeReclaimPolicy") == "Delete":
            if (volume.get("status") or {}).get("phase") not in ("Released", "Failed"):
                volume = self.update_volume_phase(volume, "Released")
            self.reclaim_volume(volume)
            return
        self.unbind_volume(volume)

    def unbind_volume(self, volume: dict[str, Any]) -> None:
        """Undo a binding the claim never completed: drop claimRef if we set it, else just its UID."""
        body = copy.deepcopy(volume)
        annotations = body["metadata"].get("annotations") or {}
        if ANN_BOUND_BY_CONTROLLER in annotations:
            body["spec"].pop("claimRef", None)
            annotations.pop(ANN_BOUND_BY_CONTROLLER)
            if not annotations:
                body["metadata"].pop("annotations", None)
        else:
            body["spec"]["claimRef"].pop("uid", None)
        updated = self.ctx.update(COMPONENT, body).object
        self.update_volume_phase(updated, "Available")

    def reclaim_volume(self, volume: dict[str, Any]) -> None:
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        name = volume["metadata"]["name"]
        if policy == "Retain":
            return
        if policy == "Recycle":
            if (volume.get("status") or {}).get("phase") != "Failed":
                self.ctx.event(
                    EVENT_SOURCE, volume, "Warning", "VolumeFailedRecycle", "No recycler plugin found for the volume!"
                )
                self.update_volume_phase(volume, "Failed", "No recycler plugin found for the volume!")
            return
        if policy != "Delete":
            return
        if ANN_PROVISIONED_BY not in (volume["metadata"].get("annotations") or {}):
            message = f'error getting deleter volume plugin for volume "{name}": no deletable volume plugin matched'
            if (volume.get("status") or {}).get("phase") != "Failed":
                self.ctx.event(EVENT_SOURCE, volume, "Warning", "VolumeFailedDelete", message)
                self.update_volume_phase(volume, "Failed", message)
            return
        # The external provisioner removes the storage, then the PersistentVolume object.
        self.ctx.delete(COMPONENT, "", "PersistentVolume", None, name)
        self.ctx.trace(
            COMPONENT,
            "pvbinder",
            "kcm.pv.deleted",
            {"volume": name},
            [{"kind": "PersistentVolume", "name": name}],
        )

    def _trace(self, message: str, claim: dict[str, Any], **params: Any) -> None:
        meta = claim["metadata"]
        self.ctx.trace(
            COMPONENT,
            "pvbinder",
            message,
            {"namespace": meta.get("namespace", ""), "claim": meta["name"], **params},
            [{"kind": "PersistentVolumeClaim", "namespace": meta.get("namespace", ""), "name": meta["name"]}],
        )


# --------------------------------------------------------------------------- the external provisioner
class ExternalProvisioner(Controller):
    """What a provisioner such as kind's local-path-provisioner does for claims handed to it.

    It watches claims annotated with ``volume.kubernetes.io/storage-provisioner``; for a
    WaitForFirstConsumer class it waits for ``volume.kubernetes.io/selected-node`` and pins
    the new volume to that node. The volume is pre-bound to the claim (claimRef with its UID),
    so the PV controller completes the binding on its next claim sync.
    """

    component = COMPONENT
    name = "external-provisioner"
    watches = (("", "PersistentVolumeClaim"),)
    resync_seconds = RESYNC_SECONDS

    def source_for(self, provisioner: str) -> str:
        """The provisioner's event source: ``<name>_<pod>_<uuid>`` as sig-storage-lib does."""
        digest = hashlib.sha256(f"{self.ctx.cluster.seed}/{provisioner}".encode()).hexdigest()
        short = provisioner.rsplit("/", 1)[-1]
        return f"{provisioner}_{short}-provisioner-{digest[:10]}-{digest[10:15]}_{digest[16:24]}-{digest[24:28]}"

    def reconcile(self, key: str) -> float | None:
        namespace, _, name = key.partition("/")
        claim = self.ctx.lister("", "PersistentVolumeClaim").get(namespace, name)
        if claim is None or (claim.get("spec") or {}).get("volumeName"):
            return None
        annotations = claim["metadata"].get("annotations") or {}
        provisioner = annotations.get(ANN_STORAGE_PROVISIONER) or annotations.get(ANN_BETA_STORAGE_PROVISIONER)
        if not provisioner:
            return None
        sc = self.ctx.lister("storage.k8s.io", "StorageClass").get(None, claim_class(claim))
        if sc is None or sc.get("provisioner") != provisioner:
            return None
        node = annotations.get(ANN_SELECTED_NODE)
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not node:
            return None
        pv_name = f"pvc-{claim['metadata']['uid']}"
        if self.ctx.lister("", "PersistentVolume").get(None, pv_name) is not None:
            return None
        source = self.source_for(provisioner)
        self.ctx.event(
            COMPONENT,
            claim,
            "Normal",
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{namespace}/{name}"',
            source=source,
        )
        try:
            self.ctx.create(COMPONENT, "", "PersistentVolume", None, self.volume_for(claim, sc, provisioner, node))
        except StatusError as err:
            if err.code != 409:
                self.ctx.event(
                    COMPONENT,
                    claim,
                    "Warning",
                    "ProvisioningFailed",
                    f'failed to provision volume with StorageClass "{sc["metadata"]["name"]}": {err.message}',
                    source=source,
                )
                raise
            return None
        self.ctx.event(
            COMPONENT,
            claim,
            "Normal",
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {pv_name}",
            source=source,
        )
        self.ctx.trace(
            COMPONENT,
            "pvbinder",
            "kcm.pv.provisioned",
            {"provisioner": provisioner, "volume": pv_name, "namespace": namespace, "claim": name},
            [
                {"kind": "PersistentVolumeClaim", "namespace": namespace, "name": name},
                {"kind": "PersistentVolume", "name": pv_name},
            ],
        )
        return None

    @staticmethod
    def volume_for(claim: dict[str, Any], sc: dict[str, Any], provisioner: str, node: str | None) -> dict[str, Any]:
        meta = claim["metadata"]
        spec = claim.get("spec") or {}
        pv_name = f"pvc-{meta['uid']}"
        annotations = {ANN_PROVISIONED_BY: provisioner}
        if node and provisioner == LOCAL_PATH_PROVISIONER:
            annotations["local.path.provisioner/selected-node"] = node
        pv_spec: dict[str, Any] = {
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "resourceVersion": meta.get("resourceVersion"),
                "uid": meta["uid"],
            },
            "hostPath": {
                "path": f"/var/local-path-provisioner/{pv_name}_{meta['namespace']}_{meta['name']}",
                "type": "DirectoryOrCreate",
            },
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
        }
        if sc.get("mountOptions"):
            pv_spec["mountOptions"] = list(sc["mountOptions"])
        if node:
            pv_spec["nodeAffinity"] = {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": annotations},
            "spec": pv_spec,
        }


CONTROLLERS = [PersistentVolumeController, ExternalProvisioner]

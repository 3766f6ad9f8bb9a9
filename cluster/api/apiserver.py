"""kube-apiserver: the request pipeline, and the only writer of the store.

authentication -> authorization -> mutating admission -> validation -> etcd.
The HTTP facade and the in-process control loops both call these functions,
so nothing writes the store behind the API server's back.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from cluster import clock, etcd
from cluster.api import admission, allocators, decoding, printers, registry, validation
from cluster.api import schema as schemas
from cluster.api.errors import (
    StatusError,
    already_exists,
    bad_request,
    conflict,
    field_cause,
    invalid,
    not_found,
    stale,
)
from cluster.api.registry import Resource
from cluster.api.selectors import field_predicate, label_predicate
from cluster.jsonutil import clone
from cluster.models import Cluster

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Kinds whose metadata.generation counts spec changes.
DS_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "NetworkPolicy", "Service"}


@dataclass
class Options:
    """Per-request options, as query parameters carry them."""

    dry_run: bool = False
    field_validation: str = "Strict"  # Strict | Warn | Ignore
    field_manager: str | None = None
    component: str = "kubectl"
    trace: bool = True
    force: bool = False
    # Control loops send objects they built themselves: skip the schema decode a client body needs.
    decode: bool = True
    # Trace steps a control loop queued before this write; stored in the write's own transaction.
    pending: list[etcd.PendingTrace] = field(default_factory=list)
    # The body is a fresh object the caller gives away (an event recorder's): no copy is needed.
    owned: bool = False


@dataclass
class Result:
    object: dict[str, Any]
    code: int = 200
    warnings: list[str] = field(default_factory=list)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def _spec_of(obj: dict[str, Any]) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _qos_class(pod: dict[str, Any]) -> str:
    """Upstream's GetPodQOS: Guaranteed, Burstable or BestEffort from requests and limits."""
    containers = list((pod.get("spec") or {}).get("containers") or []) + list(
        (pod.get("spec") or {}).get("initContainers") or []
    )
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim:
                guaranteed = False
            elif r in req and str(req[r]) != str(lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed and containers else "Burstable"


def _initial_status(resource: Resource, obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = resource.kind
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": _qos_class(obj)}
    if kind == "Namespace":
        return {"phase": "Active"}
    if kind == "Service":
        return {"loadBalancer": {}}
    if kind in ("PersistentVolumeClaim", "PersistentVolume"):
        return {"phase": "Pending"}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        return (
            {"replicas": 0}
            if kind != "DaemonSet"
            else {
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0,
            }
        )
    return None


class _Contended(Exception):
    """A compare-and-swap lost to a concurrent writer; the caller may read again and retry."""


class _Unconfirmed(Exception):
    """A write worked out from the watch cache's copy changed nothing: only the store can say so."""


class _StepsBackOnFailure:
    """Around a store write: if it fails, however it fails, the trace steps that led to it go
    back to ``opts``, so a retry carries them (``_trace`` takes them off when it builds the write's
    steps). A class, not ``contextlib.contextmanager``: it wraps every loop's writes."""

    __slots__ = ("opts", "pending")

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.pending = opts.pending

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is not None:
            self.opts.pending = self.pending


# A recent copy of an object by key, possibly stale, never to be changed (see ApiServer).
WatchCache = Callable[[etcd.Key], "dict[str, Any] | None"]


class ApiServer:
    """One cluster's API server. Stateless apart from the cluster row; safe to build per request.

    ``watch_cache``: where upstream's cacher finds the object an update starts from
    (``cachedExistingObject`` in ``GuaranteedUpdate``). A patch or a binding is first worked out
    from that copy and written with a compare-and-swap on its resourceVersion; only when the
    copy was stale, or the outcome was an error or no change, is the store read and the request
    tried again, as etcd3's ``GuaranteedUpdate`` does. The control loops pass their informers.
    """

    def __init__(
        self, cluster: Cluster, user: AbstractBaseUser | None = None, watch_cache: WatchCache | None = None
    ) -> None:
        self.cluster = cluster
        self.user = user
        self.watch_cache = watch_cache

    # ----------------------------------------------------------------- helpers
    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else "system:kube-controller-manager"

    def now(self) -> str:
        return clock.rfc3339(clock.sim_now(self.cluster))

    def _sim_seconds(self) -> float:
        return clock.sim_seconds(self.cluster)

    def _key(self, resource: Resource, namespace: str | None, name: str) -> etcd.Key:
        return etcd.Key(resource.group, resource.kind, namespace or "" if resource.namespaced else "", name)

    def _trace(
        self,
        opts: Options,
        verb: str,
        resource: Resource,
        namespace: str | None,
        name: str,
        extra: list[etcd.PendingTrace] | None = None,
    ) -> list[etcd.PendingTrace]:
        pending, opts.pending = opts.pending, []
        if opts.dry_run:
            return []
        if not opts.trace:
            return pending
        t = self._sim_seconds()
        obj = {"kind": resource.kind, "namespace": namespace or "", "name": name}
        params = {
            "verb": verb,
            "kind": resource.kind,
            "name": name,
            "namespace": namespace or "",
            "user": self.username,
        }
        steps = [
            etcd.PendingTrace(
                "kube-apiserver",
                "authentication",
                "apiserver.authn",
                params,
                [obj],
                opts.component,
                "kube-apiserver",
                t,
            ),
            etcd.PendingTrace("kube-apiserver", "authorization", "apiserver.authz", params, [obj], sim_time=t),
            etcd.PendingTrace("kube-apiserver", "mutating-admission", "apiserver.admission", params, [obj], sim_time=t),
            etcd.PendingTrace("kube-apiserver", "validation", "apiserver.validation", params, [obj], sim_time=t),
        ]
        steps += extra or []
        steps.append(etcd.PendingTrace("etcd", "persist", f"etcd.{verb}", params, [obj], "kube-apiserver", "etcd", t))
        return pending + steps

    def _require_namespace(self, resource: Resource, namespace: str | None, creating: bool) -> None:
        if not resource.namespaced:
            return
        if not namespace:
            raise bad_request("the server could not find the requested resource (namespace is required)")
        ns = etcd.get(self.cluster.pk, etcd.Key("", "Namespace", "", namespace), shared=True)
        if ns is None:
            raise not_found("", "namespaces", namespace)
        if creating and (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise StatusError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
                {
                    "name": namespace,
                    "kind": "namespaces",
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _decode(
        self, resource: Resource, body: Any, opts: Options, owned: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """``owned``: the body is a fresh object of this request's own, so no copy is needed."""
        if not opts.decode and isinstance(body, dict):
            out = body if owned else clone(body)
            out["apiVersion"], out["kind"] = resource.group_version, resource.kind
            return out, []
        if not isinstance(body, dict):
            raise bad_request(
                f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                f"json: cannot unmarshal {decoding._json_type(body)} into Go value of type "
                f"{resource.kind.lower()}.{resource.kind}"
            )
        api_version = body.get("apiVersion")
        if api_version is not None and api_version != resource.group_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({resource.group_version})"
            )
        kind = body.get("kind")
        if kind is not None and kind != resource.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
        decoded, unknown = decoding.decode(resource.group, resource.version, resource.kind, body)
        warnings: list[str] = []
        if unknown:
            if opts.field_validation == "Strict":
                raise decoding.strict_error(resource.kind, resource.version, unknown)
            if opts.field_validation == "Warn":
                warnings = [f'unknown field "{u}"' for u in unknown]
        decoded["apiVersion"] = resource.group_version
        decoded["kind"] = resource.kind
        return decoded, warnings

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("/".join(str(p) for p in (self.cluster.seed, *parts)))

    def _generate_name(self, resource: Resource, namespace: str | None, prefix: str) -> str:
        rng = self._rng("generateName", etcd.current_revision(self.cluster.pk), resource.kind, namespace, prefix)
        for _ in range(8):
            name = prefix + "".join(rng.choice(GENERATE_NAME_ALPHABET) for _ in range(5))
            if etcd.get(self.cluster.pk, self._key(resource, namespace, name)) is None:
                return name
        raise StatusError(
            409,
            "AlreadyExists",
            f"{resource.plural} could not generate a unique name for {prefix}; try again",
        )

    def _allocate_service(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        meta = obj["metadata"]
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        services, _ = etcd.list_(self.cluster.pk, "", "Service")
        others = [s for s in services if f"{s['metadata'].get('namespace')}/{s['metadata']['name']}" != key]
        if old is not None:
            spec.setdefault("clusterIP", (old.get("spec") or {}).get("clusterIP"))
            spec.setdefault("clusterIPs", (old.get("spec") or {}).get("clusterIPs"))
        try:
            if spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            elif old is None or not spec.get("clusterIP"):
                taken = [(s.get("spec") or {}).get("clusterIP") for s in others]
                ip = allocators.cluster_ip(
                    self.cluster.service_cidr, [t for t in taken if t], self.cluster.seed, key, spec.get("clusterIP")
                )
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
        except allocators.AllocationError as exc:
            raise invalid(
                "",
                "Service",
                meta.get("name", ""),
                [field_cause("spec.clusterIPs", f"Invalid value: {json.dumps([spec.get('clusterIP')])}: {exc}")],
            ) from exc
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            taken_ports = [
                p.get("nodePort") for s in others for p in (s.get("spec") or {}).get("ports") or [] if p.get("nodePort")
            ]
            old_ports = {
                (p.get("port"), p.get("protocol")): p.get("nodePort")
                for p in ((old or {}).get("spec") or {}).get("ports") or []
            }
            for i, port in enumerate(spec.get("ports") or []):
                if not port.get("nodePort") and old_ports.get((port.get("port"), port.get("protocol"))):
                    port["nodePort"] = old_ports[(port.get("port"), port.get("protocol"))]
                try:
                    requested = port.get("nodePort")
                    if requested and requested in old_ports.values():
                        continue
                    port["nodePort"] = allocators.node_port(taken_ports, self.cluster.seed, f"{key}/{i}", requested)
                    taken_ports.append(port["nodePort"])
                except allocators.AllocationError as exc:
                    raise invalid(
                        "",
                        "Service",
                        meta.get("name", ""),
                        [field_cause(f"spec.ports[{i}].nodePort", f"Invalid value: {port.get('nodePort')}: {exc}")],
                    ) from exc
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None) if old is not None and spec.get("type") == "ClusterIP" else None

    # ----------------------------------------------------------------- reads
    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        obj = etcd.get(self.cluster.pk, self._key(resource, namespace, name))
        if obj is None:
            raise not_found(resource.group, resource.plural, name)
        return obj

    def list(
        self,
        resource: Resource,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        lp = label_predicate(label_selector)
        fp = field_predicate(field_selector, resource.kind)
        items, revision = etcd.list_(self.cluster.pk, resource.group, resource.kind, namespace)
        start_after: tuple[str, str] | None = None
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()).decode())
                start_after = (token["ns"], token["name"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StatusError(
                    400,
                    "BadRequest",
                    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
                ) from exc
        out: list[dict[str, Any]] = []
        more: str | None = None
        for obj in items:
            meta = obj["metadata"]
            pos = (meta.get("namespace", ""), meta["name"])
            if start_after is not None and pos <= start_after:
                continue
            if (lp and not lp(obj)) or (fp and not fp(obj)):
                continue
            if limit and len(out) >= limit:
                last = out[-1]["metadata"]
                more = base64.urlsafe_b64encode(
                    json.dumps({"ns": last.get("namespace", ""), "name": last["name"], "rv": revision}).encode()
                ).decode()
                break
            item = dict(obj)
            item.pop("apiVersion", None)
            item.pop("kind", None)
            out.append(item)
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if more:
            metadata["continue"] = more
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": metadata,
            "items": out,
        }

    # ----------------------------------------------------------------- writes
    def create(self, resource: Resource, namespace: str | None, body: Any, opts: Options | None = None) -> Result:
        opts = opts or Options()
        obj, warnings = self._decode(resource, body, opts, owned=opts.owned)
        meta = _meta(obj)
        if resource.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or meta.get("namespace") or ""
        else:
            meta.pop("namespace", None)
        self._require_namespace(resource, meta.get("namespace"), creating=True)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(resource, meta.get("namespace"), meta["generateName"])
        name = meta.get("name") or ""
        self._prepare_create(resource, obj, opts.dry_run)
        validation.validate(resource, obj, None)
        if resource.kind == "Service":
            self._allocate_service(obj, None)
        key = self._key(resource, meta.get("namespace"), name)
        if opts.dry_run:
            # A real create finds a taken key inside the store's transaction; a dry run must ask.
            if etcd.get(self.cluster.pk, key) is not None:
                raise already_exists(resource.group, resource.plural, name)
            meta["resourceVersion"] = ""
            return Result(obj, 201, warnings)
        self._record_manager(resource, None, obj, opts, "Update")
        limit = settings.KUBEGLASS["MAX_OBJECTS_PER_CLUSTER"]
        seed, kind, ns = self.cluster.seed, resource.kind, meta.get("namespace")
        try:
            stored = etcd.create(
                self.cluster.pk,
                key,
                obj,
                self._trace(opts, "create", resource, meta.get("namespace"), name),
                uid_for=lambda rev: admission.deterministic_uid(seed, rev, kind, ns, name),
                max_objects=limit,
                owned=True,
            )
        except etcd.KeyExists as exc:
            raise already_exists(resource.group, resource.plural, name) from exc
        except etcd.QuotaExceeded as exc:
            raise StatusError(
                403, "Forbidden", f"exceeded quota: this cluster may hold at most {limit} objects"
            ) from exc
        return Result(stored, 201, warnings)

    def _prepare_create(self, resource: Resource, obj: dict[str, Any], dry_run: bool = False) -> None:
        meta = obj["metadata"]
        for drop in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(drop, None)
        # The real UID is stamped by the store once the write's revision is known; a dry run,
        # which never reaches the store, answers with one of its own.
        meta["uid"] = (
            admission.deterministic_uid(
                self.cluster.seed, "dry-run", resource.kind, meta.get("namespace"), meta.get("name")
            )
            if dry_run
            else ""
        )
        meta["creationTimestamp"] = self.now()
        if resource.kind in _GENERATION_KINDS:
            meta["generation"] = 1
        if resource.kind == "DaemonSet":
            meta.setdefault("annotations", {})[DS_TEMPLATE_GENERATION] = "1"
        if resource.kind == "PersistentVolumeClaim":
            self._default_storage_class(obj)
        admission.apply_defaults(
            resource, obj, (self.cluster.seed, resource.kind, meta.get("namespace"), meta.get("name")), creating=True
        )
        if resource.has_status and not resource.status_on_create:
            status = _initial_status(resource, obj)
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status

    def _default_storage_class(self, pvc: dict[str, Any]) -> None:
        """The DefaultStorageClass admission plugin: a claim naming no class gets the default one."""
        spec = pvc.setdefault("spec", {})
        if "storageClassName" in spec:
            return
        classes, _ = etcd.list_(self.cluster.pk, "storage.k8s.io", "StorageClass")
        defaults = [
            c
            for c in classes
            if ((c.get("metadata") or {}).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
            == "true"
        ]
        if defaults:
            # Upstream picks the newest default when several are marked.
            newest = max(defaults, key=lambda c: (c["metadata"].get("creationTimestamp", ""), c["metadata"]["name"]))
            spec["storageClassName"] = newest["metadata"]["name"]

    def _record_manager(
        self,
        resource: Resource,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        opts: Options,
        operation: str,
        subresource: str | None = None,
    ) -> None:
        """Track field ownership (metadata.managedFields) so server-side apply can find conflicts."""
        manager = opts.field_manager
        if not manager:
            return
        try:
            from cluster.api import apply as ssa
        except ImportError:  # pragma: no cover - the module is always present in a full checkout
            return
        updated = ssa.record_update_manager(
            old,
            new,
            manager,
            operation,
            self.now(),
            subresource=subresource or "",
            reset_fields=("status",) if resource.has_status and subresource != "status" else (),
        )
        new["metadata"] = updated.get("metadata", new.get("metadata"))

    def update(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        opts: Options | None = None,
        subresource: str | None = None,
    ) -> Result:
        opts = opts or Options()
        obj, warnings = self._decode(resource, body, opts)
        meta = _meta(obj)
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if resource.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        key = self._key(resource, namespace, name)
        old = etcd.get(self.cluster.pk, key)
        if old is None:
            raise not_found(resource.group, resource.plural, name)
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise stale(resource.group, resource.plural, name)
        return self._write_update(resource, namespace, name, old, obj, opts, subresource, warnings)

    def _write_update(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        old: dict[str, Any],
        obj: dict[str, Any],
        opts: Options,
        subresource: str | None,
        warnings: list[str],
        verb: str = "update",
        suggested: bool = False,
    ) -> Result:
        """``suggested``: ``old`` is the watch cache's copy, which may be stale."""
        meta = _meta(obj)
        old_meta = old["metadata"]
        meta["name"] = name
        if resource.namespaced:
            meta["namespace"] = namespace
        for keep in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if keep in old_meta:
                meta[keep] = old_meta[keep]
            else:
                meta.pop(keep, None)
        if subresource == "status":
            # The status subresource changes status, and annotations as upstream's pod and
            # deployment status strategies allow; spec, labels and owners stay as they were.
            # (A shallow copy will do: only top-level status and metadata.annotations change.)
            new = dict(old)
            new["metadata"] = dict(old["metadata"])
            new["status"] = obj.get("status")
            if new["status"] is None:
                new.pop("status")
            if "annotations" in meta:
                new["metadata"]["annotations"] = meta["annotations"]
                if not meta["annotations"]:
                    new["metadata"].pop("annotations")
            obj = new
            meta = obj["metadata"]
        else:
            admission.apply_defaults(resource, obj, (self.cluster.seed, resource.kind, namespace, name), creating=False)
            if resource.has_status:
                if "status" in old:
                    obj["status"] = old["status"]
                else:
                    obj.pop("status", None)
            if resource.kind in _GENERATION_KINDS and _spec_of(obj) != _spec_of(old):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
            if resource.kind == "DaemonSet":
                generation = int((old_meta.get("annotations") or {}).get(DS_TEMPLATE_GENERATION, "1"))
                if (obj.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
                    generation += 1
                meta.setdefault("annotations", {})[DS_TEMPLATE_GENERATION] = str(generation)
            validation.validate(resource, obj, old)
            if resource.kind == "Service":
                self._allocate_service(obj, old)
        if old_meta.get("deletionTimestamp") and meta.get("finalizers"):
            added = set(meta["finalizers"]) - set(old_meta.get("finalizers") or [])
            if added:
                raise invalid(
                    resource.group,
                    resource.kind,
                    name,
                    [
                        field_cause(
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being deleted",
                            "FieldValueForbidden",
                        )
                    ],
                )
        if obj == old or (_strip_rv(obj) == _strip_rv(old)):
            if suggested:
                raise _Unconfirmed
            if opts.pending and not opts.dry_run:
                # Nothing to write, but the steps that led here still belong in the log.
                etcd.record(self.cluster.pk, opts.pending)
                opts.pending = []
            return Result(old, 200, warnings)
        if opts.dry_run:
            return Result(obj, 200, warnings)
        self._record_manager(resource, old, obj, opts, "Update", subresource)
        expected = int(old_meta["resourceVersion"])
        key = self._key(resource, namespace, name)
        with _StepsBackOnFailure(opts):
            trace = self._trace(opts, verb, resource, namespace, name)
            try:
                if (
                    old_meta.get("deletionTimestamp")
                    and not meta.get("finalizers")
                    and not old_meta.get("deletionGracePeriodSeconds")
                    and not _pending_namespace_finalizers(resource, obj)
                ):
                    # The last finalizer is gone: the object is deleted now (upstream's update-then-delete).
                    return Result(etcd.delete(self.cluster.pk, key, expected, trace), 200, warnings)
                stored = etcd.update(self.cluster.pk, key, obj, expected, trace, owned=True)
            except etcd.CompareFailed as exc:
                raise stale(resource.group, resource.plural, name) from exc
            except etcd.KeyMissing as exc:
                raise not_found(resource.group, resource.plural, name) from exc
        return Result(stored, 200, warnings)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        opts: Options | None = None,
        subresource: str | None = None,
    ) -> Result:
        """Apply a patch to the live object, retrying on a concurrent write as upstream's patcher does."""
        opts = opts or Options()
        key = self._key(resource, namespace, name)
        patch_meta = patch.get("metadata") if isinstance(patch, dict) else None
        precondition = patch_meta.get("resourceVersion") if isinstance(patch_meta, dict) else None
        # The first try may start from the watch cache's copy (not for apply, which reads its own).
        cached = (
            self.watch_cache(key)
            if self.watch_cache is not None
            and patch_type != "application/apply-patch+yaml"
            and not precondition
            and not opts.dry_run
            else None
        )
        # Five tries that read the store, as before, plus the one from the cached copy.
        for _attempt in range(5 if cached is None else 6):
            old, suggested, cached = cached, cached is not None, None
            if old is None:
                old = etcd.get(self.cluster.pk, key)
            if patch_type == "application/apply-patch+yaml":
                return self._server_side_apply(resource, namespace, name, old, patch, opts)
            if old is None:
                raise not_found(resource.group, resource.plural, name)
            try:
                return self._patch_once(
                    resource, namespace, name, patch_type, patch, opts, subresource, old, precondition, suggested
                )
            except _Unconfirmed:
                continue
            except StatusError as exc:
                if suggested or (exc.reason == "Conflict" and not precondition):
                    continue
                raise
        raise stale(resource.group, resource.plural, name)

    def _patch_once(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        opts: Options,
        subresource: str | None,
        old: dict[str, Any],
        precondition: str | None,
        suggested: bool,
    ) -> Result:
        """One try at a patch against ``old``; a Conflict means another writer got there first."""
        from cluster.api import patch as patches

        try:
            if patch_type == "application/json-patch+json":
                if not isinstance(patch, list):
                    raise bad_request("the provided patch is not a JSON patch: expected a list of operations")
                new = patches.json_patch(old, patch)
            elif patch_type == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise bad_request("the provided patch is not a JSON merge patch object")
                new = patches.json_merge_patch(old, patch)
            elif patch_type == "application/strategic-merge-patch+json":
                if not isinstance(patch, dict):
                    raise bad_request("the provided patch is not a strategic merge patch object")
                def_name = schemas.definition_name(resource.group, resource.version, resource.kind)
                sch = {"$ref": schemas.REF_PREFIX + def_name} if def_name else None
                new = patches.strategic_merge_patch(old, patch, sch)
            else:
                raise StatusError(
                    415,
                    "UnsupportedMediaType",
                    f"the server does not support patch type {patch_type!r}",
                )
        except patches.PatchError as exc:
            raise StatusError(exc.code, "Invalid" if exc.code == 422 else "BadRequest", str(exc)) from exc
        if precondition and precondition != old["metadata"]["resourceVersion"]:
            raise stale(resource.group, resource.plural, name)
        # A merge patch of status shares untouched parts with ``old``; the status path below
        # only replaces top-level parts and metadata in a copy, so no deep copy is needed there
        # (and ``old``, which may be the watch cache's, is left as it was).
        owned = patch_type == "application/merge-patch+json" and subresource == "status"
        obj, warnings = self._decode(resource, new, opts, owned=owned)
        if owned:
            obj["metadata"] = dict(obj["metadata"])
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self._write_update(resource, namespace, name, old, obj, opts, subresource, warnings, "patch", suggested)

    def _server_side_apply(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        old: dict[str, Any] | None,
        applied: Any,
        opts: Options,
    ) -> Result:
        from cluster.api import apply as ssa

        if not opts.field_manager:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        if not isinstance(applied, dict):
            raise bad_request("the apply configuration must be an object")
        applied_obj, warnings = self._decode(resource, applied, opts)
        am = _meta(applied_obj)
        if am.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({am.get('name')}) does not match the name on the URL ({name})")
        am["name"] = name
        if resource.namespaced:
            am["namespace"] = namespace
        def_name = schemas.definition_name(resource.group, resource.version, resource.kind)
        sch = {"$ref": schemas.REF_PREFIX + def_name} if def_name else None
        try:
            merged = ssa.server_side_apply(
                old,
                applied_obj,
                opts.field_manager,
                opts.force,
                sch,
                self.now(),
                reset_fields=("status",) if resource.has_status else (),
            )
        except ssa.ApplyConflict as exc:
            raise StatusError(
                409, "Conflict", exc.message, {"name": name, "kind": resource.plural, "causes": exc.causes}
            ) from exc
        if old is None:
            inner = Options(
                dry_run=opts.dry_run,
                field_validation=opts.field_validation,
                field_manager=None,
                component=opts.component,
                trace=opts.trace,
            )
            result = self.create(resource, namespace, merged, inner)
            if not opts.dry_run:
                # Ownership recorded by server_side_apply rides along in the created object.
                return result
            return result
        merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj, more = self._decode(resource, merged, Options(field_validation="Ignore"))
        inner = Options(
            dry_run=opts.dry_run,
            field_validation=opts.field_validation,
            field_manager=None,
            component=opts.component,
            trace=opts.trace,
        )
        return self._write_update(resource, namespace, name, old, obj, inner, None, warnings + more, "apply")

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        opts: Options | None = None,
        propagation: str | None = None,
        grace_period: int | None = None,
        preconditions: dict[str, str] | None = None,
    ) -> Result:
        """Delete, retrying a lost compare-and-swap as the registry's conditional delete does.

        A client's resourceVersion precondition is the only reason a delete answers 409: a controller
        writing status at the same moment must not make ``kubectl delete`` fail.
        """
        opts = opts or Options()
        preconditions = preconditions or {}
        for _attempt in range(8):
            try:
                return self._delete_once(resource, namespace, name, opts, propagation, grace_period, preconditions)
            except _Contended:
                if preconditions.get("resourceVersion"):
                    break
        raise stale(resource.group, resource.plural, name)

    def _delete_once(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        opts: Options,
        propagation: str | None,
        grace_period: int | None,
        preconditions: dict[str, str],
    ) -> Result:
        key = self._key(resource, namespace, name)
        old = etcd.get(self.cluster.pk, key)
        if old is None:
            raise not_found(resource.group, resource.plural, name)
        meta = old["metadata"]
        if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
            raise conflict(
                resource.group,
                resource.plural,
                name,
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {meta.get('uid')}",
            )
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta.get("resourceVersion"):
            raise conflict(
                resource.group,
                resource.plural,
                name,
                f"Precondition failed: ResourceVersion in precondition: {preconditions['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )
        if propagation not in (None, "Orphan", "Background", "Foreground"):
            raise invalid(
                resource.group,
                resource.kind,
                name,
                [
                    field_cause(
                        "propagationPolicy",
                        f'Unsupported value: "{propagation}": supported values: "Foreground", "Background", "Orphan", "nil"',
                        "FieldValueNotSupported",
                    )
                ],
            )
        new = clone(old)
        nmeta = new["metadata"]
        finalizers = list(nmeta.get("finalizers") or [])
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        graceful = False
        if resource.kind == "Pod" and (new.get("spec") or {}).get("nodeName"):
            phase = (new.get("status") or {}).get("phase")
            grace = (
                grace_period
                if grace_period is not None
                else (new.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            )
            graceful = grace > 0 and phase not in ("Succeeded", "Failed")
        else:
            grace = 0
        pending_ns = resource.kind == "Namespace" and bool((new.get("spec") or {}).get("finalizers"))
        if finalizers or graceful or pending_ns:
            if nmeta.get("deletionTimestamp") and finalizers == list(nmeta.get("finalizers") or []) and not graceful:
                if opts.pending and not opts.dry_run:
                    # Nothing to write, but the steps that led here still belong in the log.
                    etcd.record(self.cluster.pk, opts.pending)
                    opts.pending = []
                return Result(old, 202 if finalizers else 200)
            nmeta["finalizers"] = finalizers or None
            if not finalizers:
                nmeta.pop("finalizers")
            if not nmeta.get("deletionTimestamp"):
                moment = clock.sim_now(self.cluster)
                if graceful:
                    import datetime as dt

                    moment = moment + dt.timedelta(seconds=grace)
                nmeta["deletionTimestamp"] = clock.rfc3339(moment)
                nmeta["deletionGracePeriodSeconds"] = grace if graceful else 0
            elif graceful:
                nmeta["deletionGracePeriodSeconds"] = min(grace, nmeta.get("deletionGracePeriodSeconds", grace))
            if pending_ns:
                new.setdefault("status", {})["phase"] = "Terminating"
            if opts.dry_run:
                return Result(new, 200)
            with _StepsBackOnFailure(opts):
                try:
                    stored = etcd.update(
                        self.cluster.pk,
                        key,
                        new,
                        int(meta["resourceVersion"]),
                        self._trace(opts, "delete", resource, namespace, name),
                        owned=True,
                    )
                except etcd.CompareFailed as exc:
                    raise _Contended from exc
                except etcd.KeyMissing as exc:  # deleted between the read and the swap
                    raise not_found(resource.group, resource.plural, name) from exc
            return Result(stored, 200 if not finalizers or graceful else 202)
        if opts.dry_run:
            return Result(old, 200)
        with _StepsBackOnFailure(opts):
            try:
                gone = etcd.delete(
                    self.cluster.pk,
                    key,
                    int(meta["resourceVersion"]),
                    self._trace(opts, "delete", resource, namespace, name),
                )
            except etcd.CompareFailed as exc:
                raise _Contended from exc
            except etcd.KeyMissing as exc:
                raise not_found(resource.group, resource.plural, name) from exc
        return Result(gone, 200)

    # ----------------------------------------------------------------- subresources
    def bind(self, namespace: str, name: str, binding: Any, opts: Options | None = None) -> Result:
        """pods/binding: the scheduler's decision, written as spec.nodeName plus PodScheduled."""
        opts = opts or Options(component="kube-scheduler")
        if not isinstance(binding, dict) or not isinstance(binding.get("target"), dict):
            raise invalid("", "Binding", name, [field_cause("target", "Required value", "FieldValueRequired")])
        node = binding["target"].get("name")
        if not node:
            raise invalid("", "Binding", name, [field_cause("target.name", "Required value", "FieldValueRequired")])
        pods = registry.by_kind("", "Pod")
        assert pods is not None
        key = self._key(pods, namespace, name)
        if self.watch_cache is not None and not opts.dry_run and (cached := self.watch_cache(key)) is not None:
            try:
                return self._bind_once(pods, key, namespace, name, node, binding, opts, cached, suggested=True)
            except StatusError:
                pass  # the copy was stale, or what it says needs the store's word: read it and try again
        old = etcd.get(self.cluster.pk, key)
        if old is None:
            raise not_found("", "pods", name)
        return self._bind_once(pods, key, namespace, name, node, binding, opts, old, suggested=False)

    def _bind_once(
        self,
        pods: Resource,
        key: etcd.Key,
        namespace: str,
        name: str,
        node: str,
        binding: dict[str, Any],
        opts: Options,
        old: dict[str, Any],
        suggested: bool,
    ) -> Result:
        """``suggested``: ``old`` is the watch cache's copy, shared and maybe stale, so it is copied."""
        if old["metadata"].get("deletionTimestamp"):
            raise conflict("", "pods", name, "pod is being deleted, cannot be assigned to a host")
        current = (old.get("spec") or {}).get("nodeName")
        if current:
            raise conflict("", "pods", name, f'pod {name} is already assigned to node "{current}"')
        expected_rv = int(old["metadata"]["resourceVersion"])
        # etcd.get decodes afresh for each request, so its copy is changed in place; the watch
        # cache's is copied down to the parts a binding changes.
        if suggested:
            new = dict(old)
            new["metadata"] = dict(old["metadata"])
            if "annotations" in new["metadata"]:
                new["metadata"]["annotations"] = dict(new["metadata"]["annotations"])
            new["spec"] = dict(old.get("spec") or {})
            new["status"] = dict(old.get("status") or {})
        else:
            new = old
        new["spec"]["nodeName"] = node
        for k, v in ((binding.get("metadata") or {}).get("annotations") or {}).items():
            new["metadata"].setdefault("annotations", {})[k] = v
        conditions = [
            c for c in (new.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": self.now()}
        )
        new["status"]["conditions"] = conditions
        if opts.dry_run:
            return Result({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
        with _StepsBackOnFailure(opts):
            try:
                etcd.update(
                    self.cluster.pk,
                    key,
                    new,
                    expected_rv,
                    self._trace(opts, "bind", pods, namespace, name),
                    owned=True,
                )
            except etcd.CompareFailed as exc:
                raise stale("", "pods", name) from exc
            except etcd.KeyMissing as exc:
                raise not_found("", "pods", name) from exc
        return Result({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)

    def evict(self, namespace: str, name: str, eviction: Any, opts: Options | None = None) -> Result:
        """pods/eviction: a delete that would honour PodDisruptionBudgets (none are modelled yet)."""
        opts = opts or Options()
        pods = registry.by_kind("", "Pod")
        assert pods is not None
        delete_options = (eviction or {}).get("deleteOptions") or {} if isinstance(eviction, dict) else {}
        self.delete(pods, namespace, name, opts, grace_period=delete_options.get("gracePeriodSeconds"))
        return Result({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)

    def get_scale(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(resource, namespace, name)
        return _to_scale(obj)

    def update_scale(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        opts: Options | None = None,
        precondition: str | None = None,
    ) -> Result:
        """Write spec.replicas through the scale subresource; ``change`` maps the current Scale to the new one.

        ``precondition`` is a resourceVersion the client itself sent; without one, a race is retried.
        """
        opts = opts or Options()
        for _ in range(5):
            obj = self.get(resource, namespace, name)
            scale = change(_to_scale(obj))
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool):
                raise bad_request(
                    'Scale in version "v1" cannot be handled as a Scale: spec.replicas must be an integer'
                )
            if replicas < 0:
                raise invalid(
                    "autoscaling",
                    "Scale",
                    name,
                    [field_cause("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
                )
            rv = precondition
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise stale(resource.group, resource.plural, name)
            new = clone(obj)
            new["spec"]["replicas"] = replicas
            try:
                result = self._write_update(resource, namespace, name, obj, new, opts, None, [], "scale")
            except StatusError as exc:
                if exc.reason == "Conflict" and not rv:
                    continue
                raise
            return Result(_to_scale(result.object), 200)
        raise stale(resource.group, resource.plural, name)

    def record(self, steps: list[etcd.PendingTrace]) -> int:
        """Trace steps with no write of their own (a controller's decision, a kubelet's progress)."""
        return etcd.record(self.cluster.pk, steps)


def _strip_rv(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _pending_namespace_finalizers(resource: Resource, obj: dict[str, Any]) -> bool:
    return resource.kind == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


def _to_scale(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": printers.selector_string((obj.get("spec") or {}).get("selector")) or "",
        },
    }

"""The HTTP facade of the API server: the REST paths real clients (kubectl, client-go, the Python client) call.

Every cluster lives under ``/k8s/<cluster>``; the path prefix is how many clusters share one server.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from cluster import clock
from cluster.api import authn, authz, bodies, discovery, openapi, rawextension, registry, watch
from cluster.api.apiserver import ApiServer, Options, Result
from cluster.api.errors import StatusError, bad_request, method_not_allowed, not_found, too_large, unknown_resource
from cluster.api.registry import Resource
from cluster.models import Cluster

logger = logging.getLogger(__name__)
JSON = "application/json"
HEALTH_PATHS = {"healthz", "livez", "readyz"}


@dataclass
class Target:
    """A parsed resource path."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


def json_response(body: Any, status: int = 200, warnings: list[str] | None = None) -> HttpResponse:
    resp = HttpResponse(
        json.dumps(rawextension.canonical(body), separators=(",", ":")), status=status, content_type=JSON
    )
    for w in warnings or []:
        resp.headers["Warning"] = f'299 - "{w.replace(chr(34), chr(92) + chr(34))}"'
    return resp


def status_response(err: StatusError) -> HttpResponse:
    return json_response(err.status(), err.code)


def _health(rest: str) -> HttpResponse | None:
    head = rest.split("/", 1)[0]
    if head in HEALTH_PATHS:
        return HttpResponse("ok", content_type="text/plain; charset=utf-8")
    return None


def parse_target(parts: list[str]) -> Target:
    """``api/v1/namespaces/ns/pods/name/status`` and friends, to a Target."""
    if parts[0] == "api":
        if len(parts) < 3 or parts[1] != "v1":
            raise unknown_resource()
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            raise unknown_resource()
        group, version, rest = parts[1], parts[2], parts[3:]
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    resource = registry.by_plural(group, version, rest[0])
    if resource is None or (namespace is not None and not resource.namespaced):
        raise unknown_resource()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3 or (sub is not None and sub not in resource.subresources):
        raise unknown_resource()
    return Target(resource, namespace, name, sub)


def _options(request: HttpRequest, component: str) -> Options:
    q = request.GET
    dry = q.getlist("dryRun")
    if any(d not in ("All",) for d in dry):
        raise bad_request(f"Invalid dryRun value: {dry}")
    fv = q.get("fieldValidation") or "Strict"
    if fv not in ("Strict", "Warn", "Ignore"):
        raise bad_request(f"fieldValidation must be one of Ignore, Warn, Strict; got {fv}")
    return Options(
        dry_run=bool(dry),
        field_validation=fv,
        field_manager=q.get("fieldManager") or None,
        component=component,
        force=q.get("force") in ("true", "1"),
    )


def _component(request: HttpRequest) -> str:
    agent = request.headers.get("User-Agent", "")
    if agent.startswith("kubectl"):
        return "kubectl"
    return agent.split("/", 1)[0] or "client"


def _wants_table(request: HttpRequest) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _table(kind: str, objects: list[dict[str, Any]], rv: str, cluster: Cluster, request: HttpRequest) -> dict[str, Any]:
    from cluster.api import printers

    include = request.GET.get("includeObject") or "Metadata"
    table = printers.table(kind, objects, clock.sim_now(cluster), include)
    table.setdefault("metadata", {})["resourceVersion"] = rv
    return table


def _read_body(request: HttpRequest) -> Any:
    limit = settings.KUBEGLASS["MAX_REQUEST_BYTES"]
    length = request.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise too_large(limit)
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise too_large(limit) from exc
    if len(raw) > limit:
        raise too_large(limit)
    return bodies.parse(
        raw, request.content_type or request.headers.get("Content-Type", JSON), settings.KUBEGLASS["MAX_NESTING_DEPTH"]
    )


def _delete_options(request: HttpRequest) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if request.body.strip():
        parsed = _read_body(request)
        if isinstance(parsed, dict):
            opts = parsed
    for key in ("propagationPolicy", "gracePeriodSeconds"):
        if key in request.GET:
            opts[key] = request.GET[key]
    if "orphanDependents" in request.GET and "propagationPolicy" not in opts:
        opts["propagationPolicy"] = "Orphan" if request.GET["orphanDependents"] == "true" else "Background"
    if opts.get("orphanDependents") is True and "propagationPolicy" not in opts:
        opts["propagationPolicy"] = "Orphan"
    if "gracePeriodSeconds" in opts:
        try:
            opts["gracePeriodSeconds"] = int(opts["gracePeriodSeconds"])
        except (TypeError, ValueError) as exc:
            raise bad_request("gracePeriodSeconds must be an integer") from exc
    return opts


def _respond(result: Result, target: Target, request: HttpRequest, cluster: Cluster) -> HttpResponse:
    obj = result.object
    if _wants_table(request) and obj.get("kind") == target.resource.kind:
        return json_response(
            _table(target.resource.kind, [obj], obj["metadata"].get("resourceVersion", ""), cluster, request)
        )
    return json_response(obj, result.code, result.warnings)


def handle(request: HttpRequest, cluster_name: str, rest: str) -> HttpResponse | watch.WatchPlan:
    """The synchronous part of every request: authenticate, authorize, then act."""
    user = authn.authenticate(request.headers.get("Authorization"))
    cluster = Cluster.objects.filter(name=cluster_name).first()
    if cluster is None:
        raise not_found("", "clusters", cluster_name)
    parts = [unquote(p) for p in rest.strip("/").split("/") if p]
    # Discovery is open to every authenticated user, as upstream's system:discovery role makes it.
    if not parts:
        return json_response(
            {
                "paths": [
                    "/api",
                    "/api/v1",
                    "/apis",
                    "/healthz",
                    "/livez",
                    "/openapi/v2",
                    "/openapi/v3",
                    "/readyz",
                    "/version",
                ]
            }
        )
    head = parts[0]
    if head in ("version", "openapi") or (head == "api" and len(parts) <= 2) or (head == "apis" and len(parts) <= 3):
        doc = _discovery(request, cluster, parts)
        if doc is not None:
            return doc
    if head not in ("api", "apis"):
        raise unknown_resource()
    target = parse_target(parts)
    r = target.resource
    verb = _verb(request, target)
    authz.authorize(user, cluster, verb, r.group, r.plural, target.namespace, target.name)
    api = ApiServer(cluster, user)
    opts = _options(request, _component(request))
    method = request.method
    if target.subresource:
        return _subresource(request, api, target, opts, cluster)
    if target.name is None:
        if method == "GET":
            if verb == "watch":
                return watch.plan(request, cluster, r, target.namespace, _wants_table(request))
            listed = api.list(
                r,
                target.namespace,
                request.GET.get("labelSelector"),
                request.GET.get("fieldSelector"),
                _int_param(request, "limit"),
                request.GET.get("continue"),
            )
            if _wants_table(request):
                items = [{**i, "apiVersion": r.group_version, "kind": r.kind} for i in listed["items"]]
                table = _table(r.kind, items, listed["metadata"]["resourceVersion"], cluster, request)
                if listed["metadata"].get("continue"):
                    table["metadata"]["continue"] = listed["metadata"]["continue"]
                return json_response(table)
            return json_response(listed)
        if method == "POST":
            if r.kind == "Binding":
                body = _read_body(request)
                pod = (body.get("metadata") or {}).get("name") if isinstance(body, dict) else None
                if not pod:
                    raise bad_request("a Binding must name the pod in metadata.name")
                return _respond(api.bind(target.namespace or "", pod, body, opts), target, request, cluster)
            return _respond(api.create(r, target.namespace, _read_body(request), opts), target, request, cluster)
        if method == "DELETE":
            return _delete_collection(request, api, target, opts)
        raise method_not_allowed()
    if method == "GET":
        if verb == "watch":
            return watch.plan(request, cluster, r, target.namespace, _wants_table(request), name=target.name)
        obj = api.get(r, target.namespace, target.name)
        return _respond(Result(obj), target, request, cluster)
    if method == "PUT":
        return _respond(
            api.update(r, target.namespace, target.name, _read_body(request), opts), target, request, cluster
        )
    if method == "PATCH":
        return _respond(
            api.patch(r, target.namespace, target.name, _patch_type(request), _read_body(request), opts),
            target,
            request,
            cluster,
        )
    if method == "DELETE":
        d = _delete_options(request)
        if d.get("dryRun"):
            opts.dry_run = True
        result = api.delete(
            r,
            target.namespace,
            target.name,
            opts,
            d.get("propagationPolicy"),
            d.get("gracePeriodSeconds"),
            d.get("preconditions"),
        )
        return json_response(result.object, result.code)
    raise method_not_allowed()


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer") from exc


def _patch_type(request: HttpRequest) -> str:
    return (request.content_type or request.headers.get("Content-Type", "")).split(";")[0].strip()


def _verb(request: HttpRequest, target: Target) -> str:
    method = request.method or "GET"
    if method == "GET":
        if request.GET.get("watch") in ("1", "true"):
            return "watch"
        return "get" if target.name else "list"
    if method == "DELETE" and not target.name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())


def _delete_collection(request: HttpRequest, api: ApiServer, target: Target, opts: Options) -> HttpResponse:
    listed = api.list(
        target.resource, target.namespace, request.GET.get("labelSelector"), request.GET.get("fieldSelector")
    )
    d = _delete_options(request)
    deleted = []
    for item in listed["items"]:
        meta = item["metadata"]
        try:
            res = api.delete(
                target.resource,
                meta.get("namespace"),
                meta["name"],
                opts,
                d.get("propagationPolicy"),
                d.get("gracePeriodSeconds"),
            )
            deleted.append(res.object)
        except StatusError as err:
            if err.code != 404:
                raise
    r = target.resource
    return json_response(
        {"kind": f"{r.kind}List", "apiVersion": r.group_version, "metadata": {"resourceVersion": ""}, "items": deleted}
    )


def _subresource(request: HttpRequest, api: ApiServer, target: Target, opts: Options, cluster: Cluster) -> HttpResponse:
    r, ns, name, sub = target.resource, target.namespace, target.name, target.subresource
    assert name is not None and sub is not None
    method = request.method
    if sub == "status":
        if method == "GET":
            return _respond(Result(api.get(r, ns, name)), target, request, cluster)
        if method == "PUT":
            return _respond(
                api.update(r, ns, name, _read_body(request), opts, subresource="status"), target, request, cluster
            )
        if method == "PATCH":
            return _respond(
                api.patch(r, ns, name, _patch_type(request), _read_body(request), opts, subresource="status"),
                target,
                request,
                cluster,
            )
    elif sub == "scale":
        if method == "GET":
            return json_response(api.get_scale(r, ns or "", name))
        if method in ("PUT", "PATCH"):
            body = _read_body(request)
            return _scale_write(api, r, ns or "", name, method, _patch_type(request), body, opts)
    elif sub == "binding" and method == "POST":
        return json_response(api.bind(ns or "", name, _read_body(request), opts).object, 201)
    elif sub == "eviction" and method == "POST":
        return json_response(api.evict(ns or "", name, _read_body(request), opts).object, 201)
    elif sub == "log" and method == "GET":
        from cluster.api import logs

        text = logs.read(
            api,
            ns or "",
            name,
            request.GET.get("container"),
            _int_param(request, "tailLines"),
            request.GET.get("previous") == "true",
        )
        return HttpResponse(text, content_type="text/plain")
    elif sub == "finalize" and method == "PUT":
        return _respond(
            api.update(r, ns, name, _read_body(request), opts, subresource="finalize"), target, request, cluster
        )
    raise method_not_allowed()


def _scale_write(
    api: ApiServer, r: Resource, ns: str, name: str, method: str, patch_type: str, body: Any, opts: Options
) -> HttpResponse:
    from cluster.api import patch as patches

    def change(scale: dict[str, Any]) -> dict[str, Any]:
        if method == "PUT":
            if not isinstance(body, dict):
                raise bad_request("the body must be a Scale object")
            return body
        try:
            if patch_type == "application/json-patch+json":
                return patches.json_patch(scale, body)
            if not isinstance(body, dict):
                raise bad_request("the patch must be an object")
            return patches.json_merge_patch(scale, body)
        except patches.PatchError as exc:
            raise bad_request(str(exc)) from exc

    precondition = ((body.get("metadata") or {}).get("resourceVersion") or None) if isinstance(body, dict) else None
    return json_response(api.update_scale(r, ns, name, change, opts, precondition).object)


def _discovery(request: HttpRequest, cluster: Cluster, parts: list[str]) -> HttpResponse | None:
    head = parts[0]
    prefix = f"/k8s/{cluster.name}"
    if head == "version" and len(parts) == 1:
        return json_response(discovery.version())
    if head == "api":
        if len(parts) == 1:
            return json_response(discovery.api_versions(request.get_host()))
        if len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
            if doc is None:
                raise unknown_resource()
            return json_response(doc)
        return None
    if head == "apis":
        if len(parts) == 1:
            return json_response(discovery.api_group_list())
        if len(parts) == 2:
            doc = discovery.api_group(parts[1])
        else:
            doc = discovery.api_resource_list(parts[1], parts[2])
        if doc is None:
            raise unknown_resource()
        return json_response(doc)
    if head == "openapi":
        if parts[1:] == ["v2"]:
            return HttpResponse(openapi.v2_bytes(), content_type=JSON)
        if parts[1:] == ["v3"]:
            return json_response(openapi.v3_index(prefix))
        if len(parts) >= 3 and parts[1] == "v3":
            gv = parts[2:]
            if gv[0] == "api" and len(gv) == 2:
                group, version = "", gv[1]
            elif gv[0] == "apis" and len(gv) == 3:
                group, version = gv[1], gv[2]
            else:
                raise unknown_resource()
            if (group, version) not in openapi.group_versions():
                raise unknown_resource()
            resp = HttpResponse(openapi.v3_bytes(group, version), content_type=JSON)
            if request.GET.get("hash"):
                resp.headers["Cache-Control"] = "public, immutable"
            return resp
        raise unknown_resource()
    return None


@csrf_exempt
async def k8s_view(request: HttpRequest, cluster_name: str, rest: str = "") -> HttpResponse | StreamingHttpResponse:
    """Entry point: health is open; everything else goes through the pipeline, watches stream."""
    health = _health(rest.strip("/"))
    if health is not None:
        return health
    try:
        outcome = await sync_to_async(handle, thread_sensitive=True)(request, cluster_name, rest)
    except StatusError as err:
        return status_response(err)
    except RecursionError:
        return status_response(bad_request("the request body is nested too deeply"))
    except Exception:  # a bug, not bad input: still answer with a Status, and log the cause
        logger.exception("internal error serving %s %s", request.method, request.path)
        return status_response(
            StatusError(500, "InternalError", "an internal error occurred; the server log has details")
        )
    if isinstance(outcome, watch.WatchPlan):
        return watch.response(outcome)
    return outcome

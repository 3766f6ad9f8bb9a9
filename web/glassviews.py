"""The glass's pages and partials: the dashboard, the inspector, and the act panel's forms.

Each view renders a full page, or only its partial when htmx asks (``HX-Request``), so
every link and form still works without JavaScript.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cluster import clock
from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.api.authz import can_access
from cluster.api.errors import StatusError, bad_request
from cluster.bootstrap import BootstrapError, create_cluster, list_presets, load_preset
from cluster.kubeconfig import kubeconfig
from cluster.models import Cluster
from web import feed, inspector, kubectl, manifests, narration, uistrings
from web.access import cluster_for

MAX_CLUSTERS_PER_USER = 10
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
SAMPLE_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
"""


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def owned_cluster(request: HttpRequest, name: str) -> Cluster:
    """The signed-in user's cluster (or any, for staff); someone else's is a 404, like a missing one."""
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None or not can_access(request.user, cluster):  # type: ignore[arg-type]
        raise Http404(_("No such cluster."))
    return cluster


def _at(request: HttpRequest) -> int | None:
    raw = request.GET.get("at") or request.POST.get("at")
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------- clusters


def presets() -> list[dict[str, str]]:
    from django.utils.translation import get_language

    lang = (get_language() or "en").lower()
    out = []
    for name, titles in list_presets():
        out.append({"name": name, "title": titles.get(lang) or titles.get("en") or name})
    return out


@login_required
@require_POST
def cluster_create(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip().lower()
    preset = request.POST.get("preset") or "demo"
    error = None
    mine = Cluster.objects.filter(owner=request.user).count()
    if not NAME_RE.match(name):
        error = _(
            "A cluster name is 1-40 lowercase letters, digits and dashes, starting and ending with a letter or digit."
        )
    elif preset not in {p["name"] for p in presets()}:
        error = _("Choose one of the presets.")
    elif mine >= MAX_CLUSTERS_PER_USER and not request.user.is_staff:
        error = _("You already have %(n)d clusters; delete one first.") % {"n": mine}
    else:
        try:
            topo, _titles = load_preset(preset)
            create_cluster(name, request.user, topo)  # type: ignore[arg-type]
        except BootstrapError as exc:
            error = str(exc)
    if error is not None:
        from web.views import cluster_list

        return cluster_list(request, error=error, status=400)
    return redirect("dashboard", cluster_name=name)


@login_required
@require_POST
def cluster_delete(request: HttpRequest, cluster_name: str) -> HttpResponse:
    owned_cluster(request, cluster_name).delete()
    return redirect("home")


# ---------------------------------------------------------------------------------- dashboard


@login_required
@require_GET
def dashboard(request: HttpRequest, cluster_name: str) -> HttpResponse:
    """The page at revision R, with everything the browser needs to fold the log from R on."""
    cluster = owned_cluster(request, cluster_name)
    revision, objects = feed.snapshot(cluster.pk)
    context = {
        "cluster": cluster,
        "revision": revision,
        "snapshot": {"seq": revision, "objects": objects, "recent": feed.recent_steps(cluster.pk, revision)},
        "narration": narration.catalogue(),
        "ui": uistrings.strings(),
        "journey": uistrings.journey(),
        "clock": clock.state(cluster),
        "speeds": ["0.25", "0.5", "1", "2", "4", "8", "16"],
        "sim_speeds": ["0.25", "0.5", "1", "2", "4", "8", "16", "32", "64"],
        "sample_manifest": SAMPLE_MANIFEST,
        "nodes": [o for o in objects if o.get("kind") == "Node"],
        "pods": [o for o in objects if o.get("kind") == "Pod"],
    }
    return render(request, "web/dashboard.html", context)


@require_GET
def feed_view(request: HttpRequest, cluster_name: str) -> JsonResponse:
    """History for rewinding: the glass's slice of the log in ``(after, upto]``."""
    try:
        cluster, _user = cluster_for(request, cluster_name)
        try:
            after = int(request.GET.get("after", "0"))
            upto = int(request.GET["upto"]) if request.GET.get("upto") else None
            limit = int(request.GET.get("limit", str(feed.PAGE)))
        except ValueError as exc:
            raise bad_request("after, upto and limit must be integers") from exc
    except StatusError as err:
        return JsonResponse(err.status(), status=err.code)
    return JsonResponse(feed.read(cluster.pk, after, upto, limit))


# ---------------------------------------------------------------------------------- inspector


def _key_from(request: HttpRequest) -> tuple[str, str, str, str]:
    q = request.GET
    return q.get("group", ""), q.get("kind", ""), q.get("namespace", ""), q.get("name", "")


@login_required
@require_GET
def inspect(request: HttpRequest, cluster_name: str) -> HttpResponse:
    cluster = owned_cluster(request, cluster_name)
    group, kind, namespace, name = _key_from(request)
    resource = registry.by_kind(group, kind)
    if resource is None or not name:
        raise Http404(_("No such object."))
    at = _at(request)
    snap = inspector.object_at(cluster, group, kind, namespace, name, at)
    body = snap.body
    context: dict[str, Any] = {
        "cluster": cluster,
        "resource": resource,
        "kind": kind,
        "group": group,
        "namespace": namespace,
        "name": name,
        "at": at,
        "snap": snap,
        "present": body is not None and not snap.deleted,
        "yaml": inspector.as_yaml(body) if body else "",
        "events": inspector.events_for(cluster, kind, namespace, name, at) if body else [],
        "conditions": ((body or {}).get("status") or {}).get("conditions") or [],
        "scalable": "scale" in resource.subresources,
        "replicas": ((body or {}).get("spec") or {}).get("replicas"),
        "unschedulable": bool(((body or {}).get("spec") or {}).get("unschedulable")),
    }
    if kind == "Pod" and body:
        context["decision"] = inspector.decision_for(cluster, body, at)
    template = "web/_inspector.html" if is_htmx(request) else "web/inspect_page.html"
    return render(request, template, context)


@login_required
@require_GET
def decision_view(request: HttpRequest, cluster_name: str) -> HttpResponse:
    cluster = owned_cluster(request, cluster_name)
    namespace, name = request.GET.get("namespace", "default"), request.GET.get("name", "")
    at = _at(request)
    snap = inspector.object_at(cluster, "", "Pod", namespace, name, at)
    decision = inspector.decision_for(cluster, snap.body, at) if snap.body and not snap.deleted else None
    replay = request.GET.get("animate", "1") == "1"
    context = {"cluster": cluster, "decision": decision, "namespace": namespace, "name": name, "replay": replay}
    template = "web/_decision.html" if is_htmx(request) else "web/decision_page.html"
    return render(request, template, context)


# ---------------------------------------------------------------------------------- act


@login_required
@require_POST
def apply_view(request: HttpRequest, cluster_name: str) -> HttpResponse:
    """The manifest editor: server-side apply of each document; errors come back as Status, lines marked."""
    cluster = owned_cluster(request, cluster_name)
    text = request.POST.get("manifest", "")
    before = feed.head(cluster.pk)
    api = ApiServer(cluster, request.user)  # type: ignore[arg-type]
    context: dict[str, Any] = {"cluster": cluster, "before": before, "manifest": text}
    try:
        outcome = manifests.apply_text(api, text)
        context["outcome"] = outcome
        bad = outcome.error_lines
    except manifests.ManifestError as exc:
        context["fatal"] = exc.status
        # A parser error at the very end of the text points one past the last line.
        last = max(0, len(text.splitlines()) - 1)
        bad = {min(exc.line, last)} if exc.line is not None else set()
    context["lines"] = [(i + 1, line, i in bad) for i, line in enumerate(text.splitlines())]
    context["failed"] = bool(bad) or "fatal" in context or bool(context.get("outcome") and not context["outcome"].ok)
    status = 422 if context["failed"] and not is_htmx(request) else 200
    template = "web/_apply_result.html" if is_htmx(request) else "web/act_page.html"
    return render(request, template, context, status=status)


@login_required
@require_POST
def command_view(request: HttpRequest, cluster_name: str) -> HttpResponse:
    """The command box: kubectl's verbs parsed in Python and sent to the API server (no shell)."""
    cluster = owned_cluster(request, cluster_name)
    line = request.POST.get("command", "")
    if len(line.encode()) > 256 * 1024:
        outcome = kubectl.Outcome("", "error: the command is too long", 1)
        before = feed.head(cluster.pk)
    else:
        before = feed.head(cluster.pk)
        outcome = kubectl.run(ApiServer(cluster, request.user), line)  # type: ignore[arg-type]
    context = {"cluster": cluster, "command": line.split("\n", 1)[0], "outcome": outcome, "before": before}
    template = "web/_command_result.html" if is_htmx(request) else "web/act_page.html"
    return render(request, template, context)


def _tls_server(request: HttpRequest) -> str:
    port = os.environ.get("KUBEGLASS_TLS_PORT")
    host = request.get_host().rsplit(":", 1)[0] if not request.get_host().endswith("]") else request.get_host()
    if port:
        return f"https://{host}:{port}"
    return request.build_absolute_uri("/").rstrip("/")


@login_required
@require_GET
def kubeconfig_view(request: HttpRequest, cluster_name: str) -> HttpResponse:
    cluster = owned_cluster(request, cluster_name)
    text = kubeconfig(cluster, request.user, _tls_server(request))  # type: ignore[arg-type]
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="kubeconfig-{cluster.name}.yaml"'
    return response


QUICK_ACTIONS = ("scale", "delete", "cordon", "uncordon", "drain")


@login_required
@require_POST
def quick_action(request: HttpRequest, cluster_name: str) -> HttpResponse:
    """The inspector's buttons (scale, delete pod, cordon node): each is a kubectl line, run like the command box's."""
    action = request.POST.get("action", "")
    kind = request.POST.get("kind", "").lower()
    name = request.POST.get("name", "")
    namespace = request.POST.get("namespace") or "default"
    safe = re.compile(r"^[-a-z0-9.]+$")
    if (
        action not in QUICK_ACTIONS
        or not safe.match(name)
        or not safe.match(namespace)
        or not re.match(r"^[a-z]+$", kind)
    ):
        raise Http404(_("No such action."))
    if action == "scale":
        try:
            replicas = int(request.POST.get("replicas", ""))
        except ValueError:
            replicas = -1
        line = f"kubectl scale {kind}/{name} -n {namespace} --replicas={replicas}"
    elif action == "delete":
        line = f"kubectl delete {kind} {name} -n {namespace}"
    elif action == "drain":
        line = f"kubectl drain {name} --ignore-daemonsets --delete-emptydir-data"
    else:
        line = f"kubectl {action} {name}"
    request.POST = request.POST.copy()
    request.POST["command"] = line
    return command_view(request, cluster_name)

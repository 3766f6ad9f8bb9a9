"""The network model over HTTP: per-node tables as their real tools print them, and packet walks."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from cluster.api.errors import StatusError, bad_request
from cluster.api.snapshots import network_snapshot
from cluster.network import render
from cluster.network.snapshot import Snapshot
from cluster.network.walk import WalkError, walk
from web.access import cluster_for

TABLES: dict[str, Callable[[Snapshot, str], str]] = {
    "routes": render.ip_route,
    "neigh": render.ip_neigh,
    "fdb": render.bridge_fdb,
    "iptables": render.iptables_save,
}


def _error(err: StatusError) -> JsonResponse:
    return JsonResponse(err.status(), status=err.code)


def node_table(request: HttpRequest, cluster_name: str, node: str, table: str) -> HttpResponse:
    try:
        cluster, _ = cluster_for(request, cluster_name)
        fn = TABLES.get(table)
        if fn is None:
            raise StatusError(404, "NotFound", f"no table {table!r}; choose one of {', '.join(TABLES)}")
        snap = network_snapshot(cluster)
        try:
            text = fn(snap, node)
        except KeyError as exc:
            raise StatusError(404, "NotFound", f'nodes "{node}" not found', {"name": node, "kind": "nodes"}) from exc
    except StatusError as err:
        return _error(err)
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


def packet_walk(request: HttpRequest, cluster_name: str) -> JsonResponse:
    try:
        cluster, _ = cluster_for(request, cluster_name)
        src, dst = request.GET.get("src", ""), request.GET.get("dst", "")
        proto = request.GET.get("proto", "tcp").lower()
        if not src or not dst:
            raise bad_request("both src and dst are required, e.g. src=default/web-abc&dst=svc/default/web:80")
        if proto not in ("tcp", "udp", "sctp"):
            raise bad_request(f"proto must be tcp, udp or sctp, not {proto!r}")
        try:
            result = walk(network_snapshot(cluster), src, dst, proto)
        except WalkError as exc:
            raise bad_request(str(exc)) from exc
        except ValueError as exc:
            # A rule set the model cannot evaluate yet: say so instead of failing with a 500.
            raise StatusError(422, "Invalid", f"the packet walk cannot follow this path: {exc}") from exc
    except StatusError as err:
        return _error(err)
    return JsonResponse(result)

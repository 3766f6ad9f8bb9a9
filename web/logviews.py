"""The cluster's log over HTTP, from any sequence number: what the glass replays."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from cluster.api import log
from cluster.api.errors import StatusError, bad_request
from web.access import cluster_for


def log_view(request: HttpRequest, cluster_name: str) -> JsonResponse:
    try:
        cluster, _ = cluster_for(request, cluster_name)
        try:
            after = int(request.GET.get("after", "0"))
            limit = int(request.GET.get("limit", "500"))
        except ValueError as exc:
            raise bad_request("after and limit must be integers") from exc
    except StatusError as err:
        return JsonResponse(err.status(), status=err.code)
    return JsonResponse(log.read(cluster, after, limit))

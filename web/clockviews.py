"""The simulation clock over HTTP: read it, and play, pause, set the speed or fast-forward."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods

from cluster import clock, doorbell
from cluster.api.errors import StatusError, bad_request
from web.access import cluster_for, token_or_csrf


@token_or_csrf
@require_http_methods(["GET", "POST"])
def clock_view(request: HttpRequest, cluster_name: str) -> JsonResponse:
    """POST form or JSON fields: action = play | pause | speed | fast-forward, and speed for "speed"."""
    try:
        cluster, _ = cluster_for(request, cluster_name)
        if request.method == "POST":
            data = request.POST.dict()
            if request.content_type == "application/json":
                try:
                    data = json.loads(request.body or b"{}")
                except ValueError as exc:
                    raise bad_request("the body is not valid JSON") from exc
            action = data.get("action", "")
            try:
                if action == "play":
                    clock.resume(cluster)
                elif action == "pause":
                    clock.pause(cluster)
                elif action == "speed":
                    clock.set_speed(cluster, float(data.get("speed", "")))
                elif action == "fast-forward":
                    clock.fast_forward(cluster)
                else:
                    raise bad_request("action must be one of play, pause, speed, fast-forward")
            except ValueError as exc:
                raise bad_request(str(exc)) from exc
            doorbell.ring(cluster.pk)
    except StatusError as err:
        return JsonResponse(err.status(), status=err.code)
    return JsonResponse(clock.state(cluster))

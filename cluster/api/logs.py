"""pods/log: what ``kubectl logs`` reads.

The simulation runs no processes, so a container's log is synthesised from what
the kubelet recorded in the pod's status: its image, start, restarts and exit.
"""

from __future__ import annotations

from typing import Any

from cluster.api.errors import StatusError, bad_request
from cluster.api.registry import by_kind


def read(api: Any, namespace: str, name: str, container: str | None, tail: int | None) -> str:
    resource = by_kind("", "Pod")
    assert resource is not None
    pod = api.get(resource, namespace, name)
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if container is None:
        if len(names) != 1:
            raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
        container = names[0]
    elif container not in names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    state = (statuses.get(container) or {}).get("state") or {}
    if "running" not in state and "terminated" not in state:
        reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
        raise StatusError(
            400,
            "BadRequest",
            f'container "{container}" in pod "{name}" is waiting to start: {reason}',
        )
    out = _lines(statuses.get(container) or {}, container)
    if tail is not None and tail >= 0:
        out = out[-tail:] if tail else []
    return "".join(f"{line}\n" for line in out)


def _lines(status: dict[str, Any], container: str) -> list[str]:
    state = status.get("state") or {}
    image = status.get("image", "")
    out: list[str] = []
    last = (status.get("lastState") or {}).get("terminated")
    if last:
        out.append(
            f"{last.get('startedAt', '')} kubeglass: previous run of {container} exited with code {last.get('exitCode')}"
        )
    if "running" in state:
        out.append(f"{state['running'].get('startedAt', '')} kubeglass: container {container} ({image}) started")
    if "terminated" in state:
        t = state["terminated"]
        out.append(f"{t.get('startedAt', '')} kubeglass: container {container} ({image}) started")
        out.append(
            f"{t.get('finishedAt', '')} kubeglass: container {container} exited with code {t.get('exitCode')} ({t.get('reason', '')})"
        )
    return out

"""pods/log: what ``kubectl logs`` reads.

The simulation runs no processes, so a container's log is synthesised from what
the kubelet recorded in the pod's status: its image, start, restarts and exit.
"""

from __future__ import annotations

from typing import Any

from cluster.api.errors import StatusError, bad_request
from cluster.api.registry import by_kind


def read(api: Any, namespace: str, name: str, container: str | None, tail: int | None, previous: bool = False) -> str:
    """The container's log; ``previous`` reads the run before the current one (``kubectl logs -p``)."""
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
    status = statuses.get(container) or {}
    if previous:
        last = (status.get("lastState") or {}).get("terminated")
        if not last:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return _text(_run_lines(last, container, status.get("image", "")), tail)
    state = status.get("state") or {}
    if "running" not in state and "terminated" not in state:
        reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
        raise StatusError(
            400,
            "BadRequest",
            f'container "{container}" in pod "{name}" is waiting to start: {reason}',
        )
    return _text(_lines(status, container), tail)


def _text(lines: list[str], tail: int | None) -> str:
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    return "".join(f"{line}\n" for line in lines)


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
        out += _run_lines(state["terminated"], container, image)
    return out


def _run_lines(terminated: dict[str, Any], container: str, image: str) -> list[str]:
    """One finished run: its start and its exit."""
    return [
        f"{terminated.get('startedAt', '')} kubeglass: container {container} ({image}) started",
        f"{terminated.get('finishedAt', '')} kubeglass: container {container} exited with code "
        f"{terminated.get('exitCode')} ({terminated.get('reason', '')})",
    ]

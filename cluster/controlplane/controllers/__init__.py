"""kube-controller-manager: each module here holds one controller and lists it in ``CONTROLLERS``.

The order below is the order the loop visits them, which keeps replays identical.
"""

from __future__ import annotations

import importlib
from typing import Any

from cluster.controlplane import components

MODULES = (
    "serviceaccount",
    "namespace",
    "nodeipam",
    "nodelifecycle",
    "replicaset",
    "deployment",
    "statefulset",
    "daemonset",
    "endpoints",
    "endpointslice",
    "garbagecollector",
    "pvbinder",
    "podgc",
    "rootcacertpublisher",
)


def _load() -> list[type[Any]]:
    out: list[type[Any]] = []
    for name in MODULES:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        out.extend(getattr(module, "CONTROLLERS", []))
    return out


components.register("kube-controller-manager", _load)

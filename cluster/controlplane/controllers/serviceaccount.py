"""The serviceaccount controller: every namespace gets a ``default`` ServiceAccount."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.controlplane.controller import Controller
from cluster.controlplane.informer import object_key

COMPONENT = "kube-controller-manager"

# Narration for the glass: message key -> English template (translated through Django i18n).
NARRATION = {
    "kcm.serviceaccount.created": gettext_noop(
        "The serviceaccount controller created the default ServiceAccount in namespace {namespace}."
    ),
}


class ServiceAccountController(Controller):
    component = COMPONENT
    name = "serviceaccount"
    watches = (("", "Namespace"), ("", "ServiceAccount"))

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "Namespace":
            self.queue.add(object_key(obj))
        elif obj["metadata"]["name"] == "default" and etype == "DELETED":
            self.queue.add(obj["metadata"]["namespace"])

    def reconcile(self, key: str) -> float | None:
        ns = self.ctx.lister("", "Namespace").get(None, key)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        if self.ctx.lister("", "ServiceAccount").get(key, "default") is not None:
            return None
        try:
            self.ctx.create(COMPONENT, "", "ServiceAccount", key, {"metadata": {"name": "default"}})
        except StatusError as err:
            if err.code != 409:
                raise
        self.ctx.trace(
            COMPONENT,
            "serviceaccount",
            "kcm.serviceaccount.created",
            {"namespace": key},
            [{"kind": "ServiceAccount", "namespace": key, "name": "default"}],
        )
        return None


CONTROLLERS = [ServiceAccountController]

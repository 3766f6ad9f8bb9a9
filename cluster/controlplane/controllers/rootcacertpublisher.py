"""The root-ca-cert-publisher: every namespace gets the ``kube-root-ca.crt`` ConfigMap pods mount."""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_noop

from cluster.api.errors import StatusError
from cluster.controlplane.controller import Controller
from cluster.controlplane.informer import object_key

COMPONENT = "kube-controller-manager"
NAME = "kube-root-ca.crt"
# The simulated cluster CA; a placeholder PEM, as no TLS runs inside the simulation.
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBkubeglass-simulated-cluster-ca\n-----END CERTIFICATE-----\n"

NARRATION = {
    "kcm.rootca.published": gettext_noop("The root-ca-cert-publisher put {name} into namespace {namespace}."),
}


class RootCACertPublisher(Controller):
    component = COMPONENT
    name = "root-ca-cert-publisher"
    watches: ClassVar[tuple[tuple[str, str], ...]] = (("", "Namespace"), ("", "ConfigMap"))

    def on_event(
        self, group: str, kind: str, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        obj = new or old
        if obj is None:
            return
        if kind == "Namespace":
            self.queue.add(object_key(obj))
        elif obj["metadata"]["name"] == NAME:
            self.queue.add(obj["metadata"]["namespace"])

    def reconcile(self, key: str) -> float | None:
        ns = self.ctx.lister("", "Namespace").get(None, key)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        existing = self.ctx.lister("", "ConfigMap").get(key, NAME)
        if existing is not None and (existing.get("data") or {}).get("ca.crt") == CA_PEM:
            return None
        body = {
            "metadata": {
                "name": NAME,
                "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
                },
            },
            "data": {"ca.crt": CA_PEM},
        }
        try:
            if existing is None:
                self.ctx.create(COMPONENT, "", "ConfigMap", key, body)
            else:
                self.ctx.update(COMPONENT, {**existing, "data": body["data"]})
        except StatusError as err:
            if err.code not in (403, 404, 409):
                raise
            return None
        self.ctx.trace(COMPONENT, "rootca", "kcm.rootca.published", {"name": NAME, "namespace": key})
        return None


CONTROLLERS = [RootCACertPublisher]

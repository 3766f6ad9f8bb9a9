"""Narration: every trace step's message key, as a sentence in the reader's language.

Modules under ``cluster`` declare ``NARRATION = {key: gettext_noop("... {param} ...")}``
beside the code that records the steps; they are found by walking the package, so a new
control loop narrates itself without touching the glass. Templates are translated through
Django's i18n (``web/locale``), and the browser fills the ``{param}`` holes.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from collections.abc import Iterator

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

logger = logging.getLogger(__name__)

# Keys recorded by code that declares no NARRATION of its own (the API server's pipeline, leader election).
# A module that later declares the same key wins.
BUILTIN: dict[str, str] = {
    "apiserver.authn": gettext_noop(
        "kube-apiserver received {verb} {kind} {name} from {user} and authenticated the caller (bearer token)."
    ),
    "apiserver.authz": gettext_noop("Authorization: {user} is allowed to {verb} {kind} objects here."),
    "apiserver.admission": gettext_noop(
        "Mutating admission filled in the defaults of {kind} {name} (service account, pull policy, and so on)."
    ),
    "apiserver.validation": gettext_noop("Validation: {kind} {name} is a well-formed object."),
    "etcd.create": gettext_noop("etcd stored the new {kind} {name}; every watcher of {kind} objects is told."),
    "etcd.update": gettext_noop("etcd stored the updated {kind} {name}; its watchers see a MODIFIED event."),
    "etcd.patch": gettext_noop("etcd stored the patched {kind} {name}; its watchers see a MODIFIED event."),
    "etcd.apply": gettext_noop("etcd stored {kind} {name} as applied; its watchers see a MODIFIED event."),
    "etcd.scale": gettext_noop("etcd stored the new replica count of {kind} {name}."),
    "etcd.bind": gettext_noop("etcd stored the binding: pod {name} now has a node."),
    "etcd.delete": gettext_noop("etcd recorded the deletion of {kind} {name}; its watchers see a DELETED event."),
    "etcd.evict": gettext_noop("etcd recorded the eviction of pod {name}."),
    "runtime.lease.acquired": gettext_noop("{holder} took the {component} Lease and is now the leader."),
}

_SKIP = ("migrations", "management", "locale")


def _cluster_modules() -> Iterator[str]:
    import cluster

    for info in pkgutil.walk_packages(cluster.__path__, "cluster."):
        if any(f".{part}" in info.name for part in _SKIP):
            continue
        yield info.name


@functools.cache
def templates() -> dict[str, str]:
    """Every message key with its English template (the msgid that translations are keyed by)."""
    found: dict[str, str] = dict(BUILTIN)
    for name in _cluster_modules():
        try:
            module = importlib.import_module(name)
        except Exception:  # a module being written by someone else must not break the glass
            logger.warning("narration: could not import %s", name, exc_info=True)
            continue
        narration = getattr(module, "NARRATION", None)
        if isinstance(narration, dict):
            found.update({str(k): str(v) for k, v in narration.items()})
    return found


def catalogue(language: str | None = None) -> dict[str, str]:
    """Key -> template in ``language`` (the active one by default); untranslated keys stay English."""
    if language is None:
        return {key: gettext(msgid) for key, msgid in templates().items()}
    with translation.override(language):
        return {key: gettext(msgid) for key, msgid in templates().items()}


def render(key: str, params: dict[str, object], language: str | None = None) -> str:
    """One step as a sentence (the server-side twin of the browser's fill-in)."""
    template = catalogue(language).get(key)
    if template is None:
        return key
    out = template
    for name, value in params.items():
        out = out.replace("{" + name + "}", str(value))
    return out

"""Applying pasted manifests, as ``kubectl apply -f -`` does, and pointing at the line an error names.

YAML is read with the safe loader and no aliases (a small document must not expand
into a huge one). Each document keeps its parse tree, so a Status cause's ``field``
(``spec.template.spec.containers[0].image``) can be traced back to a line of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.conf import settings

from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options
from cluster.api.bodies import depth
from cluster.api.errors import StatusError, bad_request


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(None, None, "YAML aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)


@dataclass
class Document:
    body: Any
    node: yaml.Node


@dataclass
class Problem:
    """One document's failure: the API server's Status, and the lines its fields point at (0-based)."""

    status: dict[str, Any]
    lines: list[int] = field(default_factory=list)
    label: str = ""


@dataclass
class Outcome:
    applied: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def error_lines(self) -> set[int]:
        return {line for p in self.problems for line in p.lines}


class ManifestError(Exception):
    """The text itself is unusable (YAML syntax, too large); ``line`` is 0-based when known."""

    def __init__(self, status: dict[str, Any], line: int | None = None) -> None:
        super().__init__(status.get("message", ""))
        self.status = status
        self.line = line


def parse(text: str) -> list[Document]:
    limit = settings.KUBEGLASS["MAX_REQUEST_BYTES"]
    if len(text.encode()) > limit:
        raise ManifestError(
            StatusError(413, "RequestEntityTooLarge", f"the manifest is larger than {limit} bytes").status()
        )
    docs: list[Document] = []
    try:
        for node in yaml.compose_all(text, Loader=_NoAliasLoader):
            if node is None:
                continue
            body = _NoAliasLoader("").construct_document(node)
            if body is None:
                continue
            docs.append(Document(body, node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ManifestError(
            bad_request(f"error converting YAML to JSON: {first}").status(), mark.line if mark else None
        ) from exc
    if not docs:
        raise ManifestError(bad_request("no objects passed to apply").status())
    max_depth = settings.KUBEGLASS["MAX_NESTING_DEPTH"]
    for doc in docs:
        if depth(doc.body, max_depth) > max_depth:
            raise ManifestError(bad_request(f"the manifest is nested deeper than {max_depth} levels").status())
    return docs


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]]*)\]")


def field_line(node: yaml.Node, path: str) -> int:
    """The 0-based line of the deepest part of ``path`` present in the document (its own line if all is)."""
    line = node.start_mark.line
    current: yaml.Node | None = node
    for match in _TOKEN.finditer(path):
        if current is None:
            break
        key, index, bracket = match.group(1), match.group(2), match.group(3)
        nxt: yaml.Node | None = None
        if index is not None and isinstance(current, yaml.SequenceNode):
            i = int(index)
            if i < len(current.value):
                nxt = current.value[i]
        elif isinstance(current, yaml.MappingNode):
            want = key if key is not None else bracket
            for k, v in current.value:
                if getattr(k, "value", None) == want:
                    line = k.start_mark.line
                    nxt = v
                    break
        if nxt is None:
            break
        if isinstance(nxt, yaml.ScalarNode) or index is not None:
            line = nxt.start_mark.line
        current = nxt
    return line


def kind_label(resource: registry.Resource) -> str:
    """``deployment.apps``, ``pod``: how kubectl names a kind in its output."""
    return f"{resource.kind.lower()}.{resource.group}" if resource.group else resource.kind.lower()


def _resource_for(body: dict[str, Any]) -> registry.Resource:
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not api_version or not kind:
        missing = "apiVersion" if not api_version else "kind"
        raise StatusError(
            400,
            "BadRequest",
            f"error validating data: {missing} not set",
            {"causes": [{"field": missing, "message": "Required value"}]},
        )
    resource = registry.by_api_version(str(api_version), str(kind))
    if resource is None or "create" not in resource.verbs:
        raise StatusError(
            404, "NotFound", f'resource mapping not found: no matches for kind "{kind}" in version "{api_version}"',
            {"causes": [{"field": "kind", "message": "no such kind"}]},
        )  # fmt: skip
    return resource


def apply_one(api: ApiServer, body: Any, namespace: str = "default") -> str:
    """Server-side apply of one object; returns kubectl's line (``deployment.apps/web created``)."""
    if not isinstance(body, dict):
        raise bad_request("each document must be a Kubernetes object (a mapping)")
    resource = _resource_for(body)
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    name = str(meta.get("name") or "")
    if not name:
        raise StatusError(
            422, "Invalid", f'{resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required',
            {"kind": resource.kind, "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.name"}]},
        )  # fmt: skip
    ns = (meta.get("namespace") or namespace) if resource.namespaced else None
    try:
        old = api.get(resource, ns, name)
    except StatusError as err:
        if err.code != 404:
            raise
        old = None
    opts = Options(field_manager="kubectl", force=True, component="kubectl")
    result = api.patch(resource, ns, name, "application/apply-patch+yaml", body, opts)
    label = f"{kind_label(resource)}/{name}"
    if old is None:
        return f"{label} created"
    if result.object["metadata"].get("resourceVersion") == old["metadata"].get("resourceVersion"):
        return f"{label} unchanged"
    return f"{label} configured"


def apply_text(api: ApiServer, text: str, namespace: str = "default") -> Outcome:
    """Apply every document, continuing past failures as kubectl does; errors keep their lines."""
    outcome = Outcome()
    for doc in parse(text):
        try:
            outcome.applied.append(apply_one(api, doc.body, namespace))
        except StatusError as err:
            status = err.status()
            causes = (status.get("details") or {}).get("causes") or []
            lines = sorted({field_line(doc.node, c["field"]) for c in causes if c.get("field")})
            if not lines:
                lines = [doc.node.start_mark.line]
            meta = doc.body.get("metadata") if isinstance(doc.body, dict) else None
            label = f"{doc.body.get('kind', '?')}/{(meta or {}).get('name', '')}" if isinstance(doc.body, dict) else ""
            outcome.problems.append(Problem(status, lines, label))
    return outcome

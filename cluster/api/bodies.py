"""Reading request bodies safely: size cap, JSON or YAML (safe, no aliases), nesting depth."""

from __future__ import annotations

import json
from typing import Any

import yaml

from cluster.api.errors import StatusError, bad_request


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, so a small document cannot expand into a huge one."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not allowed in requests", event.start_mark
            )
        return super().compose_node(parent, index)


def depth(value: Any, limit: int) -> int:
    """Nesting depth, computed without recursion so a hostile body cannot blow the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def parse(raw: bytes, content_type: str, max_depth: int) -> Any:
    """Decode a body as the apiserver's serializers would; a bad body is a 400, never a 500."""
    if not raw.strip():
        raise bad_request("the body of the request is empty")
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype == "application/vnd.kubernetes.protobuf":
        from cluster.api import protobuf

        try:
            return protobuf.decode(raw)
        except (protobuf.ProtobufError, UnicodeDecodeError, KeyError, ValueError) as exc:
            raise bad_request(f"the protobuf body could not be decoded: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("the body of the request is not valid UTF-8") from exc
    if ctype.endswith("yaml"):
        try:
            docs = list(yaml.load_all(text, Loader=_NoAliasLoader))
        except yaml.YAMLError as exc:
            raise bad_request(f"error converting YAML to JSON: {str(exc).splitlines()[0]}") from exc
        if len(docs) != 1:
            raise bad_request("the body must hold exactly one YAML document")
        value = docs[0]
    elif ctype.endswith("json") or ctype == "*/*":
        if raw.count(b"[") + raw.count(b"{") > 0 and _bracket_depth(raw) > max_depth:
            raise StatusError(400, "BadRequest", f"the request body is nested deeper than {max_depth} levels")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc
    else:
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml (got {ctype})",
        )
    if depth(value, max_depth) > max_depth:
        raise StatusError(400, "BadRequest", f"the request body is nested deeper than {max_depth} levels")
    return value


def _bracket_depth(raw: bytes) -> int:
    """A cheap upper bound on JSON nesting, checked before the parser can recurse."""
    d = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            d += 1
            deepest = max(deepest, d)
        elif byte in (0x5D, 0x7D):
            d -= 1
    return deepest

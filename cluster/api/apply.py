"""Server-side apply and field ownership (``metadata.managedFields``), as pure functions.

A compact take on ``sigs.k8s.io/structured-merge-diff`` and the apiserver's field manager:

* field sets are sets of paths, each path a tuple of FieldsV1 elements (``f:spec``,
  ``k:{"name":"web"}``, ``v:"foo"``, ``i:0``), serialised in the real FieldsV1 format;
* :func:`server_side_apply` merges an applied configuration into the live object, prunes what the
  manager applied before and no longer applies, and raises :class:`ApplyConflict` when it would
  change a field another manager owns (unless forced);
* :func:`record_update_manager` records what an ordinary create/update/patch changed, under an
  ``Update`` entry, so that later applies see the conflict.

Deliberately simpler than upstream: no version conversion between managers' API versions, no cap
on the number of Update managers, and unions/defaulting of list keys only for ``protocol``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster.api import schema as k8s_schema
from cluster.api.patch import BAD_REQUEST, PatchError, kind_schema

Json = Any
Path = tuple[str, ...]
ManagerKey = tuple[str, str, str, str]  # manager, operation, apiVersion ("" for Apply), subresource

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BEFORE_FIRST_APPLY = "before-first-apply"
APPLY = "Apply"
UPDATE = "Update"

# Paths the field manager never records (upstream stripMetaManager).
_STRIPPED: frozenset[Path] = frozenset(
    {
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    }
)

# Defaults of list-map key fields, so an item that omits one matches the defaulted live item.
_KEY_DEFAULTS: dict[str, Json] = {"protocol": "TCP"}


class ApplyConflict(Exception):
    """An apply would change fields other managers own.

    ``conflicts`` lists (manager name, field path) pairs; ``message`` and ``causes`` carry upstream's
    wording, where an Update manager reads ``"name" using apps/v1``.
    """

    def __init__(
        self,
        conflicts: list[tuple[str, str]],
        *,
        displays: list[str] | None = None,
        paths: list[Path] | None = None,
    ) -> None:
        self.conflicts = conflicts
        self.displays = displays or [json.dumps(manager) for manager, _ in conflicts]
        self.paths = paths or []
        self.message = _conflict_message([(d, p) for d, (_, p) in zip(self.displays, conflicts, strict=True)])
        super().__init__(self.message)

    @property
    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the 409 Status upstream returns."""
        return [
            {"type": "FieldManagerConflict", "message": f"conflict with {display}", "field": path}
            for display, (_, path) in zip(self.displays, self.conflicts, strict=True)
        ]


def _conflict_message(conflicts: list[tuple[str, str]]) -> str:
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {manager}: {path}"
    grouped: dict[str, list[str]] = {}
    for manager, path in conflicts:
        grouped.setdefault(manager, []).append(path)
    lines: list[str] = []
    for manager in grouped:
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {path}" for path in grouped[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# --------------------------------------------------------------------------- schema types


@dataclass(frozen=True)
class _Type:
    """How structured-merge-diff sees a schema node."""

    kind: str  # scalar | atomic | struct | map | list (associative) | set | deduced
    schema: dict | None = None
    keys: tuple[str, ...] = ()
    item: dict | None = None


_DEDUCED = _Type("deduced")
_SCALAR = _Type("scalar")
_ATOMIC = _Type("atomic")


def _type_of(sch: dict | None) -> _Type:
    if sch is None:
        return _DEDUCED
    resolved = k8s_schema.resolve(sch)
    if resolved.get("x-kubernetes-preserve-unknown-fields"):
        return _DEDUCED

    def ext(name: str) -> Any:
        return sch.get(name) if name in sch else resolved.get(name)

    types = k8s_schema.types_of(sch)
    if "array" in types:
        item = k8s_schema.child(resolved, None)
        list_type = ext("x-kubernetes-list-type")
        strategy = str(ext("x-kubernetes-patch-strategy") or "")
        merge_key = ext("x-kubernetes-patch-merge-key")
        if list_type == "map":
            keys = ext("x-kubernetes-list-map-keys") or ([merge_key] if merge_key else [])
            return _Type("list", resolved, tuple(keys), item) if keys else _ATOMIC
        if list_type == "set":
            return _Type("set", resolved, (), item)
        if list_type is None and "merge" in strategy.split(","):
            if merge_key:
                return _Type("list", resolved, (merge_key,), item)
            return _Type("set", resolved, (), item)
        return _ATOMIC
    if "object" in types:
        if ext("x-kubernetes-map-type") == "atomic":
            return _ATOMIC
        if resolved.get("properties"):
            return _Type("struct", resolved)
        extra = resolved.get("additionalProperties")
        if isinstance(extra, dict):
            return _Type("map", resolved, (), extra)
        return _DEDUCED
    if types:
        return _SCALAR
    return _DEDUCED


def _child(t: _Type, key: str) -> tuple[_Type, bool]:
    """The type of field ``key`` of a map-like node, and whether it is a declared struct field."""
    if t.kind == "struct" and t.schema is not None:
        props = t.schema.get("properties") or {}
        if key in props:
            return _type_of(props[key]), True
        return _type_of(k8s_schema.child(t.schema, key)), False
    if t.kind == "map":
        return _type_of(t.item), False
    return _DEDUCED, False


def _granular_map(t: _Type, value: Json) -> bool:
    return t.kind in ("struct", "map", "deduced") and isinstance(value, dict)


def _granular_list(t: _Type, value: Json) -> bool:
    return t.kind in ("list", "set") and isinstance(value, list)


def _compact(value: Json) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _item_element(t: _Type, item: Json, index: int) -> str:
    """The path element naming a list item: its keys, its value (sets), or else its index."""
    if t.kind == "set" and not isinstance(item, dict | list):
        return "v:" + _compact(item)
    if t.kind == "list" and isinstance(item, dict):
        key: dict[str, Json] = {}
        for name in sorted(t.keys):
            if item.get(name) is not None:
                key[name] = item[name]
            elif name in _KEY_DEFAULTS:
                key[name] = _KEY_DEFAULTS[name]
        if key:
            return "k:" + _compact(key)
    return f"i:{index}"


def _equal(a: Json, b: Json) -> bool:
    """JSON equality that, like Go, tells ints, floats and booleans apart."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- field sets


def field_set(obj: Json, sch: dict | None) -> set[Path]:
    """Every field an applied configuration sets (upstream TypedValue.ToFieldSet)."""
    out: set[Path] = set()
    _collect(obj, _type_of(sch), (), out)
    return out


def _collect(value: Json, t: _Type, path: Path, out: set[Path]) -> None:
    if value is None:
        return
    if _granular_map(t, value):
        for key, child in value.items():
            child_type, declared = _child(t, key)
            child_path = (*path, f"f:{key}")
            _collect(child, child_type, child_path, out)
            if child is None or child == {} or not declared:
                out.add(child_path)
    elif _granular_list(t, value):
        item_type = _type_of(t.item)
        for index, item in enumerate(value):
            item_path = (*path, _item_element(t, item, index))
            _collect(item, item_type, item_path, out)
            out.add(item_path)
    elif path:
        out.add(path)


@dataclass
class _Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def exclude(self, prefixes: Iterable[Path]) -> _Comparison:
        prefixes = tuple(prefixes)

        def keep(paths: set[Path]) -> set[Path]:
            return {p for p in paths if not any(p[: len(x)] == x for x in prefixes)}

        return _Comparison(keep(self.added), keep(self.modified), keep(self.removed))


def _compare(old: Json, new: Json, t: _Type, *, create: bool = False) -> _Comparison:
    """Which paths ``new`` adds, modifies and removes relative to ``old`` (upstream Compare).

    On create upstream compares against the kind's zero value, where non-pointer structs already
    exist; ``create`` approximates that by not marking non-empty struct fields as added.
    """
    result = _Comparison()
    _diff(old, new, t, (), result, create, False)
    return result


def _diff(old: Json, new: Json, t: _Type, path: Path, res: _Comparison, create: bool, in_zero: bool) -> None:
    """Walk both values; ``in_zero`` marks a required field, present (null) in a zero value."""
    if old is None and new is None:
        return
    if (old is None or _granular_map(t, old)) and (new is None or _granular_map(t, new)):
        left, right = old or {}, new or {}
        required = set((t.schema or {}).get("required") or []) if t.kind == "struct" else set()
        for key in dict.fromkeys([*left, *right]):
            child_type, _ = _child(t, key)
            child_path = (*path, f"f:{key}")
            _diff(left.get(key), right.get(key), child_type, child_path, res, create, key in required)
        named_struct = t.kind == "struct" and bool(path) and path[-1].startswith("f:")
        # Top-level structs (metadata, spec, status) always exist in a zero value.
        if path and old is None and not (create and (in_zero or (named_struct and (new or len(path) == 1)))):
            res.added.add(path)
        elif path and new is None:
            res.removed.add(path)
        return
    if (old is None or _granular_list(t, old)) and (new is None or _granular_list(t, new)):
        item_type = _type_of(t.item)
        left_items: dict[str, Json] = {}
        for i, item in enumerate(old or []):
            left_items.setdefault(_item_element(t, item, i), item)
        right_items: dict[str, Json] = {}
        for i, item in enumerate(new or []):
            right_items.setdefault(_item_element(t, item, i), item)
        for element in dict.fromkeys([*left_items, *right_items]):
            _diff(left_items.get(element), right_items.get(element), item_type, (*path, element), res, create, False)
        if path and old is None and not (create and in_zero):
            res.added.add(path)
        elif path and new is None:
            res.removed.add(path)
        return
    if old is None:
        res.added.add(path)
    elif new is None:
        res.removed.add(path)
    elif not _equal(old, new):
        res.modified.add(path)


def _strip(paths: set[Path]) -> set[Path]:
    return {p for p in paths if p not in _STRIPPED}


def _exclude(paths: set[Path], prefixes: Iterable[Path]) -> set[Path]:
    prefixes = tuple(prefixes)
    return {p for p in paths if not any(p[: len(x)] == x for x in prefixes)}


# --------------------------------------------------------------------------- FieldsV1 encoding


_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def _element_sort_key(element: str) -> tuple[int, int, str]:
    kind, _, rest = element.partition(":")
    if kind == "i" and rest.isdigit():
        return (_RANK["i"], int(rest), "")
    return (_RANK.get(kind, 9), 0, rest)


@dataclass
class _Node:
    member: bool = False
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(paths: Iterable[Path]) -> _Node:
    root = _Node()
    for path in paths:
        node = root
        for element in path:
            node = node.children.setdefault(element, _Node())
        node.member = True
    return root


def fields_v1(paths: Iterable[Path]) -> dict:
    """Serialise a field set in the FieldsV1 format, ordered as upstream writes it."""

    def emit(node: _Node) -> dict:
        out: dict[str, dict] = {}
        if node.member and node.children:
            out["."] = {}
        for element in sorted(node.children, key=_element_sort_key):
            out[element] = emit(node.children[element])
        return out

    return emit(_tree(paths))


def parse_fields_v1(fields: Json) -> set[Path]:
    """The field set a FieldsV1 document describes."""
    out: set[Path] = set()

    def walk(node: Json, path: Path) -> None:
        if not isinstance(node, dict):
            return
        if path and (not node or "." in node):
            out.add(path)
        for element, child in node.items():
            if element != ".":
                walk(child, (*path, element))

    walk(fields, ())
    return out


def path_string(path: Path) -> str:
    """A path as upstream prints it: ``.spec.template.spec.containers[name="web"].image``."""

    def show(value: Json) -> str:
        return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else _compact(value)

    parts: list[str] = []
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            parts.append("." + rest)
        elif kind == "k":
            try:
                key = json.loads(rest)
            except ValueError:
                key = {}
            parts.append("[" + ",".join(f"{k}={show(v)}" for k, v in sorted(key.items())) + "]")
        elif kind == "v":
            try:
                parts.append(f"[={show(json.loads(rest))}]")
            except ValueError:
                parts.append(f"[={rest}]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts)


def _iterate(paths: Iterable[Path]) -> list[Path]:
    """Paths in upstream's Set.Iterate order: each level's members, then its children."""
    out: list[Path] = []

    def walk(node: _Node, prefix: Path) -> None:
        ordered = sorted(node.children, key=_element_sort_key)
        out.extend((*prefix, e) for e in ordered if node.children[e].member)
        for element in ordered:
            walk(node.children[element], (*prefix, element))

    walk(_tree(paths), ())
    return out


# --------------------------------------------------------------------------- managedFields


@dataclass
class _Entry:
    fields: set[Path]
    api_version: str
    time: str | None = None


def _decode(obj: dict | None) -> dict[ManagerKey, _Entry]:
    entries = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return _decode_entries(entries)


def _decode_entries(entries: Json) -> dict[ManagerKey, _Entry]:
    managers: dict[ManagerKey, _Entry] = {}
    if not isinstance(entries, list):
        return managers
    for raw in entries:
        if not isinstance(raw, dict) or (not raw.get("manager") and not raw.get("operation")):
            continue
        operation = str(raw.get("operation") or "")
        api_version = str(raw.get("apiVersion") or "")
        key = (
            str(raw.get("manager") or ""),
            operation,
            "" if operation == APPLY else api_version,
            str(raw.get("subresource") or ""),
        )
        paths = parse_fields_v1(raw.get("fieldsV1") or {})
        if key in managers:
            managers[key].fields |= paths
        else:
            managers[key] = _Entry(paths, api_version, raw.get("time"))
    return managers


def _encode(managers: dict[ManagerKey, _Entry]) -> list[dict]:
    entries = []
    for (manager, operation, _, subresource), entry in managers.items():
        out: dict[str, Json] = {"manager": manager, "operation": operation, "apiVersion": entry.api_version}
        if entry.time:
            out["time"] = entry.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = fields_v1(entry.fields)
        if subresource:
            out["subresource"] = subresource
        entries.append(out)
    entries.sort(
        key=lambda e: (e["operation"], e.get("time") or "", e["manager"], e["apiVersion"], e.get("subresource", ""))
    )
    return entries


def _set_managed_fields(obj: dict, managers: dict[ManagerKey, _Entry]) -> None:
    metadata = obj.setdefault("metadata", {})
    encoded = _encode(managers)
    if encoded:
        metadata["managedFields"] = encoded
    else:
        metadata.pop("managedFields", None)


def _without_managed_fields(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return out


def _display(key: ManagerKey) -> str:
    manager, operation, api_version, _ = key
    if operation == UPDATE:
        return f"{json.dumps(manager)} using {api_version}"
    return json.dumps(manager)


def _schema_for(obj: dict, sch: dict | None) -> dict | None:
    if sch is not None:
        return sch
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if isinstance(api_version, str) and isinstance(kind, str):
        return kind_schema(api_version, kind)
    return None


# --------------------------------------------------------------------------- merge and prune


def _strip_nulls(value: Json) -> Json:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _merge(live: Json, config: Json, t: _Type) -> Json:
    """Merge an applied value into a live one (upstream TypedValue.Merge, config wins)."""
    if config is None:
        return None
    if live is None:
        return _strip_nulls(copy.deepcopy(config))
    if _granular_map(t, live) and _granular_map(t, config):
        out = dict(live)
        for key, value in config.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merge(live.get(key), value, _child(t, key)[0])
        return out
    if _granular_list(t, live) and _granular_list(t, config):
        return _merge_list(live, config, t)
    return _strip_nulls(copy.deepcopy(config))


def _merge_list(live: list, config: list, t: _Type) -> list:
    """Merge keyed lists: shared items follow the config's order, live-only items keep their place."""
    item_type = _type_of(t.item)
    left = [_item_element(t, item, i) for i, item in enumerate(live)]
    right = [_item_element(t, item, i) for i, item in enumerate(config)]
    seen_left: dict[str, Json] = {}
    for element, item in zip(left, live, strict=True):
        seen_left.setdefault(element, item)
    seen_right: dict[str, Json] = {}
    for element, item in zip(right, config, strict=True):
        seen_right.setdefault(element, item)
    shared = [e for e in right if e in seen_left]
    next_shared = shared.pop(0) if shared else None
    merged_right: set[str] = set()
    out: list = []
    li = ri = 0
    while li < len(left) or ri < len(right):
        if li < len(left) and ri < len(right):
            element = left[li]
            if element == right[ri]:
                merged_right.add(element)
                out.append(_merge(seen_left.get(element), seen_right[element], item_type))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if element in seen_right and next_shared is not None and next_shared != element:
                li += 1
                continue
        if li < len(left):
            element = left[li]
            if element not in seen_right:
                out.append(live[li])
                li += 1
                continue
            if element in merged_right:
                li += 1
                continue
        if ri < len(right):
            element = right[ri]
            merged_right.add(element)
            out.append(_merge(seen_left.get(element), seen_right[element], item_type))
            ri += 1
            if next_shared is not None and next_shared == element:
                next_shared = shared.pop(0) if shared else None
    return out


def _prune(obj: dict, t: _Type, remove: set[Path], owned: set[Path]) -> None:
    """Remove fields a manager stopped applying that nobody else owns.

    A removed list item or map entry goes with everything under it; a struct field some manager
    still owns something under is kept. Maps and lists emptied by pruning disappear, as Go's
    ``omitempty`` would drop them.
    """
    if not remove:
        return
    remove_prefixes = {p[:i] for p in remove for i in range(1, len(p))}
    owned_prefixes = {p[:i] for p in owned for i in range(1, len(p))}

    def walk(value: Json, node: _Type, path: Path) -> None:
        if _granular_map(node, value):
            for key in list(value):
                child_path = (*path, f"f:{key}")
                child_type, declared = _child(node, key)
                if child_path in remove and not (declared and child_path in owned_prefixes):
                    del value[key]
                elif child_path in remove_prefixes:
                    walk(value[key], child_type, child_path)
                    if child_type.kind in ("map", "list", "set") and value[key] in ({}, []):
                        del value[key]
        elif _granular_list(node, value):
            item_type = _type_of(node.item)
            kept = []
            for index, item in enumerate(value):
                item_path = (*path, _item_element(node, item, index))
                if item_path in remove:
                    continue
                if item_path in remove_prefixes:
                    walk(item, item_type, item_path)
                kept.append(item)
            value[:] = kept

    walk(obj, t, ())


# --------------------------------------------------------------------------- apply


def server_side_apply(
    live: dict | None,
    applied: dict,
    manager: str,
    force: bool,
    schema: dict | None,
    now: str,
    *,
    subresource: str = "",
    reset_fields: Iterable[str] = (),
) -> dict:
    """Apply ``applied`` as ``manager`` onto ``live`` (None: create) and return the new object.

    ``schema`` is the kind's definition (None: taken from apiVersion/kind when known, else the
    object is treated as schemaless). ``reset_fields`` are top-level fields this endpoint ignores
    (``status`` on the main resource of kinds with a status subresource), as upstream's reset
    fields. Raises :class:`ApplyConflict` or, for a malformed configuration, ``PatchError``.
    """
    if not isinstance(applied, dict):
        raise PatchError("the applied configuration must be a JSON object", BAD_REQUEST)
    metadata = applied.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise PatchError("metadata must be an object", BAD_REQUEST)
    if metadata and metadata.get("managedFields"):
        raise PatchError("metadata.managedFields must be nil", BAD_REQUEST)

    sch = _schema_for(applied, schema)
    if sch is None and live is not None:
        sch = _schema_for(live, None)
    root = _type_of(sch)
    ignored = [(f"f:{name}",) for name in reset_fields]
    config = copy.deepcopy(applied)
    for name in reset_fields:
        config.pop(name, None)
    if isinstance(config.get("metadata"), dict):
        config["metadata"].pop("managedFields", None)
    api_version = str(applied.get("apiVersion") or (live or {}).get("apiVersion") or "")

    live_obj = _without_managed_fields(live) if live is not None else None
    managers = _decode(live)
    if live_obj is not None and not managers:
        # Objects nobody tracked yet: what exists belongs to "before-first-apply" (upstream).
        first = _compare({}, live_obj, root, create=True).exclude(ignored)
        owned = _strip(first.added | first.modified)
        if owned:
            managers[(BEFORE_FIRST_APPLY, UPDATE, api_version, subresource)] = _Entry(owned, api_version, now)

    key: ManagerKey = (manager, APPLY, "", subresource)
    try:
        result = _apply(live_obj, config, managers, key, force, root, api_version, now, ignored)
    except ApplyConflict as conflict:
        if manager != "kubectl" or live_obj is None:
            raise
        # kubectl migrating from client-side apply may take over what it applied before.
        allowed = _allowed_from_last_applied(live_obj, api_version, root)
        if allowed is None:
            raise
        keep = [i for i, path in enumerate(conflict.paths) if path not in allowed]
        if keep:
            raise ApplyConflict(
                [conflict.conflicts[i] for i in keep],
                displays=[conflict.displays[i] for i in keep],
                paths=[conflict.paths[i] for i in keep],
            ) from None
        result = _apply(live_obj, config, managers, key, True, root, api_version, now, ignored)

    if manager == "kubectl":
        annotations = (result.get("metadata") or {}).get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = _last_applied_value(applied)
    return result


def _apply(
    live: dict | None,
    config: dict,
    managers: dict[ManagerKey, _Entry],
    key: ManagerKey,
    force: bool,
    root: _Type,
    api_version: str,
    now: str,
    ignored: list[Path],
) -> dict:
    managers = {k: _Entry(set(e.fields), e.api_version, e.time) for k, e in managers.items()}
    applied_set: set[Path] = set()
    _collect(config, root, (), applied_set)
    applied_set = _strip(_exclude(applied_set, ignored))

    merged = _merge(live, config, root) if live is not None else _strip_nulls(config)
    previous = managers.get(key)
    last = previous.fields if previous else set()
    managers[key] = _Entry(applied_set, api_version, previous.time if previous else None)
    owned: set[Path] = set().union(*(e.fields for e in managers.values()))
    _prune(merged, root, last - owned, owned)

    comparison = _compare(live or {}, merged, root, create=live is None).exclude(ignored)
    changed = comparison.added | comparison.modified
    conflicts: list[tuple[ManagerKey, set[Path]]] = []
    for other, entry in managers.items():
        if other != key and (overlap := entry.fields & changed):
            conflicts.append((other, overlap))
    if conflicts and not force:
        pairs = [(other, path) for other, overlap in sorted(conflicts) for path in _iterate(overlap)]
        raise ApplyConflict(
            [(o[0], path_string(p)) for o, p in pairs],
            displays=[_display(o) for o, _ in pairs],
            paths=[p for _, p in pairs],
        )
    for other, overlap in conflicts:
        managers[other].fields -= overlap
    for other, entry in managers.items():
        if other != key:
            entry.fields -= comparison.removed
    for other in [k for k, e in managers.items() if k != key and not e.fields]:
        del managers[other]

    entry = managers[key]
    if entry.time is None or live is None or not _equal(live, merged):
        entry.time = now
    _set_managed_fields(merged, managers)
    return merged


def _allowed_from_last_applied(live: dict, api_version: str, root: _Type) -> set[Path] | None:
    """Fields of the client-side last-applied configuration that the live object still matches."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(LAST_APPLIED)
    if not raw:
        return None
    try:
        last = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    fields = set()
    _collect(last, root, (), fields)
    comparison = _compare(last, live, root)
    return fields - comparison.modified - comparison.added - comparison.removed


def _last_applied_value(applied: dict) -> str:
    """The last-applied annotation kubectl's server-side apply keeps in sync (upstream buildLastApplied)."""
    config = copy.deepcopy(applied)
    annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- update


def record_update_manager(
    old: dict | None,
    new: dict,
    manager: str,
    operation: str,
    now: str,
    *,
    subresource: str = "",
    schema: dict | None = None,
    reset_fields: Iterable[str] = (),
) -> dict:
    """Return ``new`` with managedFields recording what this create/update/patch changed.

    Fields the write changed move to ``manager``'s ``Update`` entry (other managers lose them),
    fields it removed leave every manager. ``managedFields`` set in ``new`` itself win over the
    live ones, and ``[]`` or ``[{}]`` resets them, as upstream allows on the main resource.
    """
    result = copy.deepcopy(new)
    sch = _schema_for(new, schema)
    root = _type_of(sch)
    ignored = [(f"f:{name}",) for name in reset_fields]
    api_version = str(new.get("apiVersion") or (old or {}).get("apiVersion") or "")
    managers = _decode_live_or_new(old, new, bool(subresource))

    old_obj = _without_managed_fields(old) if old is not None else None
    new_obj = _without_managed_fields(result)
    comparison = _compare(old_obj or {}, new_obj, root, create=old is None).exclude(ignored)
    changed = comparison.added | comparison.modified
    for entry in managers.values():
        entry.fields -= changed
        entry.fields -= comparison.removed
    mine = _strip(changed - comparison.removed)
    key: ManagerKey = (manager, operation, api_version, subresource)
    if mine:
        previous = managers.get(key)
        managers[key] = _Entry(mine | (previous.fields if previous else set()), api_version, now)
    for other in [k for k, e in managers.items() if not e.fields]:
        del managers[other]
    _set_managed_fields(result, managers)
    return result


def _decode_live_or_new(old: dict | None, new: dict, subresource: bool) -> dict[ManagerKey, _Entry]:
    if subresource:
        return _decode(old)
    metadata = new.get("metadata") or {}
    if "managedFields" in metadata:
        entries = metadata["managedFields"]
        if entries == [] or entries == [{}]:
            return {}
        decoded = _decode_entries(entries)
        if decoded:
            return decoded
    return _decode(old)

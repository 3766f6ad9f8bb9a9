"""The three PATCH content types an API server accepts, as pure functions on JSON documents.

* ``application/merge-patch+json``: RFC 7386 (:func:`json_merge_patch`).
* ``application/json-patch+json``: RFC 6902 (:func:`json_patch`).
* ``application/strategic-merge-patch+json``: Kubernetes' own format (:func:`strategic_merge_patch`),
  following ``k8s.io/apimachinery/pkg/util/strategicpatch`` closely enough that the patches kubectl
  builds (``kubectl patch``, ``kubectl edit``, client-side ``kubectl apply`` with its
  ``$setElementOrder``, ``$retainKeys``, ``$deleteFromPrimitiveList`` and ``$patch`` directives)
  give the same objects they give against a real cluster, list order included.

The patch strategy of every field comes from the official OpenAPI schemas (``schema.py``):
``x-kubernetes-patch-strategy`` and ``x-kubernetes-patch-merge-key``, the same metadata upstream
reads from its Go struct tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

from cluster.api import schema as k8s_schema
from cluster.jsonutil import clone

DIRECTIVE = "$patch"
REPLACE = "replace"
DELETE = "delete"
MERGE = "merge"
RETAIN_KEYS_STRATEGY = "retainKeys"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"

# Upstream's mergepatch error texts, so clients see the messages a real server sends.
ERR_BAD_JSON_DOC = "invalid JSON document"
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"
ERR_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"

BAD_REQUEST = 400
UNPROCESSABLE = 422

Json = Any


class PatchError(Exception):
    """A patch document that cannot be applied; ``code`` is the HTTP status upstream answers with."""

    def __init__(self, message: str, code: int = UNPROCESSABLE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------- JSON merge patch


def json_merge_patch(original: dict, patch: dict) -> dict:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        raise PatchError(f"{ERR_BAD_JSON_DOC}: a merge patch must be a JSON object", BAD_REQUEST)
    result = _merge_patch_value(original if isinstance(original, dict) else {}, patch)
    return result


def _merge_patch_value(target: Json, patch: Json) -> Json:
    if not isinstance(patch, dict):
        return clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch_value(out.get(key), value)
    return out


# --------------------------------------------------------------------------- JSON patch


def json_patch(original: dict, operations: list) -> dict:
    """RFC 6902, one operation at a time so a failure names the operation that failed."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", BAD_REQUEST)
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError(f"invalid JSON patch operation: {json.dumps(op)}", BAD_REQUEST)
        if not isinstance(op.get("path"), str):
            raise PatchError(f"{op['op']} operation is missing a path", BAD_REQUEST)
    doc: Json = clone(original)
    for op in operations:
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchError(f"testing value {op['path']} failed: test failed") from exc
        except jsonpatch.InvalidJsonPatch as exc:
            raise PatchError(f"invalid JSON patch operation {json.dumps(op)}: {exc}", BAD_REQUEST) from exc
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as exc:
            raise PatchError(
                f"{op['op']} operation does not apply: doc is missing path: {json.dumps(op['path'])}: {exc}"
            ) from exc
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"{op['op']} operation does not apply to {op['path']}: {exc}") from exc
    if not isinstance(doc, dict):
        raise PatchError("the patched document is not a JSON object")
    return doc


# --------------------------------------------------------------------------- strategic merge patch


def strategic_merge_patch(original: dict, patch: dict, schema: dict | None) -> dict:
    """Apply a strategic merge patch; ``schema`` is the kind's definition (None: JSON merge patch).

    Inputs are not modified. Unknown kinds have no patch metadata, and upstream refuses strategic
    patches for them, so a plain merge patch is the closest honest behaviour.
    """
    if not isinstance(patch, dict):
        raise PatchError(ERR_BAD_JSON_DOC, BAD_REQUEST)
    if schema is None:
        return json_merge_patch(original, patch)
    result = _merge_map(clone(original) if isinstance(original, dict) else {}, clone(patch), schema)
    return result


def kind_schema(api_version: str, kind: str) -> dict | None:
    """The definition for an ``apiVersion``/``kind`` pair, or None for kinds without a schema."""
    group, _, version = api_version.rpartition("/")
    name = k8s_schema.definition_name(group, version, kind)
    return k8s_schema.definitions()[name] if name else None


@dataclass(frozen=True)
class _FieldMeta:
    """Patch metadata of one field: what upstream reads from the struct tags."""

    strategy: str = ""  # "merge", "replace" or "" (replace for lists, merge for maps)
    merge_key: str = ""
    schema: dict | None = None  # the field's own schema (resolved)
    items: dict | None = None  # the schema of list items (resolved)


_NO_META = _FieldMeta()


def _field_meta(parent: dict | None, key: str) -> _FieldMeta:
    if parent is None:
        return _NO_META
    prop = k8s_schema.child(parent, key)
    if prop is None:
        return _NO_META
    resolved = k8s_schema.resolve(prop)
    raw = prop.get("x-kubernetes-patch-strategy") or resolved.get("x-kubernetes-patch-strategy") or ""
    strategies = [s for s in str(raw).split(",") if s]
    others = [s for s in strategies if s != RETAIN_KEYS_STRATEGY]
    if len(strategies) > 2 or len(others) > 1:
        raise PatchError(f"unexpected patch strategy: {strategies}")
    merge_key = prop.get("x-kubernetes-patch-merge-key") or resolved.get("x-kubernetes-patch-merge-key") or ""
    return _FieldMeta(
        strategy=others[0] if others else "",
        merge_key=str(merge_key),
        schema=resolved,
        items=k8s_schema.child(resolved, None) if "items" in resolved else None,
    )


def _kind(value: Json) -> str:
    """The Go dynamic type of a decoded JSON value (ints and floats differ, as with PreserveInts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    return type(value).__name__


def _same(a: Json, b: Json) -> bool:
    """Go's interface equality for scalars: same dynamic type and value."""
    return _kind(a) == _kind(b) and a == b


def _scalar_key(value: Json) -> tuple[str, Json]:
    if isinstance(value, dict | list):
        raise PatchError(f"unhashable list element: {json.dumps(value)}")
    return (_kind(value), value)


def _merge_map(original: dict, patch: dict, schema: dict | None) -> dict:
    """upstream mergeMap, server-side flavour (parallel lists merged, unmatched nulls ignored)."""
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == REPLACE:
            rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
            return _merge_map({}, rest, schema)
        if directive == DELETE:
            return {}
        if directive == MERGE:
            # Upstream rejects this; merging is what it would mean, so accept it.
            patch = {k: v for k, v in patch.items() if k != DIRECTIVE}
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {json.dumps(patch)}")

    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, schema)

    deletions: list[tuple[str, Json]] = []
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            deletions.append((_extract_key(key, DELETE_FROM_PRIMITIVE_LIST, ERR_BAD_PRIMITIVE_LIST), value))
            continue
        if value is None:
            original.pop(key, None)
            continue
        meta = _field_meta(schema, key)
        if key not in original or original[key] is None:
            original[key] = _fresh(value, meta)
            continue
        current = original[key]
        if _kind(current) != _kind(value):
            original[key] = _fresh(value, meta)
        elif isinstance(value, dict):
            original[key] = _fresh(value, meta) if meta.strategy == REPLACE else _merge_map(current, value, meta.schema)
        elif isinstance(value, list):
            original[key] = _merge_slice(current, value, meta)[0] if meta.strategy == MERGE else _fresh(value, meta)
        else:
            original[key] = value

    for key, value in deletions:
        if not isinstance(value, list):
            raise PatchError(ERR_BAD_PRIMITIVE_LIST, BAD_REQUEST)
        current = original.get(key)
        if isinstance(current, list):
            doomed = {_scalar_key(v) for v in value}
            original[key] = [v for v in current if isinstance(v, dict | list) or _scalar_key(v) not in doomed]
    return original


def _fresh(value: Json, meta: _FieldMeta) -> Json:
    """A patch value placed where nothing merges with it: its directives and nulls are resolved away."""
    if isinstance(value, dict):
        return _merge_map({}, value, meta.schema)
    if isinstance(value, list):
        if meta.strategy == MERGE and any(isinstance(v, dict) and DIRECTIVE in v for v in value):
            return _merge_slice([], value, meta)[0]
        return [_merge_map({}, v, meta.items) if isinstance(v, dict) else clone(v) for v in value]
    return value


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(error, BAD_REQUEST)
    return rest


def _apply_retain_keys(original: dict, patch: dict) -> None:
    """``$retainKeys``: clear every field of original not listed; the patch may only set listed ones."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError(ERR_BAD_RETAIN_KEYS, BAD_REQUEST)
    allowed = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith(DELETE_FROM_PRIMITIVE_LIST) or key.startswith(SET_ELEMENT_ORDER):
            continue
        if key not in allowed:
            raise PatchError(ERR_BAD_RETAIN_KEYS, BAD_REQUEST)
    for key in list(original):
        if key not in allowed:
            del original[key]


def _slice_kind(*lists: list) -> str | None:
    """upstream sliceElementType: every element of every list must share one type, never a list."""
    found: str | None = None
    for lst in lists:
        for item in lst:
            kind = _kind(item)
            if found is None:
                if kind == "slice":
                    raise PatchError(ERR_NO_LIST_OF_LISTS, UNPROCESSABLE)
                found = kind
            elif kind != found:
                raise PatchError(f"list element types are not identical: {json.dumps(list(lists))}")
    return found


def _merge_key_value(item: Json, merge_key: str) -> Json:
    if not isinstance(item, dict):
        raise PatchError(f"expected a map, but received a {_kind(item)}: {json.dumps(item)}")
    if merge_key not in item:
        raise PatchError(f"map: {json.dumps(item)} does not contain declared merge key: {merge_key}")
    return item[merge_key]


def _order_value(item: Json, merge_key: str, is_map: bool) -> Json:
    if is_map:
        return item.get(merge_key) if isinstance(item, dict) else None
    return item


def _index(items: list, item: Json, merge_key: str, is_map: bool) -> int:
    wanted = _order_value(item, merge_key, is_map)
    for i, candidate in enumerate(items):
        if _same(_order_value(candidate, merge_key, is_map), wanted):
            return i
    return -1


def _find_by_key(items: list, merge_key: str, value: Json, length: int | None = None) -> int:
    end = len(items) if length is None else length
    for i in range(end):
        item = items[i]
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map.")
        if merge_key in item and _same(item[merge_key], value):
            return i
    return -1


def _merge_slice(original: list, patch: list, meta: _FieldMeta) -> tuple[list, list]:
    """upstream mergeSlice for a list with patch strategy ``merge``.

    Returns the merged list and the caller's view of the original list afterwards. Upstream edits
    the original slice's backing array in place when it deletes items (``$patch: delete``) and
    then appends new ones, and ``$setElementOrder`` later orders server-only items by that edited
    array; the second value reproduces it so list order matches a real server exactly.
    """
    if not original and not patch:
        return list(original), list(original)
    kind = _slice_kind(original, patch)
    merge_key = meta.merge_key
    if kind != "map":
        merged = _dedupe_scalars(original + patch)
        patch_items, server_only = _partition_scalars(merged, patch)
        result = _normalize_element_order(patch_items, server_only, patch, original, "", False)
        return result, original

    if not merge_key:
        raise PatchError("cannot merge lists without merge key for type map")

    # Emulate the Go slice sharing `backing`: `length` is the current slice length while it still
    # aliases the original array; once an append outgrows it the slice moves to `detached`.
    backing = list(original)
    length = len(backing)
    detached: list | None = None
    replace = False
    plain: list = []
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map, but received a {_kind(item)}: {json.dumps(item)}")
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == DELETE:
            # Deletions all come before any append, so they always shift within `backing`.
            value = _merge_key_value(item, merge_key)
            while (idx := _find_by_key(backing, merge_key, value, length)) >= 0:
                backing[idx : length - 1] = backing[idx + 1 : length]
                length -= 1
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            plain.append({k: v for k, v in item.items() if k != DIRECTIVE})
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {json.dumps(item)}")

    if replace:
        fresh = [_merge_map({}, item, meta.items) for item in plain]
        return _normalize_element_order([], fresh, [], fresh, merge_key, True), backing

    server_order = list(detached if detached is not None else backing[:length])
    for item in plain:
        value = _merge_key_value(item, merge_key)
        current = detached if detached is not None else backing
        end = len(detached) if detached is not None else length
        idx = _find_by_key(current, merge_key, value, end)
        if idx >= 0:
            current[idx] = _merge_map(current[idx], item, meta.items)
        elif detached is None and length < len(backing):
            backing[length] = _merge_map({}, item, meta.items)
            length += 1
        else:
            if detached is None:
                detached = backing[:length]
            detached.append(_merge_map({}, item, meta.items))
    merged = list(detached if detached is not None else backing[:length])

    patch_items, server_only = _partition_maps(merged, plain, merge_key)
    result = _normalize_element_order(patch_items, server_only, plain, server_order, merge_key, True)
    return result, backing


def _dedupe_scalars(items: list) -> list:
    seen: set[tuple[str, Json]] = set()
    out = []
    for item in items:
        key = _scalar_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _partition_scalars(items: list, by: list) -> tuple[list, list]:
    wanted = {_scalar_key(v) for v in by if not isinstance(v, dict | list)}
    inside = [v for v in items if _scalar_key(v) in wanted]
    outside = [v for v in items if _scalar_key(v) not in wanted]
    return inside, outside


def _partition_maps(items: list, by: list, merge_key: str) -> tuple[list, list]:
    inside, outside = [], []
    for item in items:
        value = _merge_key_value(item, merge_key)
        (inside if _find_by_key(by, merge_key, value) >= 0 else outside).append(item)
    return inside, outside


def _sort_by_order(items: list, order: list, merge_key: str, is_map: bool) -> list:
    """upstream normalizeSliceOrder: stable sort by position in ``order``; deletions go last."""
    to_delete: list = []
    if is_map:
        for item in items + order:
            _merge_key_value(item, merge_key)
        to_delete = [i for i in items if i.get(DIRECTIVE) == DELETE]
        items = [i for i in items if i.get(DIRECTIVE) != DELETE]
    positions = [_index(order, item, merge_key, is_map) for item in items]
    ranked = sorted(range(len(items)), key=lambda i: positions[i] if positions[i] >= 0 else len(order))
    return [items[i] for i in ranked] + to_delete


def _normalize_element_order(
    patch_items: list, server_only: list, patch_order: list, server_order: list, merge_key: str, is_map: bool
) -> list:
    """Order patch items by the patch, server-only items by the live list, then interleave them.

    Interleaving (upstream mergeSortedSlice) keeps a server-only item ahead of a patch item only
    when both are in the live list and it came first there; patch items the server had never seen
    therefore come before the remaining server-only items.
    """
    right = _sort_by_order(patch_items, patch_order, merge_key, is_map)
    left = _sort_by_order(server_only, server_order, merge_key, is_map)
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, is_map)
            ri = _index(server_order, right[j], merge_key, is_map)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _validate_set_element_order(patch_list: list, order: list, merge_key: str) -> None:
    """Items in the patch list must appear in ``$setElementOrder`` and in the same relative order."""
    if not order or not patch_list:
        return
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise PatchError(f"expected a map, but received a {_kind(item)}: {json.dumps(item)}")
        items = [i for i in patch_list if i.get(DIRECTIVE) != DELETE]
    else:
        items = list(patch_list)
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if merge_key:
            equal = _same(_merge_key_value(items[p], merge_key), _merge_key_value(order[s], merge_key))
        else:
            equal = _same(items[p], order[s])
        if equal:
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(
            f"The order in patch list:\n{json.dumps(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{json.dumps(order)}\n"
        )


def _merge_set_element_order(original: dict, patch: dict, schema: dict | None) -> None:
    """Merge every list that has a ``$setElementOrder/<field>`` directive, in that order.

    Precedence is $setElementOrder, then the order in the patch list, then the live order.
    """
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise PatchError(f"expected a slice, but received a {_kind(order)}: {json.dumps(order)}")
        field = _extract_key(key, SET_ELEMENT_ORDER, ERR_BAD_SET_ELEMENT_ORDER)
        found_original = isinstance(original.get(field), list)
        found_patch = field in patch and patch[field] is not None
        if field in original and original[field] is not None and not found_original:
            raise PatchError(f"expected a slice, but received a {_kind(original[field])}")
        if found_patch and not isinstance(patch[field], list):
            raise PatchError(f"expected a slice, but received a {_kind(patch[field])}")
        meta = _field_meta(schema, field)
        original_list: list = original[field] if found_original else []
        patch_list: list = patch[field] if found_patch else []
        _validate_set_element_order(patch_list, order, meta.merge_key)

        if not found_original and not found_patch:
            continue
        if meta.strategy != MERGE:
            if found_patch:
                original[field] = _fresh(patch_list, meta)
                del patch[field]
            continue
        if found_patch:
            merged, server_order = _merge_slice(original_list, patch_list, meta)
        else:
            merged, server_order = original_list, original_list
        patch.pop(field, None)
        if not merged:
            original[field] = merged
            continue
        is_map = _slice_kind(original_list, patch_list) == "map"
        if is_map:
            patch_items, server_only = _partition_maps(merged, order, meta.merge_key)
        else:
            patch_items, server_only = _partition_scalars(merged, order)
        original[field] = _normalize_element_order(
            patch_items, server_only, order, server_order, meta.merge_key if is_map else "", is_map
        )

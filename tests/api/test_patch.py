"""The three patch types, checked against upstream behaviour.

The ``MERGE_ITEM`` cases restate test cases of upstream's strategicpatch/patch_test.go (the
"current" object, the patch a server receives, and the result upstream expects); the Deployment
cases are the patches kubectl sends for ``kubectl patch`` and client-side ``kubectl apply``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from cluster.api import schema as k8s_schema
from cluster.api.patch import PatchError, json_merge_patch, json_patch, kind_schema, strategic_merge_patch

# --------------------------------------------------------------------------- fixtures


def _merge_item_schema() -> dict[str, Any]:
    """upstream's MergeItem test struct, written as an OpenAPI schema."""
    item: dict[str, Any] = {"type": "object", "properties": {}}
    simple_map = {"type": "object", "additionalProperties": {"type": "string"}}
    retain_keys_map: dict[str, Any] = {
        "type": "object",
        "x-kubernetes-patch-strategy": "retainKeys",
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "other": {"type": "string"},
            "simpleMap": simple_map,
            "mergingIntList": {
                "type": "array",
                "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "mergingList": {
                "type": "array",
                "items": item,
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "nonMergingList": {"type": "array", "items": item},
        },
    }
    item["properties"].update(
        {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "other": {"type": "string"},
            "mergingList": {
                "type": "array",
                "items": item,
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "nonMergingList": {"type": "array", "items": item},
            "mergingIntList": {
                "type": "array",
                "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "nonMergingIntList": {"type": "array", "items": {"type": "integer"}},
            "simpleMap": simple_map,
            "replacingItem": {"type": "object", "x-kubernetes-patch-strategy": "replace"},
            "retainKeysMap": retain_keys_map,
            "retainKeysMergingList": {
                "type": "array",
                "items": item,
                "x-kubernetes-patch-strategy": "merge,retainKeys",
                "x-kubernetes-patch-merge-key": "name",
            },
        }
    )
    return item


MERGE_ITEM = _merge_item_schema()
DEPLOYMENT = kind_schema("apps/v1", "Deployment")
POD = kind_schema("v1", "Pod")


def deployment() -> dict[str, Any]:
    """A Deployment as the API server stores it: defaulted, with server-owned metadata and status."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "7c1e4c1a-6a4e-4a5e-9a39-5f1d2b3c4d5e",
            "resourceVersion": "1042",
            "generation": 1,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "finalizers": ["example.com/protect"],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "resources": {},
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}}],
                    "tolerations": [
                        {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
                        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
                    ],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
        "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2},
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def names(items: list[dict[str, Any]]) -> list[Any]:
    return [i["name"] for i in items]


# --------------------------------------------------------------------------- JSON merge patch


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        # RFC 7386, appendix A.
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_json_merge_patch_rfc7386_examples(original: dict, patch: dict, expected: dict) -> None:
    assert json_merge_patch(original, patch) == expected


def test_json_merge_patch_replaces_lists_and_leaves_input_alone() -> None:
    live = deployment()
    before = copy.deepcopy(live)
    out = json_merge_patch(live, {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}})
    assert pod_spec(out)["containers"] == [{"name": "only", "image": "x"}]
    assert pod_spec(out)["dnsPolicy"] == "ClusterFirst"
    assert live == before


def test_json_merge_patch_rejects_non_object() -> None:
    with pytest.raises(PatchError) as err:
        json_merge_patch({}, ["a"])  # type: ignore[arg-type]
    assert err.value.code == 400


# --------------------------------------------------------------------------- JSON patch


def test_json_patch_operations() -> None:
    live = deployment()
    out = json_patch(
        live,
        [
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"},
            {"op": "remove", "path": "/metadata/labels/tier"},
            {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "C", "value": "3"}},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/annotations/copied"},
            {"op": "move", "from": "/spec/revisionHistoryLimit", "path": "/metadata/annotations/moved"},
        ],
    )
    assert out["spec"]["replicas"] == 5
    assert out["metadata"]["labels"] == {"app": "web", "app.kubernetes.io/name": "web"}
    assert names(pod_spec(out)["containers"][0]["env"]) == ["A", "B", "C"]
    assert out["metadata"]["annotations"]["copied"] == "web"
    assert out["metadata"]["annotations"]["moved"] == 10
    assert "revisionHistoryLimit" not in out["spec"]
    assert live == deployment()


def test_json_patch_failed_test_is_422() -> None:
    with pytest.raises(PatchError) as err:
        json_patch(deployment(), [{"op": "test", "path": "/spec/replicas", "value": 3}])
    assert err.value.code == 422
    assert str(err.value) == "testing value /spec/replicas failed: test failed"


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/spec/missing", "value": 1}],
        [{"op": "remove", "path": "/metadata/labels/nope"}],
        [{"op": "add", "path": "/spec/nope/deeper", "value": 1}],
    ],
)
def test_json_patch_missing_path(ops: list) -> None:
    with pytest.raises(PatchError) as err:
        json_patch(deployment(), ops)
    assert err.value.code == 422
    assert "does not apply" in str(err.value)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "frobnicate", "path": "/spec"}],
        [{"path": "/spec"}],
        [{"op": "add", "value": 1}],
        ["add"],
    ],
)
def test_json_patch_malformed_is_400(ops: list) -> None:
    with pytest.raises(PatchError) as err:
        json_patch(deployment(), ops)
    assert err.value.code == 400


# --------------------------------------------------------------------------- upstream's test cases

UPSTREAM_CASES = yaml.safe_load(
    """
- description: unique scalars when merging lists
  current: {mergingIntList: [1, 2]}
  patch: {mergingIntList: [2, 3]}
  result: {mergingIntList: [1, 2, 3]}
- description: delete map from nested map
  current: {simpleMap: {key1: "1", key2: "1"}}
  patch: {simpleMap: {$patch: delete}}
  result: {simpleMap: {}}
- description: delete all items from merging list
  current: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{$patch: replace}]}
  result: {mergingList: []}
- description: merge empty merging lists
  current: {mergingList: []}
  patch: {mergingList: []}
  result: {mergingList: []}
- description: delete all keys from map
  current: {name: "1", value: "1"}
  patch: {$patch: replace}
  result: {}
- description: add key and delete all keys from map
  current: {name: "1", value: "1"}
  patch: {other: a, $patch: replace}
  result: {other: a}
- description: de-duplicate entries in a merging list
  current: {mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]}
  result: {mergingList: [{name: 2, value: a}]}
- description: retainKeys map can delete a field when no retainKeys directive present
  current: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {value: null}}
  result: {retainKeysMap: {name: foo}}
- description: retainKeys list can change a field when no retainKeys directive present
  current: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
  patch: {retainKeysMergingList: [{name: foo, value: b}]}
  result: {retainKeysMergingList: [{name: bar}, {name: foo, value: b}]}
- description: preserve the order from the patch in a merging list
  current: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]}
  result: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]}
- description: preserve the order from the patch in a merging list 2
  current: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}]}
  result: {mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]}
- description: preserve the order from the patch in a merging int list
  current: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1]}
  result: {mergingIntList: [2, 3, 1]}
- description: $setElementOrder contains item that is not present in the list to be merged
  current: {mergingList: [{name: 1}, {name: 3}]}
  patch:
    $setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}]
    mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
  result: {mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
- description: $setElementOrder contains item that is not present in the int list to be merged
  current: {mergingIntList: [1, 3]}
  patch: {$setElementOrder/mergingIntList: [3, 2, 1]}
  result: {mergingIntList: [3, 1]}
- description: defined null values should not be kept when the field is missing
  current: {name: "2"}
  patch: {name: "1", value: "1", other: null}
  result: {name: "1", value: "1"}
- description: delete items in lists of scalars
  current: {mergingIntList: [1, 2, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: delete all duplicate items in lists of scalars
  current: {mergingIntList: [1, 2, 3, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: merge lists of maps
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]
  result:
    mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]
- description: merge lists of maps with conflict
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 3, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 2, value: 2}, {name: 3, value: 3}]
  result: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}
- description: add field to map in merging list with conflict
  current: {mergingList: [{name: 1, other: a}, {name: 3, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]
  result: {mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}, {name: 3, value: 2, other: b}]}
- description: de-duplicate field in merging list
  current: {mergingList: [{name: 1}, {name: 1}]}
  patch: {$setElementOrder/mergingList: [{name: 1}], mergingList: [{$patch: delete, name: 1}]}
  result: {mergingList: []}
- description: delete duplicate field in merging list (type change replaces)
  current: {mergingList: [{name: 1}, {name: 1}]}
  patch: {mergingList: {}}
  result: {mergingList: {}}
- description: delete map from merging list
  current: {mergingList: [{name: 1}, {name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 1, $patch: delete}]}
  result: {mergingList: [{name: 2, other: b}]}
- description: delete missing map from merging list with conflict
  current: {mergingList: [{name: 3, other: a}]}
  patch:
    $setElementOrder/mergingList: [{name: 2}]
    mergingList: [{name: 2}, {name: 1, $patch: delete}]
  result: {mergingList: [{name: 2}, {name: 3, other: a}]}
- description: add map and delete map from merging list
  current: {mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]}
  patch:
    $setElementOrder/mergingList: [{name: 2}, {name: 3}]
    mergingList: [{name: 3}, {name: 1, $patch: delete}]
  result: {mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]}
- description: add map and delete map from merging list with conflict
  current: {mergingList: [{name: 1, other: a}, {name: 4, other: c}]}
  patch:
    $setElementOrder/mergingList: [{name: 2}, {name: 3}]
    mergingList: [{name: 2}, {name: 3}, {name: 1, $patch: delete}]
  result: {mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]}
- description: delete field from map in merging list with conflict
  current: {mergingList: [{name: 1, value: a, other: a}, {name: 2, value: 2}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: null}]}
  result: {mergingList: [{name: 1, other: a}, {name: 2, value: 2}]}
- description: replace non merging list nested in merging list
  current:
    mergingList:
      - {name: 1, other: a, nonMergingList: [{name: 1}, {name: 2, value: 2}]}
      - {name: 2, other: b}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]
  result:
    mergingList:
      - {name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}
      - {name: 2, other: b}
- description: add field to map in merging list nested in merging list
  current:
    mergingList:
      - {name: 1, other: a, mergingList: [{name: 1}, {name: 2, value: 2}]}
      - {name: 2, other: b}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList:
      - {$setElementOrder/mergingList: [{name: 1}, {name: 2}], name: 1, mergingList: [{name: 1, value: 1}]}
  result:
    mergingList:
      - {name: 1, other: a, mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]}
      - {name: 2, other: b}
- description: set elements order in a list with server-only items 2
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 9}, {name: 3, value: 3}, {name: 4}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]}
  result: {mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 9}, {name: 4}, {name: 3, value: 3}]}
- description: set elements order in a list with server-only items 3
  current: {mergingList: [{name: 1}, {name: 2}, {name: 7}, {name: 9}, {name: 8}, {name: 3}, {name: 4}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]}
  result: {mergingList: [{name: 2}, {name: 1}, {name: 7}, {name: 9}, {name: 8}, {name: 4}, {name: 3}]}
- description: add an item in a int list and preserve order
  current: {mergingIntList: [1, 2]}
  patch: {$setElementOrder/mergingIntList: [3, 1, 2], mergingIntList: [3]}
  result: {mergingIntList: [3, 1, 2]}
- description: add multiple items in a int list and preserve order
  current: {mergingIntList: [1, 2]}
  patch: {$setElementOrder/mergingIntList: [1, 4, 2, 3], mergingIntList: [4, 3]}
  result: {mergingIntList: [1, 4, 2, 3]}
- description: add and delete an item in a int list and preserve order
  current: {mergingIntList: [1, 2, 3]}
  patch:
    $setElementOrder/mergingIntList: [4, 2, 1]
    mergingIntList: [4]
    $deleteFromPrimitiveList/mergingIntList: [3]
  result: {mergingIntList: [4, 2, 1]}
- description: set elements order in a int list with server-only items 2
  current: {mergingIntList: [1, 2, 9, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [2, 1, 4, 3]}
  result: {mergingIntList: [2, 1, 9, 4, 3]}
- description: behavior of set element order for a merging list with duplicate
  current: {mergingList: [{name: 1}, {name: 2, value: dup1}, {name: 3}, {name: 2, value: dup2}, {name: 4}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}, {name: 2}]}
  result: {mergingList: [{name: 2, value: dup1}, {name: 2, value: dup2}, {name: 1}, {name: 4}, {name: 3}]}
- description: behavior of set element order for a merging int list with duplicate
  current: {mergingIntList: [1, 2, 3, 2, 4]}
  patch: {$setElementOrder/mergingIntList: [2, 1, 4, 3, 2]}
  result: {mergingIntList: [2, 2, 1, 4, 3]}
- description: retainKeys map should clear defaulted field
  current: {retainKeysMap: {value: foo}}
  patch: {retainKeysMap: {$retainKeys: [other], other: bar}}
  result: {retainKeysMap: {other: bar}}
- description: retainKeys map should clear defaulted field with conflict (discriminated union)
  current: {retainKeysMap: {name: type1, value: foo}}
  patch: {retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}}
  result: {retainKeysMap: {name: type2, other: bar}}
- description: retainKeys map deletes a field and clears a field
  current: {retainKeysMap: {name: foo, value: bar, other: a}}
  patch: {retainKeysMap: {$retainKeys: [name], value: null}}
  result: {retainKeysMap: {name: foo}}
- description: retainKeys map clears a field
  current: {retainKeysMap: {name: foo, value: bar, other: a}}
  patch: {retainKeysMap: {$retainKeys: [name, value]}}
  result: {retainKeysMap: {name: foo, value: bar}}
- description: retainKeys map adds a field in a nested map
  current: {retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key3: c}}}
  patch: {retainKeysMap: {$retainKeys: [name, simpleMap, value], simpleMap: {key2: b}}}
  result: {retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key2: b, key3: c}}}
- description: replace non merging int list
  current: {nonMergingIntList: [1, 4]}
  patch: {nonMergingIntList: [2, 3]}
  result: {nonMergingIntList: [2, 3]}
- description: a replace-strategy map is replaced whole
  current: {replacingItem: {a: 1, b: 2}}
  patch: {replacingItem: {c: 3}}
  result: {replacingItem: {c: 3}}
"""
)


@pytest.mark.parametrize("case", UPSTREAM_CASES, ids=[c["description"] for c in UPSTREAM_CASES])
def test_upstream_strategic_merge_patch_cases(case: dict[str, Any]) -> None:
    assert strategic_merge_patch(case["current"], case["patch"], MERGE_ITEM) == case["result"]


UPSTREAM_ERRORS = yaml.safe_load(
    """
- description: should check if order in $setElementOrder and patch list match
  current: {mergingList: [{name: 1}, {name: 3}, {name: 2}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
  error: doesn't match
- description: int list order must match $setElementOrder
  current: {mergingIntList: [1, 3, 2]}
  patch: {$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}
  error: doesn't match
- description: missing merge key should error out
  current: {mergingList: [{name: 1, value: a}]}
  patch: {mergingList: [{value: b}]}
  error: does not contain declared merge key
- description: unknown patch directive in a map
  current: {simpleMap: {a: b}}
  patch: {simpleMap: {$patch: explode}}
  error: "unknown patch type: explode"
- description: lists of lists
  current: {mergingIntList: [[1]]}
  patch: {mergingIntList: [[2]]}
  error: lists of lists are not supported
- description: retainKeys must list every field the patch sets
  current: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: [name], value: bar}}
  error: invalid patch format of retainKeys
- description: retainKeys must be a list
  current: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: name}}
  error: invalid patch format of retainKeys
- description: a deletion list must be a list
  current: {mergingIntList: [1]}
  patch: {$deleteFromPrimitiveList/mergingIntList: 1}
  error: invalid patch format of primitive list
- description: malformed $setElementOrder key
  current: {mergingIntList: [1]}
  patch: {$setElementOrder: [1]}
  error: invalid patch format of setElementOrder list
"""
)


@pytest.mark.parametrize("case", UPSTREAM_ERRORS, ids=[c["description"] for c in UPSTREAM_ERRORS])
def test_upstream_strategic_merge_patch_errors(case: dict[str, Any]) -> None:
    with pytest.raises(PatchError, match=case["error"]):
        strategic_merge_patch(case["current"], case["patch"], MERGE_ITEM)


def test_patch_format_errors_are_bad_requests() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge_patch({}, {"retainKeysMap": {"$retainKeys": "x"}}, MERGE_ITEM)
    assert err.value.code == 400
    with pytest.raises(PatchError) as err:
        strategic_merge_patch({"mergingIntList": [[1]]}, {"mergingIntList": [[2]]}, MERGE_ITEM)
    assert err.value.code == 422


# --------------------------------------------------------------------------- kubectl patch


def test_schema_accepts_a_ref_wrapper() -> None:
    ref = {"$ref": k8s_schema.REF_PREFIX + "io.k8s.api.apps.v1.Deployment"}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}}
    assert strategic_merge_patch(deployment(), patch, ref) == strategic_merge_patch(deployment(), patch, DEPLOYMENT)


def test_containers_merge_by_name_and_new_ones_come_first() -> None:
    # The example of "Update API Objects in Place Using kubectl patch": the patched-in container
    # is listed before the existing one.
    live = deployment()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "redis"}]}}}}
    out = strategic_merge_patch(live, patch, DEPLOYMENT)
    containers = pod_spec(out)["containers"]
    assert names(containers) == ["sidecar", "web"]
    assert containers[0] == {"name": "sidecar", "image": "redis"}
    assert containers[1] == pod_spec(live)["containers"][0]
    assert live == deployment()


def test_changing_an_image_keeps_the_rest_of_the_container() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}}
    out = strategic_merge_patch(deployment(), patch, DEPLOYMENT)
    expected = deployment()
    pod_spec(expected)["containers"][0]["image"] = "nginx:1.26"
    assert out == expected


def test_ports_merge_by_container_port_and_env_by_name() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 80, "name": "http"}],
                            "env": [{"name": "B", "value": "two"}],
                        }
                    ]
                }
            }
        }
    }
    out = strategic_merge_patch(deployment(), patch, DEPLOYMENT)
    web = pod_spec(out)["containers"][0]
    assert web["ports"] == [
        {"containerPort": 443, "name": "https"},
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
    ]
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}]


def test_tolerations_are_atomic_and_replaced() -> None:
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}}}
    out = strategic_merge_patch(deployment(), patch, DEPLOYMENT)
    assert pod_spec(out)["tolerations"] == [{"key": "gpu", "operator": "Exists"}]


def test_finalizers_merge_as_a_set() -> None:
    out = strategic_merge_patch(
        deployment(), {"metadata": {"finalizers": ["example.com/protect", "example.com/audit"]}}, DEPLOYMENT
    )
    assert out["metadata"]["finalizers"] == ["example.com/protect", "example.com/audit"]
    out = strategic_merge_patch(deployment(), {"metadata": {"finalizers": ["example.com/audit"]}}, DEPLOYMENT)
    assert out["metadata"]["finalizers"] == ["example.com/audit", "example.com/protect"]


def test_delete_from_primitive_list() -> None:
    live = deployment()
    live["metadata"]["finalizers"] = ["a", "b", "c"]
    out = strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, DEPLOYMENT)
    assert out["metadata"]["finalizers"] == ["a", "c"]
    # Deleting from a list the object does not have is a no-op.
    live["metadata"].pop("finalizers")
    out = strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, DEPLOYMENT)
    assert "finalizers" not in out["metadata"]


def test_null_deletes_and_maps_merge() -> None:
    patch = {"metadata": {"labels": {"tier": None, "track": "stable"}, "annotations": {"note": "hi"}}}
    out = strategic_merge_patch(deployment(), patch, DEPLOYMENT)
    assert out["metadata"]["labels"] == {"app": "web", "track": "stable"}
    assert out["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1", "note": "hi"}
    out = strategic_merge_patch(deployment(), {"spec": {"strategy": None}}, DEPLOYMENT)
    assert "strategy" not in out["spec"]


def test_patch_directives_in_lists_and_maps() -> None:
    deleted = strategic_merge_patch(
        deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}}}},
        DEPLOYMENT,
    )
    assert pod_spec(deleted)["containers"][0]["env"] == [{"name": "B", "value": "2"}]

    replaced = strategic_merge_patch(
        deployment(),
        {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "busybox"}]}}}},
        DEPLOYMENT,
    )
    assert pod_spec(replaced)["containers"] == [{"name": "only", "image": "busybox"}]

    labels = strategic_merge_patch(
        deployment(), {"metadata": {"labels": {"$patch": "replace", "app": "api"}}}, DEPLOYMENT
    )
    assert labels["metadata"]["labels"] == {"app": "api"}

    emptied = strategic_merge_patch(deployment(), {"spec": {"strategy": {"$patch": "delete"}}}, DEPLOYMENT)
    assert emptied["spec"]["strategy"] == {}

    merged = strategic_merge_patch(
        deployment(), {"metadata": {"labels": {"$patch": "merge", "track": "canary"}}}, DEPLOYMENT
    )
    assert merged["metadata"]["labels"] == {"app": "web", "tier": "frontend", "track": "canary"}


def test_strategy_retain_keys_clears_rolling_update() -> None:
    # kubectl apply switching a defaulted RollingUpdate strategy to Recreate.
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge_patch(deployment(), patch, DEPLOYMENT)
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    # Without the directive the old rollingUpdate would survive.
    out = strategic_merge_patch(deployment(), {"spec": {"strategy": {"type": "Recreate"}}}, DEPLOYMENT)
    assert out["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}


def test_volume_source_switch_with_retain_keys() -> None:
    # volumes are "merge,retainKeys": kubectl apply changing a volume from a ConfigMap to a Secret.
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/volumes": [{"name": "config"}],
                    "volumes": [
                        {
                            "$retainKeys": ["name", "secret"],
                            "configMap": None,
                            "name": "config",
                            "secret": {"secretName": "web-secret"},
                        }
                    ],
                }
            }
        }
    }
    out = strategic_merge_patch(deployment(), patch, DEPLOYMENT)
    assert pod_spec(out)["volumes"] == [{"name": "config", "secret": {"secretName": "web-secret"}}]


def test_kubectl_client_side_apply_three_way_patch() -> None:
    # What `kubectl apply` sends after the manifest changed the image, dropped env B, added env C
    # and a sidecar, and bumped replicas; the live object has server-side fields kubectl never set.
    live = deployment()
    last_applied = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "frontend"}},
    }
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(last_applied)
    new_last_applied = json.dumps({**last_applied, "spec": {"replicas": 3}})
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": new_last_applied}},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "log-shipper"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                            "image": "nginx:1.26",
                            "name": "web",
                        },
                        {"image": "fluent/fluent-bit:3.0", "name": "log-shipper"},
                    ],
                }
            },
        },
    }
    out = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert out["spec"]["replicas"] == 3
    assert out["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "kubectl.kubernetes.io/last-applied-configuration": new_last_applied,
    }
    containers = pod_spec(out)["containers"]
    assert names(containers) == ["web", "log-shipper"]
    web = containers[0]
    assert web["image"] == "nginx:1.26"
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert web["imagePullPolicy"] == "IfNotPresent"  # server-defaulted fields survive
    assert containers[1] == {"image": "fluent/fluent-bit:3.0", "name": "log-shipper"}
    assert out["status"] == live["status"]


def test_set_element_order_reorders_containers_around_server_only_items() -> None:
    live = deployment()
    web = pod_spec(live)["containers"][0]
    pod_spec(live)["containers"] = [
        {"name": "a", "image": "a"},
        web,
        {"name": "injected", "image": "istio/proxyv2"},  # added by a webhook, unknown to kubectl
        {"name": "b", "image": "b"},
    ]
    order = [{"name": "b"}, {"name": "web"}, {"name": "a"}]
    out = strategic_merge_patch(
        live, {"spec": {"template": {"spec": {"$setElementOrder/containers": order}}}}, DEPLOYMENT
    )
    # Upstream's interleaving keeps a server-only item ahead of the next patch item that followed
    # it in the live list: "injected" was before "b", so it stays in front.
    assert names(pod_spec(out)["containers"]) == ["injected", "b", "web", "a"]

    live_order = [{"name": "a", "image": "a"}, web, {"name": "b", "image": "b"}, {"name": "injected", "image": "i"}]
    pod_spec(live)["containers"] = live_order
    out = strategic_merge_patch(
        live, {"spec": {"template": {"spec": {"$setElementOrder/containers": order}}}}, DEPLOYMENT
    )
    assert names(pod_spec(out)["containers"]) == ["b", "web", "a", "injected"]


def test_pod_patch_with_nested_directives_in_a_new_item() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }
    patch = {"spec": {"initContainers": [{"name": "init", "image": "busybox", "env": [{"name": "X", "value": None}]}]}}
    out = strategic_merge_patch(live, patch, POD)
    assert out["spec"]["initContainers"] == [{"name": "init", "image": "busybox", "env": [{"name": "X"}]}]


def test_unknown_kind_falls_back_to_merge_patch() -> None:
    live = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [{"name": "a"}], "size": 1}}
    out = strategic_merge_patch(live, {"spec": {"items": [{"name": "b"}], "size": None}}, None)
    assert out == {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [{"name": "b"}]}}


def test_strategic_merge_patch_rejects_non_object() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(deployment(), [], DEPLOYMENT)  # type: ignore[arg-type]
    assert err.value.code == 400


def test_missing_container_name_is_an_error() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}}
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch(deployment(), patch, DEPLOYMENT)

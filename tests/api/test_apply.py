"""Server-side apply and managedFields, with expectations taken from upstream's behaviour.

FieldsV1 documents below are what a real API server writes for the same requests: applied sets
list every field of the configuration (list items keyed ``k:{...}`` with a ``.`` member, atomic
``selector`` as a leaf, granular maps like ``labels`` without ``.``); Update sets list what the
write added or changed (a newly added map or list item gets ``.``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cluster.api.apply import (
    ApplyConflict,
    field_set,
    fields_v1,
    parse_fields_v1,
    path_string,
    record_update_manager,
    server_side_apply,
)
from cluster.api.patch import PatchError, kind_schema

DEPLOYMENT = kind_schema("apps/v1", "Deployment")
CONFIGMAP = kind_schema("v1", "ConfigMap")
T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:05:00Z"
T2 = "2024-05-01T10:10:00Z"
WEB_KEY = 'k:{"name":"web"}'
PORT80_KEY = 'k:{"containerPort":80,"protocol":"TCP"}'


def config(replicas: int | None = 2, image: str = "nginx:1.25", labels: dict | None = None) -> dict[str, Any]:
    """The manifest a user applies."""
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """What the registry does after apply: server metadata, defaults and a status."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    meta.update({"uid": "0b7d", "resourceVersion": "17", "generation": 1, "creationTimestamp": T0})
    spec = out["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    web = spec["template"]["spec"]["containers"][0]
    web.setdefault("imagePullPolicy", "IfNotPresent")
    for port in web.get("ports", []):
        port.setdefault("protocol", "TCP")
    out["status"] = {"replicas": spec["replicas"], "readyReplicas": spec["replicas"]}
    return out


def entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["metadata"]["managedFields"]


def entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    (found,) = [e for e in entries(obj) if e["manager"] == manager]
    return found


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


# --------------------------------------------------------------------------- create and re-apply


def test_apply_creates_the_object_with_an_apply_entry() -> None:
    out = server_side_apply(None, config(), "kubectl", False, DEPLOYMENT, T0)
    expected = config()
    expected["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    assert {k: v for k, v in out.items() if k != "metadata"} == {k: v for k, v in expected.items() if k != "metadata"}
    assert out["metadata"]["labels"] == {"app": "web"}
    assert entries(out) == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                WEB_KEY: {
                                    ".": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {PORT80_KEY: {".": {}, "f:containerPort": {}}},
                                }
                            }
                        },
                    },
                },
            },
        }
    ]


def test_apply_does_not_modify_its_inputs() -> None:
    live = stored(server_side_apply(None, config(), "kubectl", False, DEPLOYMENT, T0))
    snapshot, applied = copy.deepcopy(live), config(replicas=4)
    server_side_apply(live, applied, "kubectl", False, DEPLOYMENT, T1)
    assert live == snapshot
    assert applied == config(replicas=4)


def test_reapply_updates_replicas_labels_and_image() -> None:
    live = stored(server_side_apply(None, config(), "kubectl", False, DEPLOYMENT, T0))
    out = server_side_apply(
        live, config(3, "nginx:1.26", {"app": "web", "tier": "frontend"}), "kubectl", False, DEPLOYMENT, T1
    )
    assert out["spec"]["replicas"] == 3
    assert out["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert containers(out)[0]["image"] == "nginx:1.26"
    # Fields nobody applied are left alone.
    assert containers(out)[0]["imagePullPolicy"] == "IfNotPresent"
    assert out["spec"]["revisionHistoryLimit"] == 10
    assert out["status"] == live["status"]
    assert out["metadata"]["uid"] == "0b7d"
    (only,) = entries(out)
    assert only["time"] == T1
    assert only["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}, "f:tier": {}}}


def test_reapplying_the_same_config_is_a_no_op() -> None:
    live = stored(server_side_apply(None, config(), "kubectl", False, DEPLOYMENT, T0))
    out = server_side_apply(live, config(), "kubectl", False, DEPLOYMENT, T1)
    assert out == live  # ports still match: the omitted protocol defaults to TCP
    assert entries(out)[0]["time"] == T0


def test_fields_dropped_from_the_config_are_removed() -> None:
    first = config(labels={"app": "web", "tier": "frontend"})
    first["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]
    live = stored(server_side_apply(None, first, "kubectl", False, DEPLOYMENT, T0))

    second = config(replicas=None)
    second["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    out = server_side_apply(live, second, "kubectl", False, DEPLOYMENT, T1)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert "replicas" not in out["spec"]  # the registry's defaulting brings back replicas: 1
    assert containers(out)[0]["env"] == [{"name": "A", "value": "1"}]

    third = copy.deepcopy(second)
    del third["spec"]["template"]["spec"]["containers"][0]["env"]
    out = server_side_apply(out, third, "kubectl", False, DEPLOYMENT, T2)
    assert "env" not in containers(out)[0]


def test_a_field_another_applier_also_owns_is_kept() -> None:
    live = stored(server_side_apply(None, config(replicas=3), "kubectl", False, DEPLOYMENT, T0))
    live = server_side_apply(live, {**config(replicas=3), "metadata": {"name": "web"}}, "ci", False, DEPLOYMENT, T1)
    assert json.dumps(entry(live, "ci")["fieldsV1"]["f:spec"]["f:replicas"]) == "{}"

    out = server_side_apply(live, config(replicas=None), "kubectl", False, DEPLOYMENT, T2)
    assert out["spec"]["replicas"] == 3
    assert "f:replicas" not in entry(out, "kubectl")["fieldsV1"]["f:spec"]


def test_list_items_owned_by_another_manager_survive_pruning() -> None:
    first = config()
    first["spec"]["template"]["spec"]["containers"].append({"name": "debug", "image": "busybox"})
    live = stored(server_side_apply(None, first, "kubectl", False, DEPLOYMENT, T0))
    injected = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "istio-proxy", "image": "istio/proxyv2:1.22"}]}}},
    }
    live = server_side_apply(live, injected, "injector", False, DEPLOYMENT, T1)
    assert [c["name"] for c in containers(live)] == ["web", "debug", "istio-proxy"]

    out = server_side_apply(live, config(), "kubectl", False, DEPLOYMENT, T2)
    assert [c["name"] for c in containers(out)] == ["web", "istio-proxy"]
    assert entry(out, "injector")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"istio-proxy"}': {".": {}, "f:image": {}, "f:name": {}}
    }


def test_null_in_the_config_removes_the_field_and_owns_it() -> None:
    live = stored(server_side_apply(None, config(labels={"app": "web", "tier": "x"}), "kubectl", False, DEPLOYMENT, T0))
    applied = config(labels={"app": "web", "tier": None})
    out = server_side_apply(live, applied, "kubectl", False, DEPLOYMENT, T1)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert entry(out, "kubectl")["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}, "f:tier": {}}}


def test_status_is_ignored_when_reset() -> None:
    live = stored(server_side_apply(None, config(), "kubectl", False, DEPLOYMENT, T0))
    applied = {**config(), "status": {"replicas": 99}}
    out = server_side_apply(live, applied, "kubectl", False, DEPLOYMENT, T1, reset_fields=("status",))
    assert out["status"] == live["status"]
    assert "f:status" not in entry(out, "kubectl")["fieldsV1"]


def test_finalizers_are_a_set() -> None:
    applied = {**config(), "metadata": {"name": "web", "finalizers": ["example.com/a", "example.com/b"]}}
    out = server_side_apply(None, applied, "kubectl", False, DEPLOYMENT, T0)
    assert entries(out)[0]["fieldsV1"]["f:metadata"] == {
        "f:finalizers": {'v:"example.com/a"': {}, 'v:"example.com/b"': {}}
    }
    live = stored(out)
    live["metadata"]["finalizers"].append("example.com/c")  # someone else's
    reapplied = {**config(), "metadata": {"name": "web", "finalizers": ["example.com/b"]}}
    out = server_side_apply(live, reapplied, "kubectl", False, DEPLOYMENT, T1)
    assert out["metadata"]["finalizers"] == ["example.com/b", "example.com/c"]


def test_managed_fields_in_the_config_are_rejected() -> None:
    applied = {**config(), "metadata": {"name": "web", "managedFields": [{"manager": "x"}]}}
    with pytest.raises(PatchError) as err:
        server_side_apply(None, applied, "kubectl", False, DEPLOYMENT, T0)
    assert err.value.code == 400
    assert str(err.value) == "metadata.managedFields must be nil"


# --------------------------------------------------------------------------- conflicts


def created_by_client_side_apply(replicas: int = 2) -> dict[str, Any]:
    """A Deployment created by plain ``kubectl apply`` (a create recorded as an Update)."""
    obj = stored(config(replicas))
    obj["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(config(replicas), sort_keys=True)
    }
    return record_update_manager(None, obj, "kubectl-client-side-apply", "Update", T0)


def test_conflict_with_an_update_manager() -> None:
    live = created_by_client_side_apply()
    with pytest.raises(ApplyConflict) as err:
        server_side_apply(live, config(replicas=5), "ci", False, DEPLOYMENT, T1)
    assert str(err.value) == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'
    )
    assert err.value.conflicts == [("kubectl-client-side-apply", ".spec.replicas")]
    assert err.value.causes == [
        {
            "type": "FieldManagerConflict",
            "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_same_value_is_shared_not_a_conflict() -> None:
    live = created_by_client_side_apply()
    out = server_side_apply(live, config(replicas=2), "ci", False, DEPLOYMENT, T1)
    assert "f:replicas" in entry(out, "ci")["fieldsV1"]["f:spec"]
    assert "f:replicas" in entry(out, "kubectl-client-side-apply")["fieldsV1"]["f:spec"]
    assert out == {**live, "metadata": {**live["metadata"], "managedFields": out["metadata"]["managedFields"]}}


def test_force_takes_ownership() -> None:
    live = created_by_client_side_apply()
    out = server_side_apply(live, config(replicas=5), "ci", True, DEPLOYMENT, T1)
    assert out["spec"]["replicas"] == 5
    assert "f:replicas" in entry(out, "ci")["fieldsV1"]["f:spec"]
    assert "f:replicas" not in entry(out, "kubectl-client-side-apply")["fieldsV1"]["f:spec"]
    assert [e["operation"] for e in entries(out)] == ["Apply", "Update"]


def test_several_conflicts_are_listed_per_manager() -> None:
    live = created_by_client_side_apply()
    with pytest.raises(ApplyConflict) as err:
        server_side_apply(live, config(replicas=5, image="nginx:1.27"), "ci", False, DEPLOYMENT, T1)
    assert str(err.value) == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )


def test_conflict_between_appliers() -> None:
    live = stored(server_side_apply(None, config(labels={"app": "web", "tier": "a"}), "ci", False, DEPLOYMENT, T0))
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "b"}}}
    with pytest.raises(
        ApplyConflict, match=r'^Apply failed with 1 conflict: conflict with "ci": \.metadata\.labels\.tier$'
    ):
        server_side_apply(live, applied, "dev", False, DEPLOYMENT, T1)
    out = server_side_apply(live, applied, "dev", True, DEPLOYMENT, T1)
    assert out["metadata"]["labels"] == {"app": "web", "tier": "b"}
    assert entry(out, "ci")["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert entry(out, "dev")["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}


def test_objects_without_managed_fields_belong_to_before_first_apply() -> None:
    live = stored(config(replicas=2))
    with pytest.raises(ApplyConflict, match=r'conflict with "before-first-apply" using apps/v1: \.spec\.replicas'):
        server_side_apply(live, config(replicas=4), "ci", False, DEPLOYMENT, T1)


def test_kubectl_server_side_takes_over_what_client_side_apply_applied() -> None:
    # `kubectl apply --server-side` on an object made by `kubectl apply`: fields whose live value
    # still matches the last-applied annotation may be taken over without --force-conflicts.
    live = created_by_client_side_apply(replicas=2)
    out = server_side_apply(live, config(replicas=3), "kubectl", False, DEPLOYMENT, T1)
    assert out["spec"]["replicas"] == 3
    annotation = out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation) == config(replicas=3)
    # Other managers do not get that courtesy.
    with pytest.raises(ApplyConflict):
        server_side_apply(live, config(replicas=3), "ci", False, DEPLOYMENT, T1)


def test_kubectl_still_conflicts_when_the_live_value_drifted() -> None:
    live = created_by_client_side_apply(replicas=2)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 7
    scaled = record_update_manager(live, scaled, "kube-controller-manager", "Update", T1)
    with pytest.raises(ApplyConflict) as err:
        server_side_apply(scaled, config(replicas=3), "kubectl", False, DEPLOYMENT, T2)
    assert err.value.conflicts == [("kube-controller-manager", ".spec.replicas")]


# --------------------------------------------------------------------------- updates


def test_create_records_an_update_entry() -> None:
    obj = stored(config(replicas=1))
    obj["spec"]["template"]["spec"]["securityContext"] = {}
    obj["status"] = {}
    out = record_update_manager(None, obj, "kubectl-create", "Update", T0)
    assert entries(out) == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:revisionHistoryLimit": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                WEB_KEY: {
                                    ".": {},
                                    "f:image": {},
                                    "f:imagePullPolicy": {},
                                    "f:name": {},
                                    "f:ports": {
                                        ".": {},
                                        PORT80_KEY: {".": {}, "f:containerPort": {}, "f:protocol": {}},
                                    },
                                }
                            },
                            "f:securityContext": {},
                        },
                    },
                },
            },
        }
    ]
    assert out["spec"] == obj["spec"]


def test_update_moves_changed_fields_to_the_updater() -> None:
    live = stored(server_side_apply(None, config(), "kubectl", False, DEPLOYMENT, T0))
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 6
    edited["metadata"]["labels"]["team"] = "payments"
    out = record_update_manager(live, edited, "kubectl-edit", "Update", T1)
    assert [e["manager"] for e in entries(out)] == ["kubectl", "kubectl-edit"]
    assert entry(out, "kubectl-edit")["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:team": {}}},
        "f:spec": {"f:replicas": {}},
    }
    assert entry(out, "kubectl-edit")["time"] == T1
    assert "f:replicas" not in entry(out, "kubectl")["fieldsV1"]["f:spec"]

    # Now kubectl applying replicas: 2 again conflicts with the edit.
    with pytest.raises(ApplyConflict, match=r'"kubectl-edit" using apps/v1: \.spec\.replicas'):
        server_side_apply(out, config(), "kubectl", False, DEPLOYMENT, T2)


def test_update_without_changes_leaves_managed_fields_alone() -> None:
    live = created_by_client_side_apply()
    touched = copy.deepcopy(live)
    touched["metadata"]["resourceVersion"] = "18"
    out = record_update_manager(live, touched, "kubectl-edit", "Update", T1)
    assert entries(out) == entries(live)


def test_removed_fields_leave_every_manager() -> None:
    live = stored(server_side_apply(None, config(labels={"app": "web", "tier": "x"}), "kubectl", False, DEPLOYMENT, T0))
    edited = copy.deepcopy(live)
    del edited["metadata"]["labels"]["tier"]
    out = record_update_manager(live, edited, "kubectl-edit", "Update", T1)
    assert entry(out, "kubectl")["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert [e["manager"] for e in entries(out)] == ["kubectl"]  # the edit only removed: no entry


def test_managed_fields_in_the_request_win_and_can_be_reset() -> None:
    live = created_by_client_side_apply()
    rewritten = copy.deepcopy(live)
    rewritten["metadata"]["managedFields"][0]["manager"] = "kubectl"
    rewritten["metadata"]["managedFields"][0]["operation"] = "Apply"
    out = record_update_manager(live, rewritten, "kubectl", "Update", T1)
    assert [(e["manager"], e["operation"]) for e in entries(out)] == [("kubectl", "Apply")]

    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    out = record_update_manager(live, reset, "kubectl-patch", "Update", T1)
    assert "managedFields" not in out["metadata"]


def test_status_updates_are_their_own_entry() -> None:
    live = created_by_client_side_apply()
    new = copy.deepcopy(live)
    new["status"]["readyReplicas"] = 1
    out = record_update_manager(live, new, "kube-controller-manager", "Update", T1, subresource="status")
    assert entry(out, "kube-controller-manager") == {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:readyReplicas": {}}},
        "subresource": "status",
    }


# --------------------------------------------------------------------------- schemaless and encoding


def test_schemaless_objects_merge_maps_and_replace_lists() -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"items": ["a", "b"], "size": 1, "color": "red"},
    }
    live = server_side_apply(None, widget, "ci", False, None, T0)
    # Without a schema every map field is undeclared, so it is a member itself ("."), and lists
    # are atomic leaves (structured-merge-diff's deduced type).
    assert entries(live)[0]["fieldsV1"] == {"f:spec": {".": {}, "f:color": {}, "f:items": {}, "f:size": {}}}
    again = {**widget, "spec": {"items": ["c"], "color": "red"}}
    out = server_side_apply(live, again, "ci", False, None, T1)
    assert out["spec"] == {"items": ["c"], "color": "red"}


def test_config_map_data_entries_are_owned_one_by_one() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    live = server_side_apply(None, cm, "ci", False, CONFIGMAP, T0)
    assert entries(live)[0]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"c": "3"}}
    live = server_side_apply(live, other, "ops", False, CONFIGMAP, T1)
    out = server_side_apply(live, {**cm, "data": {"a": "1"}}, "ci", False, CONFIGMAP, T2)
    assert out["data"] == {"a": "1", "c": "3"}


def test_fields_v1_round_trip_and_paths() -> None:
    paths = field_set(config(), DEPLOYMENT)
    encoded = fields_v1(paths)
    assert parse_fields_v1(encoded) == paths
    assert list(encoded["f:spec"]) == ["f:replicas", "f:selector", "f:template"]
    port = ("f:spec", "f:template", "f:spec", "f:containers", WEB_KEY, "f:ports", PORT80_KEY, "f:containerPort")
    assert port in paths
    assert (
        path_string(port)
        == '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].containerPort'
    )
    assert path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'
    assert path_string(("f:spec", "f:items", "i:3")) == ".spec.items[3]"

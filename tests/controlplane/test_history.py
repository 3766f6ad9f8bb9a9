"""The ControllerRevision helpers against upstream's pkg/controller/history."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api.apiserver import ApiServer
from cluster.controlplane.controllers import history
from cluster.controlplane.controllers import replicaset as rsc
from cluster.controlplane.sim import ClusterSim
from tests.controlplane.conftest import items
from tests.controlplane.test_replicaset import NS, create, kcm
from tests.controlplane.test_statefulset import statefulset

__all__ = ["kcm"]

PARENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "web", "namespace": NS, "uid": "1111-2222"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        },
    },
}


def revision(name: str, number: int, data: Any, created: str = "2025-01-01T00:00:00Z", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": NS, "labels": labels, "creationTimestamp": created},
        "data": data,
        "revision": number,
    }


def test_new_revision_is_named_by_the_fnv_hash_of_its_data() -> None:
    data = history.template_patch(PARENT)
    raw = rsc.go_json(data)
    assert raw.startswith(b'{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,')
    rev = history.new_controller_revision(PARENT, {"app": "web"}, data, 4, 0)
    digest = rsc.safe_encode_string(str(rsc.fnv32(raw + b"0")))
    assert rev["metadata"]["name"] == f"web-{digest}"
    assert rev["metadata"]["labels"] == {"app": "web", history.HASH_LABEL: digest}
    assert rev["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "web",
            "uid": "1111-2222",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert rev["data"] == data and rev["data"] is not data
    # Stored with sorted keys, the data is served as the very bytes upstream's controller writes.
    assert list(rev["data"]["spec"]["template"]) == ["$patch", "metadata", "spec"]
    assert rsc.go_json(rev["data"]) == raw
    assert rev["revision"] == 4
    # No probe hashes the data alone; each collision count gives another name.
    names = {history.hash_revision(data, probe) for probe in (None, 0, 1, 2)}
    assert len(names) == 4
    assert history.hash_revision(data, None) == rsc.safe_encode_string(str(rsc.fnv32(raw)))


def test_long_owner_names_are_cut_to_fit() -> None:
    assert history.revision_name("x" * 300, "abc") == "x" * 223 + "-abc"


def test_sort_by_revision_then_creation_then_name() -> None:
    revs = [
        revision("c", 2, {}),
        revision("b", 1, {}, created="2025-01-02T00:00:00Z"),
        revision("a", 1, {}, created="2025-01-02T00:00:00Z"),
        revision("d", 1, {}, created="2025-01-01T00:00:00Z"),
    ]
    assert [r["metadata"]["name"] for r in history.sort_revisions(revs)] == ["d", "a", "b", "c"]


def test_equality_is_by_data_unless_numeric_hashes_disagree() -> None:
    one = revision("a", 1, {"spec": {"x": 1, "y": [1, 2]}})
    same = revision("b", 7, {"spec": {"y": [1, 2], "x": 1}})
    other = revision("c", 1, {"spec": {"x": 2}})
    assert history.equal_revision(one, same)
    assert not history.equal_revision(one, other)
    assert history.equal_revision(None, None) and not history.equal_revision(one, None)
    # EqualRevision parses the hash labels as decimals; two that parse and differ mean different revisions.
    assert not history.equal_revision(
        revision("a", 1, {"x": 1}, **{history.HASH_LABEL: "245"}),
        revision("b", 1, {"x": 1}, **{history.HASH_LABEL: "246"}),
    )
    assert history.equal_revision(
        revision("a", 1, {"x": 1}, **{history.HASH_LABEL: "bcd"}),
        revision("b", 1, {"x": 1}, **{history.HASH_LABEL: "fgh"}),
    )
    found = history.find_equal_revisions([same, other, one], one)
    assert [r["metadata"]["name"] for r in found] == ["b", "a"]


def test_apply_revision_replaces_the_whole_template() -> None:
    """The $patch: replace directive drops what a merge would keep: extra containers, labels, fields."""
    old = history.template_patch(PARENT)
    changed = copy.deepcopy(PARENT)
    template = changed["spec"]["template"]
    template["metadata"]["labels"]["tier"] = "front"
    template["spec"]["containers"] = [
        {"name": "app", "image": "nginx:1.28", "args": ["-g"]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ]
    restored = history.apply_revision(changed, {"data": old})
    assert restored["spec"]["template"]["spec"] == PARENT["spec"]["template"]["spec"]
    assert restored["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert restored["spec"]["selector"] == PARENT["spec"]["selector"]
    assert changed["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"  # the input is untouched
    assert history.matches(PARENT, {"data": old}) and not history.matches(changed, {"data": old})


def test_history_limit_defaults_to_ten() -> None:
    assert history.history_limit(PARENT) == 10
    assert history.history_limit({"spec": {"revisionHistoryLimit": 0}}) == 0


@pytest.mark.parametrize("same_data", [True, False])
def test_create_probes_past_a_taken_name(kcm: tuple[ClusterSim, ApiServer], same_data: bool) -> None:
    """CreateControllerRevision: a taken name with equal data is that revision; other data means probe again."""
    sim, kube = kcm
    sts = create(kube, "apps", "StatefulSet", statefulset("web", 0, claims=False))
    data = history.template_patch(sts)
    wanted = history.new_controller_revision(sts, {"app": "web"}, data, 1, 0)
    squat = copy.deepcopy(wanted) if same_data else {**copy.deepcopy(wanted), "data": {"other": 1}}
    squat["metadata"].pop("ownerReferences")
    create(kube, "apps", "ControllerRevision", squat)
    got, collisions = history.create_controller_revision(sim.ctx, "test", sts, wanted, 0)
    if same_data:
        assert (got["metadata"]["name"], collisions) == (wanted["metadata"]["name"], 0)
        assert len(items(kube, "apps", "ControllerRevision", NS)) == 1
    else:
        assert collisions == 1
        assert got["metadata"]["name"] == history.revision_name("web", history.hash_revision(data, 1))
        assert got["data"] == data and got["revision"] == 1
        assert len(items(kube, "apps", "ControllerRevision", NS)) == 2


def test_listing_keeps_owned_and_orphaned_revisions_that_match(make_sim: Callable[..., ClusterSim]) -> None:
    sim = make_sim(components=())  # no controller to adopt the orphan first
    kube = ApiServer(sim.cluster, sim.cluster.owner)
    sts = create(kube, "apps", "StatefulSet", statefulset("web", 0, claims=False))
    other = create(kube, "apps", "StatefulSet", statefulset("db", 0, claims=False))
    mine = history.new_controller_revision(sts, {"app": "web"}, {"a": 1}, 1, None)
    theirs = history.new_controller_revision(other, {"app": "web"}, {"a": 2}, 1, None)
    orphan = revision("orphan", 1, {"a": 3}, app="web")
    stranger = revision("stranger", 1, {"a": 4}, app="db")
    for body in (mine, theirs, orphan, stranger):
        create(kube, "apps", "ControllerRevision", body)
    sim.run_until_idle()
    listed = history.list_controller_revisions(sim.ctx, sts)
    assert sorted(r["metadata"]["name"] for r in listed) == sorted([mine["metadata"]["name"], "orphan"])

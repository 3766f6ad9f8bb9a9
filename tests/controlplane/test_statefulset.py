"""The statefulset controller against upstream's behaviour (pkg/controller/statefulset)."""

from __future__ import annotations

import copy
from typing import Any

from cluster.api import registry
from cluster.api.apiserver import ApiServer
from cluster.controlplane.controllers import replicaset as rsc
from cluster.controlplane.controllers import statefulset as ssc
from cluster.controlplane.sim import ClusterSim
from cluster.models import WatchEvent
from tests.controlplane.conftest import get, items, owned_revisions
from tests.controlplane.test_replicaset import NS, POD, create, events, kcm, kubelet, mark_running, pods, settle

__all__ = ["kcm"]

STS = registry.by_kind("apps", "StatefulSet")


def statefulset(
    name: str, replicas: int, image: str = "nginx:1.26", claims: bool = True, **spec: Any
) -> dict[str, Any]:
    labels = {"app": name}
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}},
            **spec,
        },
    }
    if claims:
        body["spec"]["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ]
    return body


def names(kube: ApiServer) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods(kube))


def sts_status(kube: ApiServer, name: str) -> dict[str, Any]:
    return get(kube, "apps", "StatefulSet", NS, name).get("status") or {}


def scale(kube: ApiServer, name: str, replicas: int) -> None:
    assert STS is not None
    kube.update_scale(STS, NS, name, lambda s: {**s, "spec": {"replicas": replicas}})


def set_image(kube: ApiServer, name: str, image: str) -> None:
    assert STS is not None
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    kube.patch(STS, NS, name, "application/strategic-merge-patch+json", patch)


def one_step(kube: ApiServer) -> str | None:
    """The slowest node agent: finish one deletion or start one pod, and say which."""
    assert POD is not None
    for pod in pods(kube):
        if rsc.is_terminating(pod):
            kube.delete(POD, NS, pod["metadata"]["name"], grace_period=0)
            return f"-{pod['metadata']['name']}"
    for pod in pods(kube):
        if not rsc.is_pod_ready(pod):
            kube.bind(NS, pod["metadata"]["name"], {"target": {"kind": "Node", "name": "worker-1"}})
            mark_running(kube, pod)
            return f"+{pod['metadata']['name']}"
    return None


def test_revision_name_is_fnv_of_the_template_patch() -> None:
    body = statefulset("web", 1)
    body["metadata"]["namespace"] = NS
    patch = {"spec": {"template": {**copy.deepcopy(body["spec"]["template"]), "$patch": "replace"}}}
    raw = rsc.go_json(patch)
    assert raw.startswith(b'{"spec":{"template":{"$patch":"replace","metadata":')
    expected = "web-" + rsc.safe_encode_string(str(rsc.fnv32(raw + b"0")))
    assert ssc.revision_name(body, 0) == expected
    assert ssc.revision_name(body, 1) != expected
    assert rsc.go_json({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'


def test_ordered_ready_creates_one_ordinal_at_a_time(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    sts = create(kube, "apps", "StatefulSet", statefulset("web", 3))
    sim.run_until_idle()
    assert names(kube) == ["web-0"]
    pod = get(kube, "", "Pod", NS, "web-0")
    revision = ssc.revision_name(sts, 0)
    assert pod["metadata"]["generateName"] == "web-"
    assert pod["metadata"]["labels"] == {
        "app": "web",
        "statefulset.kubernetes.io/pod-name": "web-0",
        "apps.kubernetes.io/pod-index": "0",
        "controller-revision-hash": revision,
    }
    assert pod["metadata"]["ownerReferences"] == [rsc.new_controller_ref(sts)]
    assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "nginx"
    assert pod["spec"]["volumes"][0] == {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}
    pvc = get(kube, "", "PersistentVolumeClaim", NS, "www-web-0")
    assert pvc["metadata"]["labels"] == {"app": "web"}
    assert pvc["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    order = list(
        WatchEvent.objects.filter(cluster=sim.cluster, type="ADDED", name__in=["web-0", "www-web-0"])
        .order_by("revision")
        .values_list("kind", flat=True)
    )
    assert order == ["PersistentVolumeClaim", "Pod"]
    assert [
        e["message"] for e in sorted(events(kube, "SuccessfulCreate"), key=lambda e: e["metadata"]["resourceVersion"])
    ] == [
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
    ]
    # Each next ordinal appears only once every lower one is Running and Ready.
    created: list[str] = []
    while True:
        sim.run_until_idle()
        live = pods(kube)
        assert sum(1 for p in live if not rsc.is_pod_ready(p)) <= 1
        for p in live:
            if p["metadata"]["name"] not in created:
                created.append(p["metadata"]["name"])
        if one_step(kube) is None:
            break
    assert created == ["web-0", "web-1", "web-2"]
    assert sorted(p["metadata"]["name"] for p in items(kube, "", "PersistentVolumeClaim", NS)) == [
        "www-web-0",
        "www-web-1",
        "www-web-2",
    ]
    status = sts_status(kube, "web")
    assert status == {
        "observedGeneration": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def test_ordered_scale_down_goes_from_the_highest_ordinal(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("db", 3, claims=False))
    settle(sim, kube)
    assert names(kube) == ["db-0", "db-1", "db-2"]
    scale(kube, "db", 0)
    actions: list[str] = []
    while True:
        sim.run_until_idle()
        assert sum(1 for p in pods(kube) if rsc.is_terminating(p)) <= 1
        step = one_step(kube)
        if step is None:
            break
        actions.append(step)
    assert actions == ["-db-2", "-db-1", "-db-0"]
    assert [
        e["message"] for e in sorted(events(kube, "SuccessfulDelete"), key=lambda e: e["metadata"]["resourceVersion"])
    ] == [
        "delete Pod db-2 in StatefulSet db successful",
        "delete Pod db-1 in StatefulSet db successful",
        "delete Pod db-0 in StatefulSet db successful",
    ]
    assert sts_status(kube, "db")["replicas"] == 0


def test_parallel_creates_and_deletes_at_once(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("par", 4, podManagementPolicy="Parallel"))
    sim.run_until_idle()
    assert names(kube) == ["par-0", "par-1", "par-2", "par-3"]
    assert len(items(kube, "", "PersistentVolumeClaim", NS)) == 4
    settle(sim, kube)
    scale(kube, "par", 1)
    sim.run_until_idle()
    assert sorted(p["metadata"]["name"] for p in pods(kube) if rsc.is_terminating(p)) == ["par-1", "par-2", "par-3"]
    settle(sim, kube)
    assert names(kube) == ["par-0"]
    # Claims stay behind (persistentVolumeClaimRetentionPolicy whenScaled: Retain).
    assert len(items(kube, "", "PersistentVolumeClaim", NS)) == 4


def test_rolling_update_replaces_pods_in_reverse_ordinal_order(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    old = create(kube, "apps", "StatefulSet", statefulset("ru", 3, claims=False))
    settle(sim, kube)
    old_rev = ssc.revision_name(old, 0)
    set_image(kube, "ru", "nginx:1.27")
    new_rev = ssc.revision_name(get(kube, "apps", "StatefulSet", NS, "ru"), 0)
    assert new_rev != old_rev
    actions: list[str] = []
    while True:
        sim.run_until_idle()
        assert sum(1 for p in pods(kube) if not ssc.is_healthy(p)) <= 1  # one pod replaced at a time
        mid = sts_status(kube, "ru")
        assert mid["updateRevision"] == new_rev
        step = one_step(kube)
        if step is None:
            break
        actions.append(step)
    assert actions == ["-ru-2", "+ru-2", "-ru-1", "+ru-1", "-ru-0", "+ru-0"]
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods(kube)} == {new_rev}
    status = sts_status(kube, "ru")
    assert status["currentRevision"] == status["updateRevision"] == new_rev
    assert status["currentReplicas"] == status["updatedReplicas"] == 3
    assert status["observedGeneration"] == 2


def test_partition_stops_the_update_at_that_ordinal(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    old = create(kube, "apps", "StatefulSet", statefulset("pt", 3, claims=False, updateStrategy=strategy))
    settle(sim, kube)
    set_image(kube, "pt", "nginx:1.27")
    settle(sim, kube)
    new_rev = ssc.revision_name(get(kube, "apps", "StatefulSet", NS, "pt"), 0)
    labels = {p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"] for p in pods(kube)}
    assert labels == {"pt-0": ssc.revision_name(old, 0), "pt-1": ssc.revision_name(old, 0), "pt-2": new_rev}
    status = sts_status(kube, "pt")
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    assert status["currentRevision"] == ssc.revision_name(old, 0) and status["updateRevision"] == new_rev


def test_on_delete_waits_for_the_user(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("od", 2, claims=False, updateStrategy={"type": "OnDelete"}))
    settle(sim, kube)
    set_image(kube, "od", "nginx:1.27")
    settle(sim, kube)
    assert {p["spec"]["containers"][0]["image"] for p in pods(kube)} == {"nginx:1.26"}
    assert POD is not None
    kube.delete(POD, NS, "od-1")
    settle(sim, kube)
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in pods(kube)}
    assert images == {"od-0": "nginx:1.26", "od-1": "nginx:1.27"}


def test_failed_pod_is_recreated_with_the_same_name(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("fp", 1, claims=False))
    settle(sim, kube)
    pod = get(kube, "", "Pod", NS, "fp-0")
    uid = pod["metadata"]["uid"]
    pod["status"]["phase"] = "Failed"
    assert POD is not None
    kube.update(POD, NS, "fp-0", pod, subresource="status")
    settle(sim, kube)
    fresh = get(kube, "", "Pod", NS, "fp-0")
    assert fresh["metadata"]["uid"] != uid and rsc.is_pod_ready(fresh)
    assert [e["message"] for e in events(kube, "RecreatingFailedPod")] == [
        "StatefulSet default/fp is recreating failed Pod fp-0"
    ]


def test_scale_up_waits_for_unready_predecessor(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("wait", 2, claims=False))
    sim.run_until_idle()
    kubelet(kube, ready=False)
    sim.advance(60)
    assert names(kube) == ["wait-0"]
    kubelet(kube, ready=True)
    sim.run_until_idle()
    assert names(kube) == ["wait-0", "wait-1"]


# ------------------------------------------------------------------------- ControllerRevisions
def revisions(kube: ApiServer, name: str) -> list[dict[str, Any]]:
    return owned_revisions(kube, "StatefulSet", NS, name)


def undo(kube: ApiServer, name: str, revision: dict[str, Any]) -> None:
    """kubectl rollout undo: send the revision's data back as a strategic merge patch."""
    assert STS is not None
    kube.patch(STS, NS, name, "application/strategic-merge-patch+json", revision["data"])


def images(kube: ApiServer) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in pods(kube)}


def test_revisions_are_real_controller_revisions(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    body = statefulset("rev", 2, claims=False)
    body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first"}
    sts = create(kube, "apps", "StatefulSet", body)
    settle(sim, kube)
    [first] = revisions(kube, "rev")
    patch = {"spec": {"template": {**copy.deepcopy(sts["spec"]["template"]), "$patch": "replace"}}}
    digest = rsc.safe_encode_string(str(rsc.fnv32(rsc.go_json(patch) + b"0")))
    assert first["metadata"]["name"] == f"rev-{digest}" == ssc.revision_name(sts, 0)
    assert first["data"] == patch
    assert first["revision"] == 1
    assert first["metadata"]["labels"] == {"app": "rev", "controller.kubernetes.io/hash": digest}
    assert first["metadata"]["annotations"] == {"kubernetes.io/change-cause": "first"}
    assert first["metadata"]["ownerReferences"] == [rsc.new_controller_ref(sts)]
    assert sts_status(kube, "rev")["currentRevision"] == sts_status(kube, "rev")["updateRevision"] == f"rev-{digest}"

    set_image(kube, "rev", "nginx:1.27")
    sim.run_until_idle()
    old, new = revisions(kube, "rev")
    assert old["metadata"]["name"] == first["metadata"]["name"] and old["revision"] == 1
    assert new["revision"] == 2
    assert new["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    status = sts_status(kube, "rev")
    assert (status["currentRevision"], status["updateRevision"]) == (old["metadata"]["name"], new["metadata"]["name"])
    settle(sim, kube)
    status = sts_status(kube, "rev")
    assert status["currentRevision"] == status["updateRevision"] == new["metadata"]["name"]


def test_undo_reuses_the_equal_revision(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """Rolling back moves the old revision to the head of the history rather than copying it."""
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("undo", 2, claims=False))
    settle(sim, kube)
    set_image(kube, "undo", "nginx:1.27")
    settle(sim, kube)
    old, new = revisions(kube, "undo")
    assert set(images(kube).values()) == {"nginx:1.27"}
    undo(kube, "undo", old)
    settle(sim, kube)
    after = revisions(kube, "undo")
    assert [(r["metadata"]["name"], r["revision"]) for r in after] == [
        (new["metadata"]["name"], 2),
        (old["metadata"]["name"], 3),
    ]
    assert images(kube) == {"undo-0": "nginx:1.26", "undo-1": "nginx:1.26"}
    assert {ssc.pod_revision(p) for p in pods(kube)} == {old["metadata"]["name"]}
    status = sts_status(kube, "undo")
    assert status["currentRevision"] == status["updateRevision"] == old["metadata"]["name"]
    assert status["updatedReplicas"] == 2


def test_history_is_truncated_to_the_limit(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("trim", 1, claims=False, revisionHistoryLimit=2))
    settle(sim, kube)
    for minor in range(27, 31):
        set_image(kube, "trim", f"nginx:1.{minor}")
        settle(sim, kube)
    kept = revisions(kube, "trim")
    # Two old revisions beyond the live one; the oldest ones went first.
    assert [r["revision"] for r in kept] == [3, 4, 5]
    assert kept[-1]["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.30"
    assert sts_status(kube, "trim")["updateRevision"] == kept[-1]["metadata"]["name"]


def test_truncation_spares_revisions_that_pods_still_run(kcm: tuple[ClusterSim, ApiServer]) -> None:
    sim, kube = kcm
    spec = {"updateStrategy": {"type": "OnDelete"}, "revisionHistoryLimit": 0}
    create(kube, "apps", "StatefulSet", statefulset("live", 2, claims=False, **spec))
    settle(sim, kube)
    set_image(kube, "live", "nginx:1.27")
    settle(sim, kube)
    assert POD is not None
    kube.delete(POD, NS, "live-1")  # OnDelete: only now does live-1 move to revision 2
    settle(sim, kube)
    for minor in (28, 29):
        set_image(kube, "live", f"nginx:1.{minor}")
        settle(sim, kube)
    kept = revisions(kube, "live")
    # Revision 1 is current (live-0), revision 2 is what live-1 runs, revision 4 is the update
    # revision; only revision 3, which nothing runs, goes.
    assert [r["revision"] for r in kept] == [1, 2, 4]
    assert {p["metadata"]["name"]: ssc.pod_revision(p) for p in pods(kube)} == {
        "live-0": kept[0]["metadata"]["name"],
        "live-1": kept[1]["metadata"]["name"],
    }
    assert images(kube) == {"live-0": "nginx:1.26", "live-1": "nginx:1.27"}


def test_pod_below_the_partition_comes_back_at_the_current_revision(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """newVersionedStatefulSetPod: a deleted pod the update has not reached is rebuilt from the current revision."""
    sim, kube = kcm
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    create(kube, "apps", "StatefulSet", statefulset("part", 2, claims=False, updateStrategy=strategy))
    settle(sim, kube)
    set_image(kube, "part", "nginx:1.27")
    settle(sim, kube)
    old, new = revisions(kube, "part")
    assert POD is not None
    kube.delete(POD, NS, "part-0")
    settle(sim, kube)
    assert images(kube) == {"part-0": "nginx:1.26", "part-1": "nginx:1.27"}
    labels = {p["metadata"]["name"]: ssc.pod_revision(p) for p in pods(kube)}
    assert labels == {"part-0": old["metadata"]["name"], "part-1": new["metadata"]["name"]}


def test_name_collision_bumps_the_collision_count(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """A revision name taken by other data: the hash is probed again with collisionCount 1."""
    sim, kube = kcm
    sts = create(kube, "apps", "StatefulSet", statefulset("col", 1, claims=False))
    taken = ssc.revision_name(sts, 0)
    squatter = {
        "metadata": {"name": taken, "labels": {"app": "other"}},
        "data": {"spec": {"template": {"$patch": "replace"}}},
        "revision": 1,
    }
    create(kube, "apps", "ControllerRevision", squatter)
    settle(sim, kube)
    [rev] = revisions(kube, "col")
    assert rev["metadata"]["name"] == ssc.revision_name(sts, 1) != taken
    status = sts_status(kube, "col")
    assert status["collisionCount"] == 1 and status["updateRevision"] == rev["metadata"]["name"]
    assert {ssc.pod_revision(p) for p in pods(kube)} == {rev["metadata"]["name"]}
    assert get(kube, "apps", "ControllerRevision", NS, taken)["data"] == squatter["data"]


def test_a_recreated_set_adopts_its_orphaned_history(kcm: tuple[ClusterSim, ApiServer]) -> None:
    """After `kubectl delete sts --cascade=orphan`, a set of the same name takes its revisions and pods back."""
    sim, kube = kcm
    create(kube, "apps", "StatefulSet", statefulset("re", 2, claims=False))
    settle(sim, kube)
    [rev] = revisions(kube, "re")
    uids = {p["metadata"]["uid"] for p in pods(kube)}
    assert STS is not None
    kube.delete(STS, NS, "re", propagation="Orphan")
    settle(sim, kube)
    orphaned = get(kube, "apps", "ControllerRevision", NS, rev["metadata"]["name"])
    assert rsc.controller_of(orphaned) is None
    again = create(kube, "apps", "StatefulSet", statefulset("re", 2, claims=False))
    settle(sim, kube)
    [adopted] = revisions(kube, "re")
    assert adopted["metadata"]["name"] == rev["metadata"]["name"] and adopted["revision"] == 1
    assert adopted["metadata"]["ownerReferences"] == [rsc.new_controller_ref(again)]
    assert {p["metadata"]["uid"] for p in pods(kube)} == uids
    assert sts_status(kube, "re")["updateRevision"] == rev["metadata"]["name"]

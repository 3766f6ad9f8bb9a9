"""Patches and bindings worked out from the watch cache's copy (upstream's cachedExistingObject).

The copy may be stale: whatever it says, the store has the last word, and the copy itself is
never changed (the control loops' informers share it).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cluster import etcd
from cluster.api import registry
from cluster.api.apiserver import ApiServer, Options
from cluster.api.errors import StatusError
from cluster.models import TraceStep

POD = registry.by_kind("", "Pod")
MERGE = "application/merge-patch+json"


class Cache:
    """A watch cache that answers from a dict and counts what it was asked."""

    def __init__(self) -> None:
        self.objects: dict[etcd.Key, dict[str, Any]] = {}
        self.asked = 0

    def __call__(self, key: etcd.Key) -> dict[str, Any] | None:
        self.asked += 1
        return self.objects.get(key)


def key(name: str) -> etcd.Key:
    return etcd.Key("", "Pod", "default", name)


@pytest.fixture
def cached(api: ApiServer) -> tuple[ApiServer, ApiServer, Cache]:
    """(a plain API server, one with a watch cache, the cache), both on the same cluster."""
    cache = Cache()
    assert POD is not None
    api.create(POD, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    return api, ApiServer(api.cluster, api.user, watch_cache=cache), cache


def test_a_current_copy_is_used_and_left_unchanged(cached: tuple[ApiServer, ApiServer, Cache]) -> None:
    plain, api, cache = cached
    current = plain.get(POD, "default", "p")
    cache.objects[key("p")] = current
    before = copy.deepcopy(current)
    # As the control loops call it: no schema decode, so nothing is copied on the way in.
    loop = {"trace": False, "decode": False, "field_validation": "Ignore"}
    api.patch(
        POD, "default", "p", MERGE, {"status": {"phase": "Running"}}, Options(component="kubelet", **loop), "status"
    )
    cache.objects[key("p")] = plain.get(POD, "default", "p")
    moved = copy.deepcopy(cache.objects[key("p")])
    api.patch(POD, "default", "p", MERGE, {"metadata": {"labels": {"team": "red"}}}, Options(component="kcm", **loop))
    cache.objects[key("p")] = after_label = plain.get(POD, "default", "p")
    bound_from = copy.deepcopy(after_label)
    api.bind(
        "default", "p", {"target": {"kind": "Node", "name": "worker-1"}}, Options(component="kube-scheduler", **loop)
    )
    assert cache.asked == 3
    assert current == before and after_label == bound_from  # the shared copies are as they were
    assert moved["metadata"].get("labels") is None
    pod = plain.get(POD, "default", "p")
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == "worker-1"
    assert pod["metadata"]["labels"] == {"team": "red"}
    assert int(pod["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])


def test_a_current_copy_means_no_read_of_the_object(
    cached: tuple[ApiServer, ApiServer, Cache], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, api, cache = cached
    cache.objects[key("p")] = plain.get(POD, "default", "p")
    reads = []
    real_get = etcd.get

    def counting_get(cluster_id: int, k: etcd.Key, shared: bool = False) -> Any:
        reads.append(k)
        return real_get(cluster_id, k, shared)

    monkeypatch.setattr(etcd, "get", counting_get)
    api.patch(POD, "default", "p", MERGE, {"status": {"phase": "Running"}}, Options(component="kubelet"), "status")
    assert key("p") not in reads


def test_a_stale_copy_loses_the_swap_and_the_patch_lands_on_the_current_object(
    cached: tuple[ApiServer, ApiServer, Cache],
) -> None:
    plain, api, cache = cached
    cache.objects[key("p")] = plain.get(POD, "default", "p")
    plain.patch(POD, "default", "p", MERGE, {"metadata": {"labels": {"team": "blue"}}})
    opts = Options(component="kubelet", trace=False)
    opts.pending = [etcd.PendingTrace("kubelet/worker-1", "status", "test.step", {}, [])]
    api.patch(POD, "default", "p", MERGE, {"status": {"phase": "Running"}}, opts, "status")
    pod = plain.get(POD, "default", "p")
    assert pod["metadata"]["labels"] == {"team": "blue"}  # the write the copy had not seen survives
    assert pod["status"]["phase"] == "Running"
    # The step that led to the patch is logged once, with the write that landed.
    steps = list(TraceStep.objects.filter(cluster=plain.cluster, message="test.step").values_list("seq", flat=True))
    assert steps == [int(pod["metadata"]["resourceVersion"]) - 1]


def test_a_patch_that_changes_nothing_in_a_stale_copy_still_reaches_the_store(
    cached: tuple[ApiServer, ApiServer, Cache],
) -> None:
    plain, api, cache = cached
    plain.patch(POD, "default", "p", MERGE, {"metadata": {"labels": {"tier": "a"}}})
    cache.objects[key("p")] = plain.get(POD, "default", "p")
    plain.patch(POD, "default", "p", MERGE, {"metadata": {"labels": {"tier": "b"}}})
    # Against the copy, setting tier=a changes nothing; against the store it does.
    api.patch(POD, "default", "p", MERGE, {"metadata": {"labels": {"tier": "a"}}}, Options(component="test"))
    assert plain.get(POD, "default", "p")["metadata"]["labels"] == {"tier": "a"}


def test_a_binding_from_a_stale_copy_gets_the_store_s_answer(cached: tuple[ApiServer, ApiServer, Cache]) -> None:
    plain, api, cache = cached
    cache.objects[key("p")] = plain.get(POD, "default", "p")  # unassigned in the copy
    plain.bind("default", "p", {"target": {"kind": "Node", "name": "worker-2"}})
    with pytest.raises(StatusError) as err:
        api.bind("default", "p", {"target": {"kind": "Node", "name": "worker-1"}}, Options(component="kube-scheduler"))
    assert err.value.code == 409 and 'already assigned to node "worker-2"' in err.value.message
    assert plain.get(POD, "default", "p")["spec"]["nodeName"] == "worker-2"


def test_a_binding_from_a_stale_copy_of_a_pod_still_free_lands(cached: tuple[ApiServer, ApiServer, Cache]) -> None:
    plain, api, cache = cached
    cache.objects[key("p")] = plain.get(POD, "default", "p")
    plain.patch(POD, "default", "p", MERGE, {"metadata": {"labels": {"team": "blue"}}})
    api.bind("default", "p", {"target": {"kind": "Node", "name": "worker-1"}}, Options(component="kube-scheduler"))
    pod = plain.get(POD, "default", "p")
    assert pod["spec"]["nodeName"] == "worker-1" and pod["metadata"]["labels"] == {"team": "blue"}


def test_a_copy_of_a_deleted_object_is_not_found(cached: tuple[ApiServer, ApiServer, Cache]) -> None:
    plain, api, cache = cached
    cache.objects[key("p")] = plain.get(POD, "default", "p")
    plain.delete(POD, "default", "p", grace_period=0)
    with pytest.raises(StatusError) as err:
        api.patch(POD, "default", "p", MERGE, {"status": {"phase": "Running"}}, Options(component="kubelet"), "status")
    assert err.value.code == 404
    with pytest.raises(StatusError) as err:
        api.bind("default", "p", {"target": {"kind": "Node", "name": "worker-1"}}, Options(component="kube-scheduler"))
    assert err.value.code == 404


def test_removing_the_last_finalizer_of_an_object_already_gone_is_not_found(api: ApiServer) -> None:
    """The copy still shows the object waiting on its finalizer; the store no longer has it."""
    cm = registry.by_kind("", "ConfigMap")
    assert cm is not None
    api.create(cm, "default", {"metadata": {"name": "c", "finalizers": ["example.com/hold"]}})
    api.delete(cm, "default", "c")
    cache = Cache()
    cache.objects[etcd.Key("", "ConfigMap", "default", "c")] = api.get(cm, "default", "c")
    api.patch(cm, "default", "c", MERGE, {"metadata": {"finalizers": None}})  # gone now
    loop_api = ApiServer(api.cluster, api.user, watch_cache=cache)
    opts = Options(component="kcm", trace=False, decode=False, field_validation="Ignore")
    opts.pending = [etcd.PendingTrace("kcm", "gc", "test.step", {}, [])]
    with pytest.raises(StatusError) as err:
        loop_api.patch(cm, "default", "c", MERGE, {"metadata": {"finalizers": None}}, opts)
    assert err.value.code == 404 and cache.asked == 1


@pytest.mark.parametrize("finalizer", [False, True])
def test_a_delete_that_loses_its_swap_keeps_the_loop_s_steps_for_the_retry(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch, finalizer: bool
) -> None:
    """A write lands between the delete's read and its swap: the retry, not the lost attempt,
    carries the steps that led to the delete, and they are logged once."""
    cm = registry.by_kind("", "ConfigMap")
    assert cm is not None
    meta: dict[str, Any] = {"name": "c", **({"finalizers": ["example.com/hold"]} if finalizer else {})}
    api.create(cm, "default", {"metadata": meta})
    real = etcd.update if finalizer else etcd.delete
    raced: list[bool] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(True)
            api.patch(cm, "default", "c", MERGE, {"metadata": {"labels": {"raced": "yes"}}})
        return real(*args, **kwargs)

    monkeypatch.setattr(etcd, "update" if finalizer else "delete", racing)
    opts = Options(component="kcm", trace=False)
    opts.pending = [etcd.PendingTrace("kcm", "gc", "test.step", {}, [])]
    result = api.delete(cm, "default", "c", opts)
    assert raced and opts.pending == []
    steps = list(TraceStep.objects.filter(cluster=api.cluster, message="test.step").values_list("seq", flat=True))
    assert steps == [int(result.object["metadata"]["resourceVersion"]) - 1]
    if finalizer:
        assert (
            result.object["metadata"]["labels"] == {"raced": "yes"} and result.object["metadata"]["deletionTimestamp"]
        )


def test_a_delete_whose_object_goes_before_its_swap_is_not_found(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object (held by a finalizer, so the delete is an update) is gone by the time of the
    swap: a clean 404, and the loop keeps its queued steps."""
    cm = registry.by_kind("", "ConfigMap")
    assert cm is not None
    api.create(cm, "default", {"metadata": {"name": "c", "finalizers": ["example.com/hold"]}})
    real = etcd.update

    def vanishing(*args: Any, **kwargs: Any) -> Any:
        etcd.delete(api.cluster.pk, etcd.Key("", "ConfigMap", "default", "c"), None)
        return real(*args, **kwargs)

    monkeypatch.setattr(etcd, "update", vanishing)
    opts = Options(component="kcm", trace=False)
    step = etcd.PendingTrace("kcm", "gc", "test.step", {}, [])
    opts.pending = [step]
    with pytest.raises(StatusError) as err:
        api.delete(cm, "default", "c", opts)
    assert err.value.code == 404 and opts.pending == [step]

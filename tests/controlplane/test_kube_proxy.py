"""kube-proxy's loop: a node resyncs its rules when Services and EndpointSlices change."""

from __future__ import annotations

from cluster.api import registry
from cluster.models import TraceStep
from cluster.network.kube_proxy import service_port_chain_name

SVC = registry.by_kind("", "Service")
SLICE = registry.by_kind("discovery.k8s.io", "EndpointSlice")


def _slice(ips: list[str]) -> dict:
    return {
        "metadata": {"name": "web-x1y2z", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "worker-1"} for ip in ips],
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
    }


def test_each_node_programs_the_service_chain(make_sim) -> None:
    """A Service with two endpoints is narrated once per node, naming upstream's chain hash."""
    sim = make_sim(components=("kube-proxy",), workers=2)
    kube = sim.ctx.api
    kube.create(
        SVC,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    kube.create(SLICE, "default", _slice(["10.244.1.5", "10.244.1.6"]))
    start = sim.cluster.revision
    sim.advance(2.0)
    steps = TraceStep.objects.filter(cluster=sim.cluster, message="kube-proxy.service", seq__gt=start)
    per_node = {s.params["node"]: s.params for s in steps if s.params["service"] == "default/web"}
    assert set(per_node) == {"control-plane", "worker-1", "worker-2"}
    assert per_node["worker-1"]["endpoints"] == 2
    assert per_node["worker-1"]["chain"] == service_port_chain_name("default/web", "tcp")


def test_syncs_are_rate_limited_by_min_sync_period(make_sim) -> None:
    """A change within a second of the last sync waits for minSyncPeriod, then syncs once per node."""
    sim = make_sim(components=("kube-proxy",), workers=1)
    kube = sim.ctx.api
    kube.create(
        SVC,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    kube.create(SLICE, "default", _slice(["10.244.1.5"]))
    sim.run_until_idle()
    start = sim.cluster.__class__.objects.get(pk=sim.cluster.pk).revision
    slice_ = kube.get(SLICE, "default", "web-x1y2z")
    slice_["endpoints"] = _slice(["10.244.1.5", "10.244.1.6"])["endpoints"]
    kube.update(SLICE, "default", "web-x1y2z", slice_)
    sim.run_until_idle()
    assert not TraceStep.objects.filter(cluster=sim.cluster, message="kube-proxy.synced", seq__gt=start).exists()
    sim.advance(1.5)
    synced = TraceStep.objects.filter(cluster=sim.cluster, message="kube-proxy.synced", seq__gt=start)
    assert sorted(s.params["node"] for s in synced) == ["control-plane", "worker-1"]
    assert all(s.params["endpoints"] == 2 for s in synced)

"""The management commands that create, describe and delete clusters."""

from __future__ import annotations

import os

import pytest
import yaml
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command

from cluster import etcd
from cluster.models import Cluster


@pytest.mark.django_db
def test_createcluster_with_options(capsys) -> None:
    """--nodes, --cni, --seed and --managed-control-plane shape the new cluster."""
    call_command(
        "createcluster",
        "hosted",
        "--nodes",
        "2",
        "--cni",
        "calico-bgp",
        "--seed",
        "9",
        "--managed-control-plane",
        "--owner",
        "bob",
    )
    c = Cluster.objects.get(name="hosted")
    assert (c.cni, c.seed, c.managed_control_plane, c.owner.username) == ("calico-bgp", 9, True, "bob")
    nodes, _ = etcd.list_(c.pk, "", "Node")
    assert sorted(n["metadata"]["name"] for n in nodes) == ["worker-1", "worker-2"]
    assert [n["spec"]["podCIDR"] for n in nodes] == ["10.244.0.0/24", "10.244.1.0/24"]
    services, _ = etcd.list_(c.pk, "", "Service")
    dns = next(s for s in services if s["metadata"]["name"] == "kube-dns")
    assert dns["spec"]["clusterIP"] == "10.96.0.10"
    assert [(p["name"], p["port"], p["protocol"]) for p in dns["spec"]["ports"]] == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
        ("metrics", 9153, "TCP"),
    ]
    kubernetes = next(s for s in services if s["metadata"]["name"] == "kubernetes")
    assert kubernetes["spec"]["clusterIP"] == "10.96.0.1" and kubernetes["spec"]["ports"][0]["targetPort"] == 6443


@pytest.mark.django_db
def test_default_cluster_has_a_tainted_control_plane_node() -> None:
    call_command("createcluster", "kubeadm", "--owner", "bob")
    c = Cluster.objects.get(name="kubeadm")
    cp = etcd.get(c.pk, etcd.Key("", "Node", "", "control-plane"))
    assert cp["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert "node-role.kubernetes.io/control-plane" in cp["metadata"]["labels"]


@pytest.mark.django_db
def test_presets_load(owner) -> None:
    call_command("createcluster", "ha", "--preset", "ha-control-plane", "--owner", "alice")
    nodes, _ = etcd.list_(Cluster.objects.get(name="ha").pk, "", "Node")
    assert sum("node-role.kubernetes.io/control-plane" in n["metadata"]["labels"] for n in nodes) == 3
    with pytest.raises(CommandError, match="no such preset"):
        call_command("createcluster", "x", "--preset", "nope")


@pytest.mark.django_db
def test_kubeconfig_and_deletecluster(capsys, tmp_path, settings) -> None:
    settings.KUBEGLASS = {**settings.KUBEGLASS, "PKI_DIR": str(tmp_path)}
    call_command("createcluster", "gone", "--owner", "bob")
    capsys.readouterr()
    call_command("kubeconfig", "gone", "--server", "https://127.0.0.1:9443")
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:9443/k8s/gone"
    assert cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    assert len(cfg["users"][0]["user"]["token"]) >= 32
    call_command("deletecluster", "gone")
    assert not Cluster.objects.filter(name="gone").exists()
    with pytest.raises(CommandError, match="not found"):
        call_command("deletecluster", "gone")
    with pytest.raises(CommandError):
        call_command("createcluster", "bad", "--nodes", "-1")


def test_channel_layer_follows_redis_url() -> None:
    """REDIS_URL selects channels-redis; without it the in-memory layer is used; both deliver."""
    layer = get_channel_layer()
    expected = "RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert type(layer).__name__ == expected

    async def roundtrip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "cluster.changed", "revision": 7})
        return await layer.receive(channel)

    assert async_to_sync(roundtrip)() == {"type": "cluster.changed", "revision": 7}


@pytest.mark.django_db
@pytest.mark.parametrize(("cni", "agent"), [("flannel-vxlan", "kube-flannel-ds"), ("calico-ipip", "calico-node")])
def test_kubeadm_add_ons_are_installed(cni: str, agent: str) -> None:
    """kube-proxy and the CNI agent as DaemonSets, CoreDNS as a Deployment, and a default StorageClass."""
    call_command("createcluster", f"addons-{cni}", "--cni", cni, "--owner", "bob")
    c = Cluster.objects.get(name=f"addons-{cni}")
    daemonsets = {d["metadata"]["name"] for d in etcd.list_(c.pk, "apps", "DaemonSet")[0]}
    assert {"kube-proxy", agent} <= daemonsets
    coredns = etcd.get(c.pk, etcd.Key("apps", "Deployment", "kube-system", "coredns"))
    assert coredns["spec"]["replicas"] == 2
    sc = etcd.get(c.pk, etcd.Key("storage.k8s.io", "StorageClass", "", "standard"))
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    proxy_cfg = etcd.get(c.pk, etcd.Key("", "ConfigMap", "kube-system", "kube-proxy"))
    assert "clusterCIDR: 10.244.0.0/16" in proxy_cfg["data"]["config.conf"]
    if agent == "calico-node":
        env = etcd.get(c.pk, etcd.Key("apps", "DaemonSet", "kube-system", "calico-node"))["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
        assert {"name": "CALICO_IPV4POOL_IPIP", "value": "Always"} in env

"""Addressing and per-node tables, worked out by hand for the reference cluster.

Reference cluster (tests/network/factories.py): kind-control-plane 172.18.0.2 /
10.244.0.0/24, kind-worker 172.18.0.3 / 10.244.1.0/24, kind-worker2 172.18.0.4 /
10.244.2.0/24; client 10.244.1.2 and web-1 10.244.1.3 on kind-worker.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from cluster.network import addressing as addr
from cluster.network import bridge_fdb, ip_neigh, ip_route
from cluster.network.index import index
from tests.network.factories import WORKER, kind_cluster, node


def test_bridge_plugin_and_docker_macs_embed_the_ip() -> None:
    # 10.244.1.5 = 0a.f4.01.05
    assert addr.pod_bridge_mac("10.244.1.5") == "0a:58:0a:f4:01:05"
    assert addr.pod_bridge_mac("10.244.1.1") == "0a:58:0a:f4:01:01"  # cni0, from its gateway IP
    assert addr.docker_mac("172.18.0.3") == "02:42:ac:12:00:03"


def test_vtep_mac_comes_from_the_flannel_annotation_or_a_stable_local_mac() -> None:
    annotated = node("n", 1, vtep_mac="66:2C:1B:9A:3D:10")
    assert addr.flannel_vtep_mac(annotated) == "66:2c:1b:9a:3d:10"
    derived = addr.flannel_vtep_mac(node("n", 1))
    assert derived == addr.flannel_vtep_mac(node("n", 1))  # stable
    first = int(derived.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast
    assert derived != addr.flannel_vtep_mac(node("m", 1))


def test_calico_names_host_veths_from_a_sha1_of_namespace_and_pod() -> None:
    expected = "cali" + hashlib.sha1(b"default.client").hexdigest()[:11]
    assert addr.calico_veth_name("default", "client") == expected
    assert len(expected) == 15  # IFNAMSIZ - 1


def test_node_routes_flannel_vxlan() -> None:
    assert ip_route(kind_cluster("flannel-vxlan"), WORKER) == (
        "default via 172.18.0.1 dev eth0\n"
        "10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink\n"
        "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n"
        "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\n"
        "172.18.0.0/24 dev eth0 proto kernel scope link src 172.18.0.3\n"
    )


def test_node_routes_flannel_host_gw() -> None:
    assert ip_route(kind_cluster("flannel-host-gw"), WORKER) == (
        "default via 172.18.0.1 dev eth0\n"
        "10.244.0.0/24 via 172.18.0.2 dev eth0\n"
        "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n"
        "10.244.2.0/24 via 172.18.0.4 dev eth0\n"
        "172.18.0.0/24 dev eth0 proto kernel scope link src 172.18.0.3\n"
    )


def test_node_routes_calico_bgp_and_ipip() -> None:
    client = addr.calico_veth_name("default", "client")
    web1 = addr.calico_veth_name("default", "web-1")
    assert ip_route(kind_cluster("calico-bgp"), WORKER) == (
        "default via 172.18.0.1 dev eth0\n"
        "10.244.0.0/24 via 172.18.0.2 dev eth0 proto bird\n"
        "blackhole 10.244.1.0/24 proto bird\n"
        f"10.244.1.2 dev {client} scope link\n"
        f"10.244.1.3 dev {web1} scope link\n"
        "10.244.2.0/24 via 172.18.0.4 dev eth0 proto bird\n"
        "172.18.0.0/24 dev eth0 proto kernel scope link src 172.18.0.3\n"
    )
    ipip = ip_route(kind_cluster("calico-ipip"), WORKER)
    assert "10.244.2.0/24 via 172.18.0.4 dev tunl0 proto bird onlink\n" in ipip
    assert "10.244.0.0/24 via 172.18.0.2 dev tunl0 proto bird onlink\n" in ipip


def test_pod_routes() -> None:
    assert ip_route(kind_cluster("flannel-vxlan"), WORKER, pod="default/client") == (
        "default via 10.244.1.1 dev eth0\n"
        "10.244.0.0/16 via 10.244.1.1 dev eth0\n"
        "10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2\n"
    )
    assert ip_route(kind_cluster("calico-bgp"), WORKER, pod="default/client") == (
        "default via 169.254.1.1 dev eth0\n169.254.1.1 dev eth0 scope link\n"
    )


def test_neighbours_flannel_vxlan() -> None:
    lines = ip_neigh(kind_cluster("flannel-vxlan"), WORKER).splitlines()
    assert "172.18.0.4 dev eth0 lladdr 02:42:ac:12:00:04 REACHABLE" in lines
    assert "10.244.1.2 dev cni0 lladdr 0a:58:0a:f4:01:02 REACHABLE" in lines
    # flanneld writes one permanent entry per peer: its flannel.1 address -> its VtepMAC.
    assert "10.244.2.0 dev flannel.1 lladdr 06:a1:00:00:00:04 PERMANENT" in lines
    assert "10.244.0.0 dev flannel.1 lladdr 06:a1:00:00:00:02 PERMANENT" in lines
    assert not any("10.244.1.0 dev flannel.1" in line for line in lines)  # not itself


def test_fdb_flannel_vxlan() -> None:
    snap = kind_cluster("flannel-vxlan")
    veth = index(snap).pods["default/client"].veth
    lines = bridge_fdb(snap, WORKER).splitlines()
    assert "0a:58:0a:f4:01:01 dev cni0 master cni0 permanent" in lines
    assert f"0a:58:0a:f4:01:02 dev {veth} master cni0" in lines  # learnt
    assert "06:a1:00:00:00:04 dev flannel.1 dst 172.18.0.4 self permanent" in lines
    assert "06:a1:00:00:00:02 dev flannel.1 dst 172.18.0.2 self permanent" in lines


def test_no_bridge_and_no_overlay_fdb_under_calico_bgp() -> None:
    text = bridge_fdb(kind_cluster("calico-bgp"), WORKER)
    assert "cni0" not in text and "flannel.1" not in text


def test_unknown_node_is_an_error() -> None:
    with pytest.raises(KeyError):
        ip_route(kind_cluster(), "nope")


def test_tables_are_plain_text_and_json_friendly() -> None:
    snap = kind_cluster("calico-vxlan")
    assert "vxlan.calico" in ip_route(snap, WORKER)
    json.dumps([ip_route(snap, WORKER), ip_neigh(snap, WORKER), bridge_fdb(snap, WORKER)])

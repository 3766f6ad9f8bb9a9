"""Packet walks through the reference cluster, with expectations worked out by hand.

Reference cluster (see factories.kind_objects):

* kind-control-plane 172.18.0.2 (02:42:ac:12:00:02), podCIDR 10.244.0.0/24, VtepMAC 06:a1:00:00:00:02
* kind-worker        172.18.0.3 (02:42:ac:12:00:03), podCIDR 10.244.1.0/24, VtepMAC 06:a1:00:00:00:03
* kind-worker2       172.18.0.4 (02:42:ac:12:00:04), podCIDR 10.244.2.0/24, VtepMAC 06:a1:00:00:00:04
* coredns-0 10.244.0.2; client 10.244.1.2, web-1 10.244.1.3; web-2 10.244.2.2, db 10.244.2.3
* cni0 on each node holds the podCIDR's .1; flannel.1 / tunl0 the podCIDR's .0
"""

from __future__ import annotations

import json

import pytest

from cluster.network import WalkError, walk
from cluster.network.addressing import calico_veth_name
from cluster.network.index import index
from cluster.network.snapshot import Snapshot
from tests.network.factories import kind_cluster, kind_objects, netpol, service, snapshot
from tests.network.walkutil import devices_path, eth, hop, ip, path, upstream_hash

CLIENT_MAC, WEB1_MAC, WEB2_MAC = "0a:58:0a:f4:01:02", "0a:58:0a:f4:01:03", "0a:58:0a:f4:02:02"
CNI0_W1, CNI0_W2 = "0a:58:0a:f4:01:01", "0a:58:0a:f4:02:01"
NODE_W1, NODE_W2, GW_MAC = "02:42:ac:12:00:03", "02:42:ac:12:00:04", "02:42:ac:12:00:01"


def vethname(snap: Snapshot, pod: str) -> str:
    return index(snap).pods[pod].veth


def test_case1_localhost_between_containers_of_one_pod() -> None:
    r = walk(kind_cluster(), "default/client", "127.0.0.1:9090")
    assert path(r) == [
        ("pod/default/client", "send"),
        ("pod/default/client/lo", "loopback"),
        ("pod/default/client", "deliver"),
    ]
    assert ip(r["hops"][-1]) == ("127.0.0.1", "127.0.0.1")
    assert "container sidecar" in r["hops"][-1]["why"]  # the sidecar declares 9090
    assert r["verdict"] == "delivered" and r["hops"][0]["headers"]["eth"] is None
    assert path(r, "reply") == path(r)
    own = walk(kind_cluster(), "default/client", "default/client:9090")
    assert [a for _, a in path(own)] == ["send", "loopback", "deliver"]
    assert ip(own["hops"][-1]) == ("10.244.1.2", "10.244.1.2")


def test_case2_same_node_is_bridged_by_cni0_with_no_routing() -> None:
    snap = kind_cluster("flannel-vxlan")
    vc, vw = vethname(snap, "default/client"), vethname(snap, "default/web-1")
    r = walk(snap, "default/client", "default/web-1:8080")
    assert path(r) == [
        ("pod/default/client", "send"),
        ("pod/default/client/eth0", "transmit"),
        (f"node/kind-worker/{vc}", "veth"),
        ("node/kind-worker/cni0", "bridge-forward"),
        (f"node/kind-worker/{vw}", "veth"),
        ("pod/default/web-1/eth0", "receive"),
        ("pod/default/web-1", "deliver"),
    ]
    # 10.244.1.3 is on-link (10.244.1.0/24 dev eth0), so the pod ARPs for web-1 itself.
    assert eth(r["hops"][1]) == (CLIENT_MAC, WEB1_MAC)
    assert hop(r, "bridge-forward")["why"].startswith(f"FDB: {WEB1_MAC} on port {vw}")
    assert all(h["headers"]["outer"] is None for h in r["hops"])
    assert r["hops"][-1]["headers"]["ip"]["ttl"] == 64  # never routed
    assert devices_path(r, "reply") == devices_path(r, "hops")[::-1]


def test_case2_same_node_under_calico_is_routed_through_cali_veths() -> None:
    snap = kind_cluster("calico-bgp")
    vc, vw = calico_veth_name("default", "client"), calico_veth_name("default", "web-1")
    r = walk(snap, "default/client", "default/web-1:8080")
    assert path(r) == [
        ("pod/default/client", "send"),
        ("pod/default/client/eth0", "transmit"),
        (f"node/kind-worker/{vc}", "veth"),
        ("node/kind-worker", "route"),
        (f"node/kind-worker/{vw}", "transmit"),
        ("pod/default/web-1/eth0", "receive"),
        ("pod/default/web-1", "deliver"),
    ]
    # default via 169.254.1.1, answered by proxy ARP with the cali MAC.
    assert eth(r["hops"][1])[1] == "ee:ee:ee:ee:ee:ee"
    assert "10.244.1.3 dev " + vw + " scope link" in hop(r, "route")["why"]
    web1 = index(snap).pods["default/web-1"].mac
    assert eth(hop(r, "transmit", nth=1)) == ("ee:ee:ee:ee:ee:ee", web1)
    assert r["hops"][-1]["headers"]["ip"]["ttl"] == 63


def test_case3_flannel_vxlan_encapsulates_node_to_node() -> None:
    snap = kind_cluster("flannel-vxlan")
    vc, vw = vethname(snap, "default/client"), vethname(snap, "default/web-2")
    r = walk(snap, "default/client", "default/web-2:8080")
    assert path(r) == [
        ("pod/default/client", "send"),
        ("pod/default/client/eth0", "transmit"),
        (f"node/kind-worker/{vc}", "veth"),
        ("node/kind-worker/cni0", "bridge-local"),
        ("node/kind-worker", "route"),
        ("node/kind-worker/flannel.1", "encap"),
        ("node/kind-worker/eth0", "transmit"),
        ("net/underlay", "switch"),
        ("node/kind-worker2/eth0", "receive"),
        ("node/kind-worker2/flannel.1", "decap"),
        ("node/kind-worker2", "route"),
        ("node/kind-worker2/cni0", "bridge-forward"),
        (f"node/kind-worker2/{vw}", "veth"),
        ("pod/default/web-2/eth0", "receive"),
        ("pod/default/web-2", "deliver"),
    ]
    # 10.244.2.2 is off-link for the pod: 10.244.0.0/16 via 10.244.1.1 (cni0).
    assert eth(r["hops"][1]) == (CLIENT_MAC, CNI0_W1)
    assert "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink" in hop(r, "route")["why"]
    enc = hop(r, "encap")
    assert enc["neighbour"]["text"] == "10.244.2.0 dev flannel.1 lladdr 06:a1:00:00:00:04 PERMANENT"
    assert enc["fdb"]["text"] == "06:a1:00:00:00:04 dev flannel.1 dst 172.18.0.4 self permanent"
    h = enc["headers"]
    assert (h["eth"]["src"], h["eth"]["dst"]) == ("06:a1:00:00:00:03", "06:a1:00:00:00:04")
    assert (h["ip"]["src"], h["ip"]["dst"], h["ip"]["ttl"]) == ("10.244.1.2", "10.244.2.2", 63)
    assert h["outer"]["ip"] == {"src": "172.18.0.3", "dst": "172.18.0.4", "proto": "udp", "ttl": 64}
    assert h["outer"]["udp"]["dport"] == 8472 and h["outer"]["vxlan"] == {"vni": 1}
    assert 32768 <= h["outer"]["udp"]["sport"] <= 60999
    wire = hop(r, "transmit", nth=1)["headers"]["outer"]["eth"]
    assert (wire["src"], wire["dst"]) == (NODE_W1, NODE_W2)
    assert hop(r, "decap")["headers"]["outer"] is None
    last = r["hops"][-1]["headers"]
    assert eth(r["hops"][-1]) == (CNI0_W2, WEB2_MAC) and last["ip"]["ttl"] == 62 and last["l4"]["dport"] == 8080


def test_case3_flannel_host_gw_routes_to_the_peer_node() -> None:
    snap = kind_cluster("flannel-host-gw")
    r = walk(snap, "default/client", "default/web-2:8080")
    actions = [a for _, a in path(r)]
    assert "encap" not in actions and "decap" not in actions
    assert "10.244.2.0/24 via 172.18.0.4 dev eth0" in hop(r, "route")["why"]
    tx = hop(r, "transmit", nth=1)
    assert tx["graph_node"] == "node/kind-worker/eth0"
    assert eth(tx) == (NODE_W1, NODE_W2) and ip(tx) == ("10.244.1.2", "10.244.2.2")
    assert tx["headers"]["outer"] is None
    assert path(r)[6:10] == [
        ("net/underlay", "switch"),
        ("node/kind-worker2/eth0", "receive"),
        ("node/kind-worker2", "route"),
        ("node/kind-worker2/cni0", "bridge-forward"),
    ]


def test_case3_calico_bgp_routes_with_bird_learnt_routes() -> None:
    snap = kind_cluster("calico-bgp")
    vw2 = calico_veth_name("default", "web-2")
    r = walk(snap, "default/client", "default/web-2:8080")
    assert "10.244.2.0/24 via 172.18.0.4 dev eth0 proto bird" in hop(r, "route")["why"]
    assert f"10.244.2.2 dev {vw2} scope link" in hop(r, "route", nth=1)["why"]
    assert not any(h["headers"]["outer"] for h in r["hops"])
    assert (f"node/kind-worker2/{vw2}", "transmit") in path(r)
    assert r["verdict"] == "delivered"


def test_case3_calico_ipip_encapsulates_in_tunl0() -> None:
    snap = kind_cluster("calico-ipip")
    r = walk(snap, "default/client", "default/web-2:8080")
    assert "10.244.2.0/24 via 172.18.0.4 dev tunl0 proto bird onlink" in hop(r, "route")["why"]
    enc = hop(r, "encap")
    assert enc["graph_node"] == "node/kind-worker/tunl0"
    h = enc["headers"]
    assert h["eth"] is None  # IPIP carries no inner Ethernet header
    assert h["outer"]["ip"] == {"src": "172.18.0.3", "dst": "172.18.0.4", "proto": "ipip", "ttl": 63}
    assert (h["ip"]["src"], h["ip"]["dst"]) == ("10.244.1.2", "10.244.2.2")
    assert hop(r, "decap")["graph_node"] == "node/kind-worker2/tunl0"
    assert (h2 := hop(r, "transmit", nth=1)["headers"]["outer"]["eth"]) and (h2["src"], h2["dst"]) == (NODE_W1, NODE_W2)


def test_calico_vxlan_uses_port_4789() -> None:
    r = walk(kind_cluster("calico-vxlan"), "default/client", "default/web-2:8080")
    outer = hop(r, "encap")["headers"]["outer"]
    assert hop(r, "encap")["graph_node"] == "node/kind-worker/vxlan.calico"
    assert outer["udp"]["dport"] == 4789 and outer["vxlan"] == {"vni": 4096}


def test_case4_pod_to_cluster_ip_is_dnatted_on_the_source_node() -> None:
    snap = kind_cluster("flannel-vxlan")
    r = walk(snap, "default/client", "svc/default/db:5432")
    svc_chain = "KUBE-SVC-" + upstream_hash("default/db:postgrestcp")
    sep_chain = "KUBE-SEP-" + upstream_hash("default/db:postgrestcp10.244.2.3:5432")
    dnat = hop(r, "dnat")
    assert dnat["graph_node"] == "node/kind-worker"
    assert dnat["rule"]["text"] == (
        f"-A {sep_chain} -m comment --comment default/db:postgres -m tcp -p tcp -j DNAT --to-destination 10.244.2.3:5432"
    )
    matched = [t["chain"] for t in dnat["chain_trace"] if t["matched"]]
    assert matched == ["PREROUTING", "KUBE-SERVICES", svc_chain, sep_chain]
    assert dnat["chain_trace"][1]["rule"] == (
        '-A KUBE-SERVICES -m comment --comment "default/db:postgres cluster IP" -m tcp -p tcp '
        f"-d 10.96.100.13 --dport 5432 -j {svc_chain}"
    )
    # Before DNAT the packet is for the ClusterIP; after, for the endpoint, then it is routed (case 3).
    assert ip(r["hops"][3]) == ("10.244.1.2", "10.96.100.13")
    assert ip(dnat) == ("10.244.1.2", "10.244.2.3") and dnat["headers"]["l4"]["dport"] == 5432
    names = [g for g, _ in path(r)]
    assert names.index("node/kind-worker") < names.index("node/kind-worker/flannel.1")
    sport = r["hops"][0]["headers"]["l4"]["sport"]
    ct = hop(r, "conntrack")["conntrack"]["text"]
    assert ct == (
        f"tcp      6 120 SYN_SENT src=10.244.1.2 dst=10.96.100.13 sport={sport} dport=5432 [UNREPLIED] "
        f"src=10.244.2.3 dst=10.244.1.2 sport=5432 dport={sport} mark=0 use=1"
    )
    assert r["endpoint"]["pod"] == "default/db" and r["endpoint"]["probability"] == "1.0000000000"
    # The reply is un-DNATed by the conntrack entry on kind-worker: the client sees the ClusterIP.
    undnat = hop(r, "un-dnat", part="reply")
    assert undnat["graph_node"] == "node/kind-worker"
    last = r["reply"][-1]["headers"]
    assert (last["ip"]["src"], last["l4"]["sport"], last["ip"]["dst"], last["l4"]["dport"]) == (
        "10.96.100.13", 5432, "10.244.1.2", sport,
    )  # fmt: skip
    assert devices_path(r, "reply") == devices_path(r, "hops")[::-1]


def test_case4_endpoint_choice_follows_the_statistic_rules() -> None:
    chosen = {"default/web-1": 0, "default/web-2": 0}
    for seed in range(60):
        r = walk(kind_cluster(seed=seed), "default/client", "svc/default/web:80")
        ep = r["endpoint"]
        chosen[ep["pod"]] += 1
        assert ep["probability"] == "0.5000000000" and len(ep["draws"]) == 1
        draw = ep["draws"][0]
        assert draw["probability"] == "0.5000000000"
        assert draw["matched"] == (ep["pod"] == "default/web-1")  # the 1/2 rule leads to web-1 (sorted first)
        overlay = any(a == "encap" for _, a in path(r))
        assert overlay == (ep["pod"] == "default/web-2")  # same node: bridged; other node: VXLAN
    assert chosen["default/web-1"] > 15 and chosen["default/web-2"] > 15
    again = walk(kind_cluster(seed=3), "default/client", "svc/default/web:80")
    assert again == walk(kind_cluster(seed=3), "default/client", "svc/default/web:80")


def _with_nodeports(cni: str = "flannel-vxlan") -> Snapshot:
    objs = kind_objects()
    objs["services"] += [
        service("default", "db-np", "10.96.100.20", [{"name": "pg", "port": 5432, "targetPort": 5432,
                "nodePort": 30432}], selector={"app": "db"}, type="NodePort"),
        service("default", "db-local", "10.96.100.21", [{"name": "pg", "port": 5432, "targetPort": 5432,
                "nodePort": 30433}], selector={"app": "db"}, type="NodePort", etp="Local"),
    ]  # fmt: skip
    return snapshot(cni, objs["nodes"], objs["pods"], objs["services"])


def test_case5_nodeport_cluster_policy_masquerades() -> None:
    r = walk(_with_nodeports(), "external", "node/kind-worker:30432")
    ext, svc = "KUBE-EXT-" + upstream_hash("default/db-np:pgtcp"), "KUBE-SVC-" + upstream_hash("default/db-np:pgtcp")
    sep = "KUBE-SEP-" + upstream_hash("default/db-np:pgtcp10.244.2.3:5432")
    assert path(r)[:7] == [
        ("ext/client", "send"),
        ("ext/gateway", "route"),
        ("net/underlay", "switch"),
        ("node/kind-worker/eth0", "receive"),
        ("node/kind-worker", "dnat"),
        ("node/kind-worker", "route"),
        ("node/kind-worker", "snat"),
    ]
    assert ip(r["hops"][0]) == ("203.0.113.10", "172.18.0.3") and r["hops"][0]["headers"]["l4"]["dport"] == 30432
    assert eth(r["hops"][1]) == (GW_MAC, NODE_W1)
    dnat = hop(r, "dnat")
    matched = [(t["chain"], t["target"]) for t in dnat["chain_trace"] if t["matched"]]
    assert matched == [
        ("PREROUTING", "KUBE-SERVICES"),
        ("KUBE-SERVICES", "KUBE-NODEPORTS"),
        ("KUBE-NODEPORTS", ext),
        (ext, "KUBE-MARK-MASQ"),
        ("KUBE-MARK-MASQ", "MARK"),
        (ext, svc),
        (svc, sep),
        (sep, "DNAT"),
    ]
    assert ip(dnat) == ("203.0.113.10", "10.244.2.3")
    route = next(h for h in r["hops"] if h["graph_node"] == "node/kind-worker" and h["action"] == "route")
    assert any(t["rule"].endswith("-m mark --mark 0x4000/0x4000 -j ACCEPT") for t in route["chain_trace"])
    snat = hop(r, "snat")
    assert snat["rule"]["text"] == (
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully"
    )
    # MASQUERADE picks the address of the outgoing device: flannel.1 holds 10.244.1.0.
    assert ip(snat) == ("10.244.1.0", "10.244.2.3")
    masq_port = snat["headers"]["l4"]["sport"]
    assert 1024 <= masq_port <= 65535
    assert r["hops"][-1]["graph_node"] == "pod/default/db" and ip(r["hops"][-1]) == ("10.244.1.0", "10.244.2.3")
    reply = path(r, "reply")
    assert reply[-4:] == [
        ("node/kind-worker/eth0", "transmit"),
        ("net/underlay", "switch"),
        ("ext/gateway", "route"),
        ("ext/client", "deliver"),
    ]
    unsnat, undnat = hop(r, "un-snat", "reply"), hop(r, "un-dnat", "reply")
    assert ip(unsnat) == ("10.244.2.3", "203.0.113.10")
    assert ip(undnat) == ("172.18.0.3", "203.0.113.10") and undnat["headers"]["l4"]["sport"] == 30432
    assert eth(hop(r, "transmit", "reply", nth=2)) == (NODE_W1, GW_MAC)
    assert devices_path(r, "reply") == devices_path(r, "hops")[::-1]


def test_case5_nodeport_local_policy_keeps_the_client_ip_and_only_uses_local_endpoints() -> None:
    snap = _with_nodeports()
    r = walk(snap, "external", "node/kind-worker2:30433")
    svl = "KUBE-SVL-" + upstream_hash("default/db-local:pgtcp")
    assert r["verdict"] == "delivered"
    assert not [h for h in r["hops"] if h["action"] == "snat"]
    assert any(t["chain"] == svl for t in hop(r, "dnat")["chain_trace"] if t["matched"])
    assert ip(r["hops"][-1]) == ("203.0.113.10", "10.244.2.3")  # the client's own address reaches db
    dropped = walk(snap, "external", "node/kind-worker:30433")  # db does not run on kind-worker
    assert dropped["verdict"] == "dropped"
    drop = dropped["hops"][-1]
    assert drop["action"] == "drop" and drop["graph_node"] == "node/kind-worker"
    assert drop["rule"]["text"] == (
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/db-local:pg has no local endpoints" '
        "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30433 -j DROP"
    )


def test_loadbalancer_ip_goes_through_the_external_chain() -> None:
    r = walk(kind_cluster("calico-ipip"), "external", "172.18.255.200:80")
    assert r["dst"]["kind"] == "loadbalancer" and r["verdict"] == "delivered"
    trace = [t["rule"] for t in hop(r, "dnat")["chain_trace"] if t["matched"]]
    assert any('"default/web-lb:http loadbalancer IP"' in t and "-d 172.18.255.200" in t for t in trace)
    assert r["endpoint"]["service"] == "default/web-lb"
    assert r["reply"][-1]["graph_node"] == "ext/client" and ip(r["reply"][-1])[0] == "172.18.255.200"


def test_case6_service_name_through_dns() -> None:
    snap = kind_cluster("flannel-vxlan")
    r = walk(snap, "default/client", "dns/web:80")
    dns = r["dns"]
    assert dns["resolv_conf"]["text"] == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    )
    assert dns["queries"] == [{"name": "web.default.svc.cluster.local", "rcode": "NOERROR"}]
    assert dns["answer"] == ["10.96.100.10"] and dns["server"] == "10.96.0.10:53"
    lookup = dns["walk"]
    assert lookup["verdict"] == "delivered" and lookup["delivered_to"]["pod"] == "kube-system/coredns-0"
    sep = "KUBE-SEP-" + upstream_hash("kube-system/kube-dns:dnsudp10.244.0.2:53")
    assert hop(lookup, "dnat")["rule"]["text"] == (
        f"-A {sep} -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.0.2:53"
    )
    assert lookup["hops"][0]["headers"]["l4"] == {
        "proto": "udp", "sport": lookup["hops"][0]["headers"]["l4"]["sport"], "dport": 53,
    }  # fmt: skip
    assert ip(lookup["hops"][0]) == ("10.244.1.2", "10.96.0.10")
    assert ip(lookup["reply"][-1]) == ("10.96.0.10", "10.244.1.2")  # un-DNATed answer
    # Then the connection itself goes to the ClusterIP the name resolved to.
    assert r["dst"]["kind"] == "service" and r["dst"]["ip"] == "10.96.100.10" and r["dst"]["dns_name"] == "web"
    assert ip(r["hops"][0]) == ("10.244.1.2", "10.96.100.10") and r["verdict"] == "delivered"


def test_dns_search_path_and_failures() -> None:
    snap = kind_cluster()
    r = walk(snap, "default/client", "dns/kube-dns.kube-system:53", "udp")
    assert [q["name"] for q in r["dns"]["queries"]] == [
        "kube-dns.kube-system.default.svc.cluster.local",
        "kube-dns.kube-system.svc.cluster.local",
    ]
    assert r["dns"]["queries"][0]["rcode"] == "NXDOMAIN" and r["verdict"] == "delivered"
    fqdn = walk(snap, "default/client", "dns/db.default.svc.cluster.local.:5432")
    assert [q["name"] for q in fqdn["dns"]["queries"]] == ["db.default.svc.cluster.local"]
    missing = walk(snap, "default/client", "dns/nothing:80")
    assert missing["verdict"] == "dropped" and "NXDOMAIN" in missing["reason"] and missing["hops"] == []
    with pytest.raises(WalkError):
        walk(snap, "external", "dns/web:80")


DENY = netpol("default", "db-deny", {"matchLabels": {"app": "db"}}, policy_types=["Ingress"])
ALLOW_WEB = netpol(
    "default", "db-allow-web", {"matchLabels": {"app": "db"}},
    ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "postgres"}]}],
)  # fmt: skip


def test_case7_calico_drops_by_network_policy_and_names_the_policies() -> None:
    snap = kind_cluster("calico-bgp", policies=[DENY, ALLOW_WEB])
    cali_db = calico_veth_name("default", "db")
    r = walk(snap, "default/client", "svc/default/db:5432")
    assert r["verdict"] == "dropped" and r["reply"] == []
    drop = r["hops"][-1]
    assert drop["action"] == "drop" and drop["graph_node"] == f"node/kind-worker2/{cali_db}"
    assert drop["rule"]["chain"] == f"cali-tw-{cali_db}"
    assert drop["rule"]["policies"] == ["default/db-deny", "default/db-allow-web"]
    assert "isolated for ingress by NetworkPolicies default/db-deny, default/db-allow-web" in r["reason"]
    # Policy sees the post-DNAT destination: the packet was DNATed on kind-worker first.
    assert ip(drop) == ("10.244.1.2", "10.244.2.3")
    ok = walk(snap, "default/web-1", "default/db:5432")
    assert ok["verdict"] == "delivered"
    assert hop(ok, "policy-allow")["policy"]["allowed_by"] == "default/db-allow-web"
    only = walk(kind_cluster("calico-ipip", policies=[DENY]), "default/web-1", "default/db:5432")
    assert only["reason"].startswith(f"calico cali-tw-{cali_db} (ingress policy of default/db): dropped by "
                                     "NetworkPolicy default/db-deny")  # fmt: skip


def test_case7_egress_policy_drops_at_the_source_veth() -> None:
    deny_egress = netpol("default", "client-egress", {"matchLabels": {"app": "client"}}, egress=[])
    snap = kind_cluster("calico-bgp", policies=[deny_egress])
    r = walk(snap, "default/client", "default/web-2:8080")
    cali = calico_veth_name("default", "client")
    assert r["verdict"] == "dropped" and r["hops"][-1]["graph_node"] == f"node/kind-worker/{cali}"
    assert r["hops"][-1]["rule"]["chain"] == f"cali-fw-{cali}"
    assert "dropped by NetworkPolicy default/client-egress" in r["reason"]
    # DNS is egress too: the lookup never reaches CoreDNS, so the name does not resolve.
    d = walk(snap, "default/client", "dns/web:80")
    assert d["verdict"] == "dropped" and d["dns"]["rcode"] == "TIMEOUT"


def test_case7_flannel_does_not_enforce_network_policy() -> None:
    r = walk(kind_cluster("flannel-vxlan", policies=[DENY]), "default/client", "default/db:5432")
    assert r["verdict"] == "delivered"
    assert r["policy"]["enforced"] is False
    assert "flannel does not implement NetworkPolicy: policies are not enforced" in r["notes"][0]
    assert "default/db-deny" in r["policy"]["note"]


def test_case7_service_without_endpoints_is_rejected() -> None:
    for cni, icmp_src in (("flannel-vxlan", "10.244.1.1"), ("calico-bgp", "172.18.0.3")):
        r = walk(kind_cluster(cni), "default/client", "svc/default/empty:80")
        assert r["verdict"] == "rejected"
        rej = r["hops"][-1]
        assert rej["action"] == "reject" and rej["graph_node"] == "node/kind-worker"
        assert rej["rule"]["table"] == "filter" and rej["rule"]["text"] == (
            '-A KUBE-SERVICES -m comment --comment "default/empty:http has no endpoints" -m tcp -p tcp '
            "-d 10.96.100.12 --dport 80 -j REJECT"
        )
        assert rej["rule"]["saved"].endswith("-j REJECT --reject-with icmp-port-unreachable")
        icmp = r["reply"][-1]
        assert icmp["graph_node"] == "pod/default/client" and icmp["action"] == "deliver"
        assert icmp["headers"]["l4"]["type"] == 3 and icmp["headers"]["l4"]["code"] == 3
        # The ICMP error leaves from the address facing the client (cni0's; calico's cali has none).
        assert ip(icmp) == (icmp_src, "10.244.1.2")


def test_unmatched_cluster_ip_port_is_lost() -> None:
    r = walk(kind_cluster(), "default/client", "10.96.100.10:81")
    assert r["verdict"] == "dropped" and r["hops"][-1]["graph_node"] == "ext/gateway"
    assert "ClusterIPs are virtual" in r["reason"]


def test_node_source_to_a_service_is_masqueraded() -> None:
    r = walk(kind_cluster("flannel-vxlan"), "node/kind-worker", "svc/default/db:5432")
    assert r["hops"][0]["graph_node"] == "node/kind-worker" and ip(r["hops"][0]) == ("172.18.0.3", "10.96.100.13")
    # KUBE-SVC's first rule marks traffic not from the pod CIDR; the SNAT address is flannel.1's.
    assert ip(hop(r, "snat")) == ("10.244.1.0", "10.244.2.3")
    assert r["verdict"] == "delivered" and r["reply"][-1]["graph_node"] == "node/kind-worker"
    assert ip(r["reply"][-1]) == ("10.96.100.13", "172.18.0.3")


@pytest.mark.parametrize(
    ("src", "dst", "proto", "message"),
    [
        ("nope", "default/web-1:80", "tcp", "source"),
        ("default/ghost", "default/web-1:80", "tcp", "no pod"),
        ("node/ghost", "default/web-1:80", "tcp", "no node"),
        ("default/client", "svc/default/web:9999", "tcp", "no port"),
        ("default/client", "svc/default/nope:80", "tcp", "no service"),
        ("default/client", "300.1.1.1:80", "tcp", "not an IPv4"),
        ("default/client", "10.96.100.10", "tcp", "needs a port"),
        ("default/client", "10.96.100.10:99999", "tcp", "out of range"),
        ("default/client", "default/web-1:80", "icmp", "protocol"),
    ],
)
def test_bad_notation_raises_walk_error(src: str, dst: str, proto: str, message: str) -> None:
    with pytest.raises(WalkError, match=message):
        walk(kind_cluster(), src, dst, proto)


def test_walk_error_is_a_value_error_and_results_are_json() -> None:
    assert issubclass(WalkError, ValueError)
    r = walk(kind_cluster(), "default/client", "dns/web:80")
    assert json.loads(json.dumps(r)) == r
    for h in r["hops"]:
        assert set(h) >= {"step", "node", "netns", "device", "graph_node", "action", "why", "rule", "headers"}
        assert set(h["headers"]) == {"eth", "ip", "l4", "outer"}


def test_same_node_service_reply_is_un_dnatted_by_br_netfilter_on_cni0() -> None:
    seed = next(s for s in range(50) if walk(kind_cluster(seed=s), "default/client", "svc/default/web:80")[
        "endpoint"]["pod"] == "default/web-1")  # fmt: skip
    r = walk(kind_cluster(seed=seed), "default/client", "svc/default/web:80")
    # Request: up to the host (DNAT), back down cni0 to web-1. Reply: web-1 and client share
    # 10.244.1.0/24, so it is bridged pod to pod, and conntrack rewrites it on the bridge.
    undnat = hop(r, "un-dnat", "reply")
    assert undnat["graph_node"] == "node/kind-worker/cni0"
    assert ip(undnat) == ("10.96.100.10", "10.244.1.2") and undnat["headers"]["l4"]["sport"] == 80
    assert eth(undnat) == (WEB1_MAC, CLIENT_MAC)
    assert devices_path(r, "reply") == devices_path(r, "hops")[::-1]


def test_hairpin_to_a_service_backed_by_the_client_itself() -> None:
    seed = next(s for s in range(50) if walk(kind_cluster(seed=s), "default/web-1", "svc/default/web:80")[
        "endpoint"]["pod"] == "default/web-1")  # fmt: skip
    r = walk(kind_cluster(seed=seed), "default/web-1", "svc/default/web:80")
    vw = vethname(kind_cluster(), "default/web-1")
    # KUBE-SEP's "-s <endpoint> -j KUBE-MARK-MASQ" catches the hairpin; MASQUERADE uses cni0's address.
    snat = hop(r, "snat")
    assert ip(snat) == ("10.244.1.1", "10.244.1.3")
    fwd = hop(r, "bridge-forward")
    assert fwd["fdb"]["dev"] == vw and r["hops"][-1]["graph_node"] == "pod/default/web-1"
    assert ip(r["reply"][-1]) == ("10.96.100.10", "10.244.1.3")

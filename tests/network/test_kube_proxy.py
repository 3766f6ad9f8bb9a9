"""kube-proxy's chain names and rules against upstream's own expectations.

The expected strings come from kubernetes/kubernetes ``pkg/proxy/iptables/proxier_test.go``
(``TestOverallIPTablesRules``), whose fixture is rebuilt here object by object.  Lines
that newer releases add for features not modelled (``nfacct`` counters and
``127.0.0.0/8`` NodePort rules) are left out of the comparison.
"""

from __future__ import annotations

import dataclasses

import pytest

from cluster.network import iptables_save
from cluster.network.index import index
from cluster.network.iptables import kernel_probability, parse
from cluster.network.kube_proxy import (
    generate,
    probability,
    service_external_chain_name,
    service_firewall_chain_name,
    service_port_chain_name,
    service_port_endpoint_chain_name,
)
from cluster.network.snapshot import Snapshot
from tests.network.factories import endpointslice, kind_cluster, node, service, snapshot


@pytest.mark.parametrize(
    ("name", "protocol", "chain"),
    [
        ("ns1/svc1:p80", "tcp", "KUBE-SVC-XPGD46QRK7WJZT7O"),
        ("ns2/svc2:p80", "tcp", "KUBE-SVC-GNZBNJ2PO5MGZ6GT"),
        ("ns3/svc3:p80", "tcp", "KUBE-SVC-X27LE4BHSL4DOUIK"),
        ("ns4/svc4:p80", "tcp", "KUBE-SVC-4SW47YFZTEDKD3PK"),
        ("ns5/svc5:p80", "tcp", "KUBE-SVC-NUKIZ6OKUXPJNT4C"),
        # Seen on every cluster: the API server and CoreDNS.
        ("default/kubernetes:https", "tcp", "KUBE-SVC-NPX46M4PTMTKRN6Y"),
        ("kube-system/kube-dns:dns", "udp", "KUBE-SVC-TCOU7JCQXEZGVUNU"),
    ],
)
def test_service_chain_names_match_upstream(name: str, protocol: str, chain: str) -> None:
    assert service_port_chain_name(name, protocol) == chain


@pytest.mark.parametrize(
    ("name", "endpoint", "chain"),
    [
        ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
        ("ns2/svc2:p80", "10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ"),
        ("ns3/svc3:p80", "10.180.0.3:80", "KUBE-SEP-OYPFS5VJICHGATKP"),
        ("ns4/svc4:p80", "10.180.0.4:80", "KUBE-SEP-UKSFD7AGPMPPLUHC"),
        ("ns4/svc4:p80", "10.180.0.5:80", "KUBE-SEP-C6EBXVWJJZMIWKLZ"),
        ("ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"),
    ],
)
def test_endpoint_chain_names_match_upstream(name: str, endpoint: str, chain: str) -> None:
    assert service_port_endpoint_chain_name(name, "tcp", endpoint) == chain


def test_other_chain_prefixes_share_the_port_hash() -> None:
    assert service_external_chain_name("ns2/svc2:p80", "tcp") == "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
    assert service_firewall_chain_name("ns5/svc5:p80", "tcp") == "KUBE-FW-NUKIZ6OKUXPJNT4C"


def test_probability_is_formatted_as_upstream_and_read_back_as_the_kernel_stores_it() -> None:
    assert [probability(n) for n in (1, 2, 3, 4)] == ["1.0000000000", "0.5000000000", "0.3333333333", "0.2500000000"]
    # lround(2^31 / 3) / 2^31 printed with %.11f, as iptables-save shows it on a real node.
    assert kernel_probability("0.3333333333") == "0.33333333349"
    assert kernel_probability("0.5000000000") == "0.50000000000"


def _upstream_fixture() -> Snapshot:
    """TestOverallIPTablesRules' services and EndpointSlices (node "test-node", cluster CIDR 10.0.0.0/8)."""
    svc2 = service("ns2", "svc2", "172.30.0.42", [{"name": "p80", "port": 80, "nodePort": 3001}], type="LoadBalancer",
                   etp="Local", lb_ips=["1.2.3.4"], external_ips=["192.168.99.22"])  # fmt: skip
    svc2["spec"]["healthCheckNodePort"] = 30000
    svc5 = service("ns5", "svc5", "172.30.0.45", [{"name": "p80", "port": 80, "nodePort": 3002}], type="LoadBalancer",
                   etp="Cluster", lb_ips=["5.6.7.8"], affinity=True)  # fmt: skip
    svc5["spec"]["healthCheckNodePort"] = 30000
    svc5["spec"]["loadBalancerSourceRanges"] = [" 203.0.113.0/25"]
    svc5["spec"]["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    services = [
        service("ns1", "svc1", "172.30.0.41", [{"name": "p80", "port": 80}]),
        svc2,
        service("ns3", "svc3", "172.30.0.43", [{"name": "p80", "port": 80, "nodePort": 3003}], type="NodePort"),
        service("ns4", "svc4", "172.30.0.44", [{"name": "p80", "port": 80, "targetPort": 80}], type="NodePort",
                external_ips=["192.168.99.33"]),
        svc5,
        service("ns6", "svc6", "172.30.0.46", [{"name": "p80", "port": 80, "targetPort": 80}]),
    ]  # fmt: skip
    p80 = [("p80", 80, "TCP")]
    slices = [
        endpointslice("ns1", "svc1", [("10.180.0.1", None, None)], p80),
        endpointslice("ns2", "svc2", [("10.180.0.2", None, None)], p80),
        endpointslice("ns3", "svc3", [("10.180.0.3", None, None)], p80),
        endpointslice("ns4", "svc4", [("10.180.0.4", None, None), ("10.180.0.5", "test-node", None)], p80),
        endpointslice("ns5", "svc5", [("10.180.0.3", None, None)], p80),
    ]
    snap = snapshot("flannel-vxlan", [node("test-node", 0, ip="192.168.0.2")], [], services, slices=slices)
    return dataclasses.replace(snap, pod_cidr="10.0.0.0/8")


UPSTREAM_NAT = """
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
"""

UPSTREAM_FILTER = """
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
"""


def _by_chain(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in lines:
        out.setdefault(line.split()[1], []).append(line)
    return out


def test_rules_match_upstream_test_overall_iptables_rules() -> None:
    snap = _upstream_fixture()
    rules = generate(index(snap), "test-node").rules
    nat = [r.text() for r in rules if r.table == "nat"]
    flt = [r.text() for r in rules if r.table == "filter" and "INVALID" not in r.text()]
    assert _by_chain(nat) == _by_chain(UPSTREAM_NAT.strip().splitlines())
    assert _by_chain(flt) == _by_chain(UPSTREAM_FILTER.strip().splitlines())


def test_endpoint_rules_depend_on_the_node_for_local_policy() -> None:
    snap = kind_cluster()
    idx = index(snap)
    # web-local (externalTrafficPolicy: Local) has web-1 on kind-worker and web-2 on kind-worker2.
    worker = [r.text() for r in generate(idx, "kind-worker").rules]
    svl = [t for t in worker if t.startswith("-A KUBE-SVL-")]
    assert svl == [
        '-A KUBE-SVL-V7ZMVOA2AOW6ATRL -m comment --comment "default/web-local:http -> 10.244.1.3:8080" '
        "-j KUBE-SEP-X44VOEY23ONFGNY3"
    ]
    control = [r.text() for r in generate(idx, "kind-control-plane").rules]
    assert not any(t.startswith("-A KUBE-SVL-") for t in control)
    assert (
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/web-local:http has no local endpoints" '
        "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j DROP"
    ) in control
    assert service_port_chain_name("default/web-local:http", "tcp") == "KUBE-SVC-V7ZMVOA2AOW6ATRL"


def test_large_cluster_mode_drops_endpoint_comments() -> None:
    pods_per_service = 1001
    eps = [(f"10.244.{i // 250}.{i % 250 + 2}", None, None) for i in range(pods_per_service)]
    svc = service("ns", "big", "10.96.0.50", [{"name": "p", "port": 80}])
    snap = snapshot(
        "flannel-vxlan", [node("n", 0)], [], [svc], slices=[endpointslice("ns", "big", eps, [("p", 80, "TCP")])]
    )
    proxy = generate(index(snap), "n")
    assert proxy.large_cluster_mode
    sep = next(r.text() for r in proxy.rules if r.chain.startswith("KUBE-SEP-") and r.target == "DNAT")
    assert sep.startswith("-A KUBE-SEP-") and "--comment" not in sep
    first = next(r.text() for r in proxy.rules if r.chain.startswith("KUBE-SVC-") and r.target.startswith("KUBE-SEP-"))
    assert "-m statistic --mode random --probability 0.0009990010 -j KUBE-SEP-" in first
    # KUBE-SERVICES keeps its comments.
    assert any('--comment "ns/big:p cluster IP"' in r.text() for r in proxy.rules if r.chain == "KUBE-SERVICES")


def test_iptables_save_prints_rules_as_the_kernel_returns_them() -> None:
    text = iptables_save(kind_cluster(), "kind-worker")
    lines = text.splitlines()
    assert lines[1] == "*filter" and ":INPUT ACCEPT [0:0]" in lines and "COMMIT" in lines and "*nat" in lines
    # -d with its mask first, -p before the matches, comments quoted, --dport inside -m tcp.
    assert (
        '-A KUBE-SERVICES -d 10.96.100.10/32 -p tcp -m comment --comment "default/web:http cluster IP" '
        "-m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL"
    ) in lines
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in lines
    assert "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0" in lines
    assert (
        "-A KUBE-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d 10.96.100.10/32 -p tcp -m comment "
        '--comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ'
    ) in lines
    assert (
        '-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.3:8080" '
        "-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2AZ33KU3V5PGPQZH"
    ) in lines
    assert (
        '-A KUBE-SERVICES -d 10.96.100.12/32 -p tcp -m comment --comment "default/empty:http has no endpoints" '
        "-m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"
    ) in lines
    # Built-in chain jumps: kube-proxy prepends, so they appear in reverse order of its jump list.
    forward = [line for line in lines if line.startswith("-A FORWARD")]
    assert forward[:4] == [
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
    ]


def test_three_endpoints_get_one_third_then_one_half() -> None:
    eps = [("10.244.1.5", "n", None), ("10.244.1.6", "n", None), ("10.244.1.7", "n", None)]
    svc = service("default", "three", "10.96.0.60", [{"name": "http", "port": 80, "targetPort": 8080}])
    slices = [endpointslice("default", "three", eps, [("http", 8080, "TCP")])]
    snap = snapshot("flannel-vxlan", [node("n", 1)], [], [svc], slices=slices)
    chain = service_port_chain_name("default/three:http", "tcp")
    rules = [r.text() for r in generate(index(snap), "n").rules if r.chain == chain][1:]
    assert rules[0].endswith(
        "-m statistic --mode random --probability 0.3333333333 -j "
        + service_port_endpoint_chain_name("default/three:http", "tcp", "10.244.1.5:8080")
    )
    assert "--probability 0.5000000000" in rules[1]
    assert "statistic" not in rules[2]


def test_save_form_of_a_parsed_rule() -> None:
    rule = parse("nat", "KUBE-SVC-X", ["-m", "comment", "--comment", "a/b:c -> 10.0.0.1:80", "-m", "statistic",
                                       "--mode", "random", "--probability", "0.3333333333", "-j", "KUBE-SEP-Y"])  # fmt: skip
    assert rule.text() == (
        '-A KUBE-SVC-X -m comment --comment "a/b:c -> 10.0.0.1:80" -m statistic --mode random '
        "--probability 0.3333333333 -j KUBE-SEP-Y"
    )
    assert rule.saved() == (
        '-A KUBE-SVC-X -m comment --comment "a/b:c -> 10.0.0.1:80" -m statistic --mode random '
        "--probability 0.33333333349 -j KUBE-SEP-Y"
    )
    recent = parse("nat", "KUBE-SVC-X", ["-m", "recent", "--name", "KUBE-SEP-Y", "--rcheck", "--seconds", "10800",
                                         "--reap", "-j", "KUBE-SEP-Y"])  # fmt: skip
    assert recent.saved() == (
        "-A KUBE-SVC-X -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-Y --mask 255.255.255.255 "
        "--rsource -j KUBE-SEP-Y"
    )

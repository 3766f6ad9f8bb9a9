"""CoreDNS's records: ClusterIP A records, headless answers with pod IPs, SRV for named ports."""

from __future__ import annotations

from cluster.controlplane.coredns import lookup, records


def _svc(name: str, cluster_ip: str, ports: list[dict]) -> dict:
    return {"metadata": {"namespace": "default", "name": name}, "spec": {"clusterIP": cluster_ip, "ports": ports}}


def _slice(svc: str, endpoints: list[tuple[str, str | None, bool]]) -> dict:
    return {
        "metadata": {"namespace": "default", "name": f"{svc}-abcde", "labels": {"kubernetes.io/service-name": svc}},
        "endpoints": [
            {"addresses": [ip], "hostname": host, "conditions": {"ready": ready}}
            if host
            else {"addresses": [ip], "conditions": {"ready": ready}}
            for ip, host, ready in endpoints
        ],
    }


def test_cluster_ip_service_answers_with_its_cluster_ip() -> None:
    rs = records([_svc("web", "10.96.12.34", [{"name": "http", "port": 80, "protocol": "TCP"}])], [])
    assert [r.data for r in lookup(rs, "web.default.svc.cluster.local")] == ["10.96.12.34"]
    srv = lookup(rs, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert [r.data for r in srv] == ["0 100 80 web.default.svc.cluster.local."]
    assert (
        lookup(rs, "web.default.svc.cluster.local.")[0].text()
        == "web.default.svc.cluster.local.\t30\tIN\tA\t10.96.12.34"
    )


def test_headless_service_answers_with_ready_pod_ips_and_hostnames() -> None:
    svc = _svc("db", "None", [{"name": "pg", "port": 5432, "protocol": "TCP"}])
    sl = _slice("db", [("10.244.1.5", "db-0", True), ("10.244.2.6", "db-1", True), ("10.244.3.7", "db-2", False)])
    rs = records([svc], [sl])
    assert sorted(r.data for r in lookup(rs, "db.default.svc.cluster.local")) == ["10.244.1.5", "10.244.2.6"]
    assert [r.data for r in lookup(rs, "db-1.db.default.svc.cluster.local")] == ["10.244.2.6"]
    srv = sorted(r.data for r in lookup(rs, "_pg._tcp.db.default.svc.cluster.local", "SRV"))
    assert srv == ["0 50 5432 db-0.db.default.svc.cluster.local.", "0 50 5432 db-1.db.default.svc.cluster.local."]


def test_coredns_loop_narrates_new_names(make_sim) -> None:
    from cluster.models import TraceStep

    sim = make_sim(components=("coredns",), workers=1)
    names = {s.params["name"] for s in TraceStep.objects.filter(cluster=sim.cluster, message="coredns.records")}
    assert {"kubernetes.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local"} <= names

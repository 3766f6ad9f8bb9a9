"""The Table cells kubectl prints, checked against what upstream's printers (kubernetes 1.32) produce.

Expected values come from upstream's own unit tests (duration_test.go, printers_test.go) where they exist, and
otherwise from working upstream's printers.go through by hand for realistic objects.
"""

from __future__ import annotations

import datetime as dt

import pytest

from cluster.api import printers
from cluster.api.printers import column_definitions, human_duration, row_cells, table

NOW = dt.datetime(2026, 11, 22, 3, 21, 50, tzinfo=dt.UTC)


def ago(**delta: float) -> str:
    """An RFC3339 timestamp `delta` before NOW, as the API serializes it."""
    return (NOW - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: object) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5, seconds=2), **extra}


# --- human_duration: upstream's TestHumanDuration and TestHumanDurationBoundaries --------------------------------

S, M, H, D = dt.timedelta(seconds=1), dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
MS = dt.timedelta(milliseconds=1)
Y = 365 * D


@pytest.mark.parametrize(
    ("d", "want"),
    [
        (S, "1s"),
        (70 * S, "70s"),
        (190 * S, "3m10s"),
        (70 * M, "70m"),
        (47 * H, "47h"),
        (49 * H, "2d1h"),
        ((8 * 24 + 2) * H, "8d"),
        (367 * 24 * H, "367d"),
        ((365 * 2 * 24 + 25) * H, "2y1d"),
        ((365 * 8 * 24 + 2) * H, "8y"),
        # boundaries
        (-2 * S, "<invalid>"),
        (-2 * S + dt.timedelta(microseconds=1), "0s"),  # upstream adds 1ns; a timedelta's finest step is 1µs
        (dt.timedelta(0), "0s"),
        (S - MS, "0s"),
        (2 * M - MS, "119s"),
        (2 * M, "2m"),
        (2 * M + S, "2m1s"),
        (10 * M - MS, "9m59s"),
        (10 * M, "10m"),
        (10 * M + S, "10m"),
        (3 * H - MS, "179m"),
        (3 * H, "3h"),
        (3 * H + M, "3h1m"),
        (8 * H - MS, "7h59m"),
        (8 * H, "8h"),
        (8 * H + 59 * M, "8h"),
        (2 * D - MS, "47h"),
        (2 * D, "2d"),
        (2 * D + H, "2d1h"),
        (8 * D - MS, "7d23h"),
        (8 * D, "8d"),
        (8 * D + 23 * H, "8d"),
        (2 * Y - MS, "729d"),
        (2 * Y, "2y"),
        (2 * Y + 23 * H, "2y"),
        (2 * Y + 23 * H + 59 * M, "2y"),
        (2 * Y + 24 * H - MS, "2y"),
        (2 * Y + 24 * H, "2y1d"),
        (3 * Y, "3y"),
        (4 * Y, "4y"),
        (5 * Y, "5y"),
        (6 * Y, "6y"),
        (7 * Y, "7y"),
        (8 * Y - MS, "7y364d"),
        (8 * Y, "8y"),
        (8 * Y + 364 * D, "8y"),
        (9 * Y, "9y"),
    ],
)
def test_human_duration_matches_upstream(d: dt.timedelta, want: str) -> None:
    assert human_duration(d) == want


# --- pods ---------------------------------------------------------------------------------------------------------


def running(ready: bool = True, restarts: int = 0, last_exit: str | None = None, name: str = "app") -> dict:
    status: dict = {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {}}}
    if last_exit:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last_exit}}
    return status


def pod(containers: int, status: dict, init: int = 0, **metadata: object) -> dict:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta("web-1", **metadata),
        "spec": {
            "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)],
            "initContainers": [{"name": f"i{i}", "image": "busybox"} for i in range(init)],
            "nodeName": "node-a",
        },
        "status": status,
    }


def pod_cells(p: dict) -> list:
    return row_cells("Pod", p, NOW)[:5]


def test_running_pod_two_of_two_ready_with_restarts() -> None:
    p = pod(
        2,
        {
            "phase": "Running",
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}],
            "containerStatuses": [running(name="c0"), running(restarts=3, last_exit=ago(minutes=5), name="c1")],
        },
    )
    assert row_cells("Pod", p, NOW) == [
        "web-1",
        "2/2",
        "Running",
        "3 (5m ago)",
        "5m2s",
        "10.244.1.7",
        "node-a",
        "<none>",
        "<none>",
    ]


def test_crashloopbackoff_pod() -> None:
    waiting = {
        "name": "c0",
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=40)}},
    }
    p = pod(1, {"phase": "Running", "containerStatuses": [waiting]})
    assert pod_cells(p) == ["web-1", "0/1", "CrashLoopBackOff", "5 (40s ago)", "5m2s"]


def test_terminating_pod() -> None:
    # upstream test19: a running pod with a deletionTimestamp is Terminating
    p = pod(1, {"phase": "Running", "containerStatuses": [running(ready=False)]}, deletionTimestamp=ago(seconds=10))
    assert pod_cells(p)[1:4] == ["0/1", "Terminating", "0"]


def test_succeeded_pod_with_deletion_stays_completed() -> None:
    # upstream test18
    done = {"ready": False, "restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}
    p = pod(1, {"phase": "Succeeded", "containerStatuses": [done]}, deletionTimestamp=ago(seconds=10))
    assert pod_cells(p)[1:4] == ["0/1", "Completed", "0"]
    assert table("Pod", [p], NOW)["rows"][0]["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
    ]


def test_pending_pod_with_deletion_is_terminating() -> None:
    # upstream test20
    assert pod_cells(pod(1, {"phase": "Pending"}, deletionTimestamp=ago(seconds=10)))[1:4] == [
        "0/1",
        "Terminating",
        "0",
    ]


def test_failed_pod_shows_container_reason() -> None:
    # upstream test17
    err = {"ready": False, "restartCount": 0, "state": {"terminated": {"reason": "Error", "exitCode": 1}}}
    p = pod(1, {"phase": "Failed", "containerStatuses": [err]})
    assert pod_cells(p)[1:4] == ["0/1", "Error", "0"]
    assert table("Pod", [p], NOW)["rows"][0]["conditions"][0]["reason"] == "Failed"


def test_pending_pod_with_init_container_waiting() -> None:
    status = {
        "phase": "Pending",
        "initContainerStatuses": [
            {"name": "i0", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ],
        "containerStatuses": [
            {"name": "c0", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ],
    }
    assert pod_cells(pod(1, status, init=1)) == ["web-1", "0/1", "Init:0/1", "0", "5m2s"]


def test_init_container_restarting() -> None:
    # upstream test7
    status = {
        "phase": "podPhase",
        "initContainerStatuses": [running(ready=False, restarts=3, last_exit=ago(seconds=10), name="i0")],
        "containerStatuses": [{"ready": False, "restartCount": 0, "state": {"waiting": {}}}],
    }
    assert pod_cells(pod(1, status, init=1))[1:4] == ["0/1", "Init:0/1", "3 (10s ago)"]


def test_second_init_container_restarting_counts_all_init_restarts() -> None:
    # upstream test10
    status = {
        "phase": "podPhase",
        "initContainerStatuses": [
            {
                "ready": False,
                "restartCount": 2,
                "state": {"terminated": {}},
                "lastState": {"terminated": {"finishedAt": ago(minutes=2)}},
            },
            running(ready=False, restarts=3, last_exit=ago(seconds=10), name="i1"),
        ],
        "containerStatuses": [{"ready": False, "state": {"waiting": {}}}],
    }
    assert pod_cells(pod(1, status, init=2))[1:4] == ["0/1", "Init:1/2", "5 (10s ago)"]


def test_init_failure_reason() -> None:
    status = {
        "phase": "Pending",
        "initContainerStatuses": [
            {"name": "i0", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}},
        ],
    }
    assert pod_cells(pod(1, status, init=1))[2] == "Init:ExitCode:2"


def test_after_init_only_app_container_restarts_count() -> None:
    # upstream test11
    status = {
        "phase": "Running",
        "initContainerStatuses": [
            {
                "ready": False,
                "restartCount": 2,
                "state": {"terminated": {}},
                "lastState": {"terminated": {"finishedAt": ago(minutes=2)}},
            }
        ],
        "containerStatuses": [running(ready=False, restarts=4, last_exit=ago(seconds=20))],
    }
    assert pod_cells(pod(1, status, init=1))[1:4] == ["0/1", "Running", "4 (20s ago)"]


def test_restart_age_is_the_latest_restart() -> None:
    # upstream test14
    status = {
        "phase": "Running",
        "containerStatuses": [
            running(restarts=6, last_exit=ago(days=5)),
            running(restarts=3, last_exit=ago(days=20)),
        ],
    }
    assert pod_cells(pod(2, status))[1:4] == ["2/2", "Running", "9 (5d ago)"]


@pytest.mark.parametrize(("conditions", "want"), [([], "NotReady"), ([{"type": "Ready", "status": "True"}], "Running")])
def test_completed_container_beside_running_one(conditions: list, want: str) -> None:
    # upstream test6 (both variants)
    status = {
        "phase": "Running",
        "conditions": conditions,
        "containerStatuses": [
            {"ready": True, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"ready": True, "restartCount": 3, "state": {"running": {}}},
        ],
    }
    assert pod_cells(pod(2, status))[1:4] == ["1/2", want, "6"]


def test_scheduling_gated_pod() -> None:
    # upstream test15
    status = {
        "phase": "podPhase",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    }
    assert pod_cells(pod(2, status))[1:4] == ["0/2", "SchedulingGated", "0"]


def test_sidecar_counts_toward_ready_and_total() -> None:
    p = pod(
        1,
        {
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                {"name": "proxy", "ready": True, "started": True, "restartCount": 1, "state": {"running": {}}}
            ],
            "containerStatuses": [running()],
        },
    )
    p["spec"]["initContainers"] = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    # The sidecar's restart has no lastState, so no "(… ago)" suffix.
    assert pod_cells(p)[1:4] == ["2/2", "Running", "1"]


def test_pod_readiness_gates() -> None:
    p = pod(1, {"phase": "Running", "conditions": [{"type": "example.com/lb", "status": "True"}]})
    p["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
    assert row_cells("Pod", p, NOW)[8] == "1/2"


# --- nodes --------------------------------------------------------------------------------------------------------


def node(labels: dict, ready: str | None = "True", unschedulable: bool = False) -> dict:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "metadata": {"name": "cp-1", "labels": labels, "creationTimestamp": ago(days=2, hours=5)},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "cp-1"}],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.8.0",
                "containerRuntimeVersion": "containerd://1.7.24",
            },
        },
    }


def test_cordoned_control_plane_node() -> None:
    n = node({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}, unschedulable=True)
    assert row_cells("Node", n, NOW) == [
        "cp-1",
        "Ready,SchedulingDisabled",
        "control-plane",
        "2d5h",
        "v1.32.0",
        "172.18.0.2",
        "<none>",
        "Debian GNU/Linux 12 (bookworm)",
        "6.8.0",
        "containerd://1.7.24",
    ]


@pytest.mark.parametrize(
    ("labels", "ready", "status", "roles"),
    [
        ({}, "False", "NotReady", "<none>"),
        ({}, None, "Unknown", "<none>"),
        ({"kubernetes.io/role": "node", "node-role.kubernetes.io/worker": ""}, "True", "Ready", "node,worker"),
        ({"node-role.kubernetes.io/": ""}, "Unknown", "NotReady", "<none>"),
    ],
)
def test_node_status_and_roles(labels: dict, ready: str | None, status: str, roles: str) -> None:
    assert row_cells("Node", node(labels, ready), NOW)[1:3] == [status, roles]


# --- services and endpoints ---------------------------------------------------------------------------------------


def service(spec: dict, status: dict | None = None) -> dict:
    return {"metadata": meta("web"), "spec": spec, "status": status or {"loadBalancer": {}}}


def test_nodeport_service() -> None:
    svc = service(
        {
            "type": "NodePort",
            "clusterIP": "10.96.12.34",
            "clusterIPs": ["10.96.12.34"],
            "selector": {"app": "web", "tier": "front"},
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}],
        }
    )
    assert row_cells("Service", svc, NOW) == [
        "web",
        "NodePort",
        "10.96.12.34",
        "<none>",
        "80:30080/TCP",
        "5m2s",
        "app=web,tier=front",
    ]


def test_loadbalancer_service_pending_ip() -> None:
    svc = service(
        {
            "type": "LoadBalancer",
            "clusterIPs": ["10.96.0.50"],
            "ports": [
                {"name": "http", "port": 80, "nodePort": 31000, "protocol": "TCP"},
                {"name": "dns", "port": 53, "nodePort": 31001, "protocol": "UDP"},
            ],
        }
    )
    assert row_cells("Service", svc, NOW)[1:5] == [
        "LoadBalancer",
        "10.96.0.50",
        "<pending>",
        "80:31000/TCP,53:31001/UDP",
    ]


def test_loadbalancer_service_with_ingress_and_external_ips() -> None:
    svc = service(
        {"type": "LoadBalancer", "clusterIPs": ["10.96.0.50"], "externalIPs": ["192.0.2.9"], "ports": []},
        {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}},
    )
    assert row_cells("Service", svc, NOW)[3:5] == ["203.0.113.7,lb.example.com,192.0.2.9", "<none>"]


def test_clusterip_headless_and_externalname_services() -> None:
    headless = service({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "ports": []})
    assert row_cells("Service", headless, NOW)[1:5] == ["ClusterIP", "None", "<none>", "<none>"]
    ext = service({"type": "ExternalName", "externalName": "db.example.com"})
    assert row_cells("Service", ext, NOW)[1:7] == [
        "ExternalName",
        "<none>",
        "db.example.com",
        "<none>",
        "5m2s",
        "<none>",
    ]


def test_endpoints_with_more_than_three_addresses() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": f"10.244.0.{i}"} for i in range(1, 6)],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    assert row_cells("Endpoints", ep, NOW) == [
        "web",
        "10.244.0.1:8080,10.244.0.2:8080,10.244.0.3:8080 + 2 more...",
        "5m2s",
    ]


def test_endpoints_multi_port_headless_and_empty() -> None:
    two_ports = {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::2"}], "ports": [{"port": 80}, {"port": 443}]}],
    }
    assert row_cells("Endpoints", two_ports, NOW)[1] == "10.0.0.1:80,[fd00::2]:80,10.0.0.1:443 + 1 more..."
    headless = {"metadata": meta("db"), "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]}
    assert row_cells("Endpoints", headless, NOW)[1] == "10.0.0.9"
    assert row_cells("Endpoints", {"metadata": meta("none")}, NOW)[1] == "<none>"


def test_endpointslice() -> None:
    eps = {
        "metadata": meta("web-abcde"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.244.0.{i}"]} for i in range(1, 5)],
    }
    assert row_cells("EndpointSlice", eps, NOW) == [
        "web-abcde",
        "IPv4",
        "8080",
        "10.244.0.1,10.244.0.2,10.244.0.3 + 1 more...",
        "5m2s",
    ]
    empty = {"metadata": meta("empty"), "addressType": "IPv4", "ports": None, "endpoints": []}
    assert row_cells("EndpointSlice", empty, NOW)[2:4] == ["<unset>", "<unset>"]


# --- workloads ----------------------------------------------------------------------------------------------------

TEMPLATE = {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit"}]}}


def test_deployment() -> None:
    d = {
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2},
    }
    assert row_cells("Deployment", d, NOW) == [
        "web",
        "2/3",
        3,
        2,
        "5m2s",
        "nginx,log",
        "nginx:1.27,fluent-bit",
        "app=web",
    ]


def test_deployment_with_no_status_yet() -> None:
    d = {"metadata": meta("web"), "spec": {"replicas": 2, "selector": {}, "template": TEMPLATE}}
    assert row_cells("Deployment", d, NOW)[1:4] == ["0/2", 0, 0]
    assert row_cells("Deployment", d, NOW)[7] == ""


def test_replicaset_statefulset_daemonset() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    rs = {
        "metadata": meta("web-5d8f"),
        "spec": {"replicas": 3, "selector": selector, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 1},
    }
    assert row_cells("ReplicaSet", rs, NOW) == [
        "web-5d8f",
        3,
        3,
        1,
        "5m2s",
        "nginx,log",
        "nginx:1.27,fluent-bit",
        "app=web,!canary,tier in (edge,front)",
    ]
    sts = {"metadata": meta("db"), "spec": {"replicas": 3, "template": TEMPLATE}, "status": {"readyReplicas": 1}}
    assert row_cells("StatefulSet", sts, NOW) == ["db", "1/3", "5m2s", "nginx,log", "nginx:1.27,fluent-bit"]
    ds_template = {
        "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "kp", "image": "kp"}]}
    }
    ds = {
        "metadata": meta("kube-proxy"),
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}}, "template": ds_template},
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert row_cells("DaemonSet", ds, NOW) == [
        "kube-proxy",
        3,
        3,
        2,
        3,
        2,
        "kubernetes.io/os=linux",
        "5m2s",
        "kp",
        "kp",
        "k8s-app=kube-proxy",
    ]


@pytest.mark.parametrize(
    ("selector", "want"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, "env notin (prod)"),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, "env"),
        ({"matchExpressions": [{"key": "env", "operator": "Bogus"}]}, "<error>"),
    ],
)
def test_format_label_selector(selector: dict | None, want: str) -> None:
    assert printers.format_label_selector(selector) == want


# --- config, storage, and the rest --------------------------------------------------------------------------------


def test_simple_kinds() -> None:
    assert row_cells("Namespace", {"metadata": meta("kube-system"), "status": {"phase": "Active"}}, NOW) == [
        "kube-system",
        "Active",
        "5m2s",
    ]
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert row_cells("ConfigMap", cm, NOW) == ["cfg", 3, "5m2s"]
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert row_cells("Secret", secret, NOW) == ["tls", "kubernetes.io/tls", 2, "5m2s"]
    assert row_cells("ServiceAccount", {"metadata": meta("default")}, NOW) == ["default", 0, "5m2s"]
    netpol = {"metadata": meta("deny"), "spec": {"podSelector": {}}}
    assert row_cells("NetworkPolicy", netpol, NOW) == ["deny", "<none>", "5m2s"]
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_4b1c"}}
    assert row_cells("Lease", lease, NOW) == ["kube-scheduler", "cp-1_4b1c", "5m2s"]
    assert row_cells("Lease", {"metadata": meta("free"), "spec": {}}, NOW)[1] == ""
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u", "controller": True}
    revision = {"metadata": {**meta("agent-5d4b8c"), "ownerReferences": [owner]}, "revision": 3}
    assert row_cells("ControllerRevision", revision, NOW) == ["agent-5d4b8c", "daemonset.apps/agent", 3, "5m2s"]
    assert row_cells("ControllerRevision", {"metadata": meta("loose")}, NOW)[1:3] == ["<none>", 0]


def test_event() -> None:
    event = {
        "metadata": meta("web-1.17a2b"),
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "fieldPath": "spec.containers{c0}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container c0  \n",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": ago(hours=3),
        "lastTimestamp": ago(minutes=4, seconds=30),
        "count": 12,
        "type": "Warning",
    }
    assert row_cells("Event", event, NOW) == [
        "4m30s",
        "Warning",
        "BackOff",
        "pod/web-1",
        "spec.containers{c0}",
        "kubelet, node-a",
        "Back-off restarting failed container c0",
        "3h",
        12,
        "web-1.17a2b",
    ]


def test_event_from_events_api_without_legacy_timestamps() -> None:
    event = {
        "metadata": meta("x"),
        "involvedObject": {"kind": "Node"},
        "reason": "Starting",
        "message": "",
        "eventTime": (NOW - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingComponent": "kube-proxy",
        "type": "Normal",
    }
    cells = row_cells("Event", event, NOW)
    assert cells[0] == "30s" and cells[7] == "30s"
    assert cells[3] == "node"
    assert cells[5] == "kube-proxy"
    assert cells[8] == 1


def test_persistent_volumes_and_claims() -> None:
    pv = {
        "metadata": meta("pv-1"),
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    assert row_cells("PersistentVolume", pv, NOW) == [
        "pv-1",
        "10Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "default/data",
        "standard",
        "<unset>",
        "",
        "5m2s",
        "Filesystem",
    ]
    bound = {
        "metadata": meta("data"),
        "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}},
    }
    assert row_cells("PersistentVolumeClaim", bound, NOW) == [
        "data",
        "Bound",
        "pv-1",
        "10Gi",
        "RWO",
        "standard",
        "<unset>",
        "5m2s",
        "Filesystem",
    ]
    pending = {
        "metadata": meta("new", deletionTimestamp=ago(seconds=1)),
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }
    assert row_cells("PersistentVolumeClaim", pending, NOW)[1:6] == ["Terminating", "", "", "", ""]


def test_storageclass() -> None:
    sc = {
        "metadata": {
            "name": "standard",
            "creationTimestamp": ago(days=30),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    assert row_cells("StorageClass", sc, NOW) == [
        "standard (default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
        "30d",
    ]


# --- the Table as a whole -----------------------------------------------------------------------------------------

KINDS = [
    "Namespace",
    "Node",
    "Pod",
    "Service",
    "Endpoints",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Event",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "EndpointSlice",
    "NetworkPolicy",
    "StorageClass",
    "Lease",
    "ControllerRevision",
    "Role",
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_row_fills_every_column(kind: str) -> None:
    # Even a bare object must print: kubectl shows a row for whatever the store holds.
    assert len(row_cells(kind, {"metadata": meta("x")}, NOW)) == len(column_definitions(kind))


def test_column_names_types_and_priorities() -> None:
    def shape(kind: str) -> list[tuple[str, str, int]]:
        return [(c["name"], c["type"], c["priority"]) for c in column_definitions(kind)]

    assert shape("Pod") == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert [name for name, _, p in shape("Event") if p == 0] == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert shape("ReplicaSet")[1:4] == [("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0)]
    assert shape("Role") == [("Name", "string", 0), ("Created At", "date", 0)]
    assert column_definitions("Pod")[0]["format"] == "name"
    assert set(column_definitions("Node")[0]) == {"name", "type", "format", "description", "priority"}


def test_table_defaults_to_partial_object_metadata() -> None:
    role = {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta("reader"), "rules": []}
    t = table("Role", [role], NOW)
    assert {k: t[k] for k in ("kind", "apiVersion", "metadata")} == {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
    }
    (row,) = t["rows"]
    assert row["cells"] == ["reader", "2026-11-22T03:16:48Z"]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": role["metadata"],
    }
    row["object"]["metadata"]["name"] = "changed"
    assert role["metadata"]["name"] == "reader"


def test_table_include_object_none_and_object() -> None:
    cm = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta("cfg"), "data": {"k": "v"}}
    assert "object" not in table("ConfigMap", [cm], NOW, include_object="None")["rows"][0]
    assert table("ConfigMap", [cm], NOW, include_object="Object")["rows"][0]["object"] == cm
    assert table("ConfigMap", [], NOW)["rows"] == []


def test_missing_creation_timestamp_is_unknown_age() -> None:
    assert row_cells("ConfigMap", {"metadata": {"name": "x"}}, NOW)[2] == "<unknown>"
    assert row_cells("Role", {"metadata": {"name": "x"}}, NOW)[1] == "0001-01-01T00:00:00Z"


def test_naive_now_is_treated_as_utc() -> None:
    assert row_cells("ConfigMap", {"metadata": meta("x")}, NOW.replace(tzinfo=None))[2] == "5m2s"

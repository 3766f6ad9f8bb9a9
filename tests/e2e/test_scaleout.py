"""Scale-out mode for real: PostgreSQL, Redis, an API process and worker processes that get `kill -9`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, kubectl_binary, wait_until

pytestmark = pytest.mark.e2e

PG_URL = os.environ.get("KUBEGLASS_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KUBEGLASS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKER_COMPONENTS = (
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "coredns",
    "cloud-controller-manager",
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class ScaleOut:
    def __init__(self, tmp: Path) -> None:
        if not (_reachable("127.0.0.1", 5432) and _reachable("127.0.0.1", 6379)):
            if os.environ.get("CI") == "true":
                pytest.fail("scale-out tests need PostgreSQL on :5432 and Redis on :6379")
            pytest.skip("PostgreSQL or Redis is not running on this machine")
        import psycopg

        self.db = f"kubeglass_scale_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        self.tmp = tmp
        self.env = {
            **os.environ,
            "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + self.db,
            "REDIS_URL": REDIS_URL,
            "KUBEGLASS_REDIS_PREFIX": f"kg-{uuid.uuid4().hex[:8]}",
            "KUBEGLASS_PKI_DIR": str(tmp / "pki"),
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.port, self.tls_port = free_port(), free_port()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def kill9(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


@pytest.fixture
def scaleout(tmp_path: Path) -> Iterator[ScaleOut]:
    so = ScaleOut(tmp_path)
    try:
        so.manage("migrate", "--noinput", "-v0")
        so.manage("createcluster", "big", "--nodes", "3", "--owner", "alice")
        so.manage("clock", "big", "--speed", "64")
        so.start("api", "serve", "--port", str(so.port), "--tls-port", str(so.tls_port))
        (tmp_path / "kubeconfig").write_text(
            so.manage("kubeconfig", "big", "--server", f"https://127.0.0.1:{so.tls_port}")
        )
        wait_until(lambda: _reachable("127.0.0.1", so.tls_port), timeout=60, what="the API process")
        yield so
    finally:
        so.close()


def _ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def test_worker_killed_mid_rollout_converges_without_lost_or_duplicate_pods(scaleout: ScaleOut) -> None:
    """Two workers share the loops; the leader is killed with SIGKILL mid-rollout; the standby finishes the job."""
    kubectl = kubectl_binary()
    kc = str(scaleout.tmp / "kubeconfig")

    def k(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]

    scaleout.start("worker-a", "runworker", *WORKER_COMPONENTS)
    wait_until(
        lambda: "kube-controller-manager" in k("get", "lease", "-n", "kube-system").stdout,
        timeout=60,
        what="worker-a to take the kube-controller-manager lease",
    )
    scaleout.start("worker-b", "runworker", *WORKER_COMPONENTS)
    # With the clock paused no image pull finishes, so whatever the loops manage before the kill,
    # the rollout is still under way when it lands.
    scaleout.manage("clock", "big", "--pause")
    replicas = 30
    created = k("create", "deployment", "web", "--image=nginx:1.27", f"--replicas={replicas}")
    assert created.returncode == 0, created.stderr

    def pods() -> list[dict]:
        out = k("get", "pods", "-l", "app=web", "-o", "json")
        return json.loads(out.stdout)["items"] if out.returncode == 0 else []

    wait_until(lambda: len(pods()) >= 3, timeout=60, what="the rollout to start")
    holder = json.loads(k("get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "json").stdout)["spec"][
        "holderIdentity"
    ]
    leader = "worker-a" if f"_{scaleout.procs['worker-a'].pid}_" in holder else "worker-b"
    scaleout.kill9(leader)
    assert not any(_ready(p) for p in pods()), "the rollout finished before the kill"
    scaleout.start(f"{leader}-again", "runworker", *WORKER_COMPONENTS)
    scaleout.manage("clock", "big", "--resume")

    def lease_holder() -> str:
        out = k("get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "json")
        return json.loads(out.stdout)["spec"].get("holderIdentity", "") if out.returncode == 0 else ""

    def converged() -> bool:
        items = pods()
        return (
            len(items) == replicas
            and all(not p["metadata"].get("deletionTimestamp") and _ready(p) for p in items)
            and lease_holder() not in ("", holder)
        )

    wait_until(converged, timeout=180, interval=0.5, what=f"{replicas} ready pods and a new leader after the kill")
    items = pods()
    names = [p["metadata"]["name"] for p in items]
    assert len(set(names)) == replicas
    owners = {p["metadata"]["ownerReferences"][0]["name"] for p in items}
    assert len(owners) == 1, owners
    rs = json.loads(k("get", "rs", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(rs) == 1 and rs[0]["spec"]["replicas"] == replicas
    new_holder = json.loads(k("get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "json").stdout)[
        "spec"
    ]
    assert new_holder["holderIdentity"] != holder and new_holder["leaseTransitions"] >= 1

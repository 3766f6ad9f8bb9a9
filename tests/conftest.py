"""Shared fixtures: users, clusters, and a live server that real clients (kubectl, the Python client) drive."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice")


@pytest.fixture
def stranger(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="mallory")


@pytest.fixture
def cluster(db: None, owner: Any) -> Any:
    from cluster.bootstrap import Topology, create_cluster

    return create_cluster("lab", owner, Topology(workers=3, seed=7, system_workloads=False))


@pytest.fixture
def api(cluster: Any, owner: Any) -> Any:
    from cluster.api.apiserver import ApiServer

    return ApiServer(cluster, owner)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@dataclass
class LiveServer:
    http_url: str
    https_url: str
    cluster: str
    kubeconfig: Path
    stranger_kubeconfig: Path
    ca_file: Path
    token: str
    env: dict[str, str]
    workdir: Path

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )


def _database_env(tmp: Path) -> tuple[dict[str, str], Any]:
    """A private database for the server process: a SQLite file, or a fresh PostgreSQL database."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {"KUBEGLASS_SQLITE_PATH": str(tmp / "db.sqlite3")}, None
    import psycopg

    name = f"kubeglass_e2e_{uuid.uuid4().hex[:10]}"
    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return {"DATABASE_URL": f"{base}/{name}"}, drop


@pytest.fixture(scope="session")
def kubeglass_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``manage.py serve`` in its own process, with cluster "e2e" owned by alice, and a second user."""
    tmp = tmp_path_factory.mktemp("live")
    db_env, drop = _database_env(tmp)
    env = {
        **os.environ,
        **db_env,
        "KUBEGLASS_PKI_DIR": str(tmp / "pki"),
        "KUBEGLASS_REDIS_PREFIX": f"kubeglass-e2e-{uuid.uuid4().hex[:8]}",
        "PYTHONUNBUFFERED": "1",
    }
    port, tls_port = free_port(), free_port()

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage("createcluster", "e2e", "--preset", "demo", "--owner", "alice")
    manage("createcluster", "other", "--nodes", "1", "--owner", "mallory")
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        # The loops run in the server process in both passes (over Redis in the scale-out one), so the
        # e2e tests do not depend on any other process; tests/e2e/test_scaleout.py runs real workers.
        [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(port),
            "--tls-port",
            str(tls_port),
            "--control-plane",
            "embedded",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    https = f"https://127.0.0.1:{tls_port}"
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(manage("kubeconfig", "e2e", "--server", https, "--user", "alice"))
    stranger = tmp / "kubeconfig-mallory"
    stranger.write_text(manage("kubeconfig", "e2e", "--server", https, "--user", "mallory"))
    import yaml

    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    ca = tmp / "pki" / "ca.crt"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{(tmp / 'server.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", tls_port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(up, timeout=60, what="the live server to listen")
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", https, "e2e", kubeconfig, stranger, ca, token, env, tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if drop is not None:
            drop()


def kubectl_binary() -> str:
    path = shutil.which("kubectl")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is required in CI but is not on PATH")
        pytest.skip("kubectl is not installed on this machine; the real-kubectl tests need it")
    return path

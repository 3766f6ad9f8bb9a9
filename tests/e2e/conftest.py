from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import LiveServer, kubectl_binary

_counter = itertools.count(1)


class Kubectl:
    def __init__(self, binary: str, kubeconfig: str) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, "--kubeconfig", self.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, (
                f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture(scope="session")
def kubectl(kubeglass_server: LiveServer) -> Kubectl:
    return Kubectl(kubectl_binary(), str(kubeglass_server.kubeconfig))


@pytest.fixture(scope="session")
def kubectl_stranger(kubeglass_server: LiveServer) -> Kubectl:
    return Kubectl(kubectl_binary(), str(kubeglass_server.stranger_kubeconfig))


@pytest.fixture
def fresh_namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Callable[[], str]:
    """A namespace per test, so tests sharing the live server do not see each other's objects."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-") + f"-{next(_counter)}"
    kubectl("create", "namespace", name)
    return lambda: name

"""Real Chromium (Debian's package) driven by Playwright against a live ``manage.py serve``.

The server is the shared ``kubeglass_server`` (cluster ``e2e``, the demo preset, owned by
alice); the tests that change things work in their own cluster, ``glass``, created here
from the same preset, so the kubectl suite's cluster is left alone. Every page fails its
test on a console error, and every test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, LiveServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
GLASS = "glass"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed; the browser tests need Debian's chromium package")
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    """Playwright's sync API keeps an event loop running in this thread while it is open, so it is
    closed with this package: later tests' ``async_to_sync`` must not find a running loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        yield b
        b.close()


WORKER_COMPONENTS = (
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "coredns",
    "cloud-controller-manager",
)


@pytest.fixture(scope="session")
def control_loops(kubeglass_server: LiveServer) -> Iterator[None]:
    """In scale-out mode (REDIS_URL) the server leaves the control loops to workers: start one."""
    if not kubeglass_server.env.get("REDIS_URL"):
        yield
        return
    log = open(kubeglass_server.workdir / "glass-worker.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", *WORKER_COMPONENTS],
        cwd=ROOT,
        env=kubeglass_server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def glass_cluster(kubeglass_server: LiveServer, control_loops: None) -> str:
    """A demo-preset cluster of alice's for the tests that change things."""
    done = kubeglass_server.manage("createcluster", GLASS, "--preset", "demo", "--owner", "alice", "--if-missing")
    assert done.returncode == 0, done.stderr
    return GLASS


def sign_in(context: Any, server: LiveServer, user: str = "alice") -> None:
    done = server.manage("loginlink", user, "--base", server.http_url)
    assert done.returncode == 0, done.stderr
    page = context.new_page()
    page.goto(done.stdout.strip())
    page.wait_for_url(f"{server.http_url}/")
    page.close()


class Console:
    """Console errors and uncaught exceptions of one page; any of them fails the test."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: self.errors.append(f"console.{m.type}: {m.text} at {m.location}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


@pytest.fixture
def page(browser: Any, kubeglass_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A signed-in page (alice) at 1600x1000; fails the test on any console error."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-US")
    sign_in(context, kubeglass_server)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    console = Console(pg)
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()
    assert not console.errors, "the page logged errors:\n" + "\n".join(console.errors)


def open_dashboard(page: Any, server: LiveServer, cluster: str) -> None:
    page.goto(f"{server.http_url}/clusters/{cluster}/")
    page.wait_for_selector("#glass[data-ready=true]")
    page.wait_for_selector("#socket-status.ok")


def shoot(page: Any, name: str, keep: bool = False, locator: Any = None) -> Path:
    """Save a screenshot in test-artifacts/ (and in docs/screenshots/ when it is one for the README)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (locator or page).screenshot(path=str(path), animations="disabled")
    if keep:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{name}.png")
    return path

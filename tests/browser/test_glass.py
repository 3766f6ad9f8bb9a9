"""The glass in real Chromium: what a student sees and does, from sign-in to a packet's path."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import GLASS, open_dashboard, shoot, sign_in
from tests.conftest import LiveServer

CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.browser
LOOP_DEADLINE = 120_000  # ms for the control loops to schedule and run pods


def missing_loops() -> list[str]:
    """Control loops a flow needs that are not registered in this tree yet."""
    from cluster.controlplane import components

    missing = [name for name in ("kube-scheduler",) if not components.cluster_controllers(name)]
    missing += [name for name in ("kubelet",) if not components.node_controllers(name)]
    kcm = {c.__name__ for c in components.cluster_controllers("kube-controller-manager")}
    missing += [c for c in ("DeploymentController", "ReplicaSetController", "EndpointSliceController") if c not in kcm]
    return missing


def wait_or_skip(page: Any, script: str, arg: Any, what: str, timeout: int = LOOP_DEADLINE) -> None:
    """Wait for a condition the control loops bring about; skip (only) when those loops do not exist yet."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(script, arg=arg, timeout=timeout, polling=200)
    except PlaywrightTimeout:
        missing = missing_loops()
        if missing:
            pytest.skip(f"{what} needs control loops not registered in cluster.controlplane.components: {missing}")
        raise


PODS_READY = """([prefix, count]) => {
  const pods = [...document.querySelectorAll('#layer-pods g.pod')].filter(g => g.dataset.key.startsWith(prefix));
  return pods.length >= count && pods.filter(g => g.dataset.node && ['Running', 'Ready'].includes(g.dataset.state)).length >= count;
}"""


def deployment(name: str, replicas: int, extra_spec: str = "") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:{extra_spec}
      containers:
      - name: {name}
        image: nginx:1.27
        ports:
        - containerPort: 80
"""


def apply(page: Any, manifest: str) -> str:
    """Apply through the Manifest editor; returns the result text (and waits for it)."""
    page.get_by_label("Manifest", exact=True).fill(manifest)
    page.locator("#apply-result").evaluate("el => el.replaceChildren()")
    page.get_by_role("button", name="Apply", exact=True).click()
    result = page.locator("#apply-result .apply-result")
    expect(result).to_be_visible()
    return str(result.inner_text())


def ensure_applied(page: Any, manifest: str) -> None:
    text = apply(page, manifest)
    assert "created" in text or "unchanged" in text or "configured" in text, text


def pods(page: Any, prefix: str) -> Any:
    return page.locator(f'#layer-pods g.pod[data-key^="{prefix}"]')


def run_command(page: Any, line: str) -> str:
    page.get_by_label("Command", exact=True).fill(line)
    page.locator("#command-result").evaluate("el => el.replaceChildren()")
    page.get_by_role("button", name="Run", exact=True).click()
    out = page.locator("#command-result .command-result")
    expect(out).to_be_visible()
    return str(out.inner_text())


# ------------------------------------------------------------------------------------------ tests


def test_sign_in_and_see_the_demo_cluster(page: Any, kubeglass_server: LiveServer) -> None:
    """The cluster list links to the demo cluster; its dashboard draws the control plane and 3 workers."""
    page.goto(f"{kubeglass_server.http_url}/")
    expect(page.get_by_role("heading", name="Your clusters")).to_be_visible()
    page.get_by_role("link", name="e2e", exact=True).click()
    page.wait_for_selector("#glass[data-ready=true]")
    arch = page.get_by_role("region", name="Architecture", exact=True)
    expect(arch.locator("g.node.cp")).to_have_count(1)
    expect(arch.locator("g.node.worker")).to_have_count(3)
    for name in ("control-plane", "worker-1", "worker-2", "worker-3"):
        expect(arch.locator("text.node-name", has_text=name)).to_have_count(1)
    for chip in ("apiserver", "etcd", "scheduler", "controller-manager", "cloud-controller-mgr"):
        expect(arch.locator("g.node.cp .chip-label", has_text=chip)).to_have_count(1)
    expect(arch.locator("g.node.worker .chip-label", has_text="kubelet")).to_have_count(3)
    expect(page.locator("#socket-status.ok")).to_be_visible()


def test_applied_deployment_pods_wait_unscheduled_then_run_on_nodes(
    page: Any, kubeglass_server: LiveServer, glass_cluster: str
) -> None:
    """Three pods appear in "unscheduled", move onto nodes when bound, and turn Running."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    page.evaluate(
        """() => {
      window.__podlog = {};
      const note = () => {
        for (const g of document.querySelectorAll('#layer-pods g.pod[data-key^="apps/"], #layer-pods g.pod')) {
          if (!g.dataset.key.startsWith('/Pod/default/hello-')) continue;
          const log = window.__podlog[g.dataset.key] = window.__podlog[g.dataset.key] || [];
          const rec = `${g.dataset.state}@${g.dataset.node || 'unscheduled'}`;
          if (log[log.length - 1] !== rec) log.push(rec);
        }
      };
      new MutationObserver(note).observe(document.querySelector('#layer-pods'), {subtree: true, childList: true, attributes: true});
    }"""
    )
    assert "deployment.apps/hello created" in apply(page, deployment("hello", 3))
    wait_or_skip(page, PODS_READY, ["/Pod/default/hello-", 3], "pods running on nodes")
    expect(pods(page, "/Pod/default/hello-")).to_have_count(3)
    history = page.evaluate("() => window.__podlog")
    assert len(history) == 3, history
    for key, log in history.items():
        first_on_node = next(i for i, rec in enumerate(log) if not rec.endswith("@unscheduled"))
        assert any(rec.startswith("Pending@unscheduled") for rec in log[:first_on_node]), (key, log)
        assert log[-1].split("@")[0] in ("Running", "Ready") and "@worker-" in log[-1], (key, log)
    page.get_by_role("region", name="Narration", exact=True).scroll_into_view_if_needed()
    shoot(page, "dashboard", keep=True)


def test_step_through_the_pod_creation_journey(page: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    """The guided journey applies a manifest and steps one trace step at a time; the narration follows."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    page.get_by_label("Manifest", exact=True).fill(deployment("journey", 2))
    page.get_by_role("button", name="Pod creation journey", exact=True).click()
    expect(page.locator("#journey")).to_be_visible()
    expect(page.locator("#flow-status")).to_contain_text("seq")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("#glass")).to_have_attribute("data-mode", "paused")
    narration = page.locator("#narration-now")
    seen = [narration.inner_text()]
    for _ in range(6):
        page.get_by_role("button", name="Step forward", exact=True).click()
        expect(narration).not_to_have_text(seen[-1])
        seen.append(narration.inner_text())
    assert any("authenticated" in s for s in seen), seen
    assert any("etcd stored" in s for s in seen), seen
    page.get_by_role("button", name="Step back", exact=True).click()
    expect(narration).to_have_text(seen[-2])
    # The keyboard does the same: arrows step, space plays and pauses.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("ArrowRight")
    expect(narration).to_have_text(seen[-1])
    page.keyboard.press("ArrowLeft")
    expect(narration).to_have_text(seen[-2])
    page.keyboard.press(" ")
    expect(page.locator("#glass")).not_to_have_attribute("data-mode", "paused")
    page.keyboard.press(" ")
    expect(page.locator("#glass")).to_have_attribute("data-mode", "paused")
    expect(page.locator("#journey-steps li.done")).not_to_have_count(0)
    # Let the journey run to its end, then keep a picture of the moment the scheduler binds a pod.
    page.get_by_role("button", name="Live", exact=True).click()
    wait_or_skip(page, PODS_READY, ["/Pod/default/journey-", 2], "the journey's pods running")
    expect(page.locator('#journey-steps li[data-id="bind"].done')).to_have_count(1)
    expect(page.locator('#journey-steps li[data-id="cni"].done')).to_have_count(1)
    before = int(page.locator("#apply-result .apply-result").get_attribute("data-before") or "0")
    bind = page.evaluate(
        "(b) => window.kubeglass.timeline.entries.find(e => e.seq > b && e.message === 'scheduler.bind').seq", before
    )
    page.get_by_role("slider", name="Timeline", exact=True).fill(str(bind))
    expect(page.locator("#narration-now")).to_contain_text("bound")
    page.set_viewport_size({"width": 1600, "height": 1200})
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, "journey", keep=True)


def test_rewind_before_the_apply_then_back_to_live(page: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    """Scrubbing the timeline to before an apply removes its pods from the view; Live brings them back."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    assert "created" in apply(page, deployment("rewind", 2))
    before = int(page.locator("#apply-result .apply-result").get_attribute("data-before") or "0")
    wait_or_skip(page, PODS_READY, ["/Pod/default/rewind-", 2], "the rewind pods running")
    page.get_by_role("slider", name="Timeline", exact=True).fill(str(before))
    expect(page.locator("#glass")).to_have_attribute("data-mode", "paused")
    expect(pods(page, "/Pod/default/rewind-")).to_have_count(0)
    expect(page.locator("#seq-readout")).to_contain_text(f"seq {before} ")
    page.get_by_role("button", name="Live", exact=True).click()
    expect(pods(page, "/Pod/default/rewind-")).to_have_count(2)
    expect(page.locator("#glass")).to_have_attribute("data-mode", "live")


def test_rewinding_past_the_page_load_reads_the_history(
    page: Any, kubeglass_server: LiveServer, glass_cluster: str
) -> None:
    """Seq 0 is an empty cluster: the history before the page's revision is fetched and folded on demand."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    page.get_by_role("slider", name="Timeline", exact=True).fill("1")
    expect(page.locator("#layer-nodes g.node.worker")).to_have_count(0)
    page.get_by_role("button", name="Live", exact=True).click()
    expect(page.locator("#layer-nodes g.node.worker")).to_have_count(3)


def test_scheduling_decision_shows_filters_and_scores(
    page: Any, kubeglass_server: LiveServer, glass_cluster: str
) -> None:
    """A pod's decision: every node, the filter that removed the control plane, score bars, the winner."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    ensure_applied(page, deployment("decide", 2))
    wait_or_skip(page, PODS_READY, ["/Pod/default/decide-", 2], "scheduled pods")
    pod = pods(page, "/Pod/default/decide-").first
    node = pod.get_attribute("data-node")
    pod.click()
    region = page.get_by_role("region", name="Scheduling decision", exact=True)
    table = region.locator("table.decision-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("tr.filtered", has_text="control-plane")).to_contain_text("untolerated taint")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.decision-table .bar .fill')].filter(f => f.offsetWidth > 0).length >= 3"
    )
    expect(table.locator("tr.winner th")).to_contain_text(str(node))
    expect(region.locator(".winner-name")).to_have_text(str(node))
    inspector = page.get_by_role("region", name="Inspector", exact=True)
    expect(inspector).to_contain_text("PodScheduled")
    region.get_by_role("button", name="Replay the decision").click()
    expect(region.locator(".decision-view.animate")).to_have_count(1)
    region.scroll_into_view_if_needed()
    shoot(page, "scheduling-decision", keep=True, locator=region)


CLIENT_AND_ECHO = """apiVersion: v1
kind: Pod
metadata:
  name: client
  labels: {app: client}
spec:
  nodeName: worker-1
  containers:
  - name: client
    image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  selector: {app: echo}
  ports:
  - port: 80
    targetPort: 80
---
""" + deployment("echo", 1, "\n      nodeSelector:\n        kubernetes.io/hostname: worker-2")


def test_trace_a_cross_node_packet_to_a_service(page: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    """Pod to Service across nodes: a DNAT hop, then VXLAN outer headers around the inner packet; the reply un-DNATs."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    ensure_applied(page, CLIENT_AND_ECHO)
    wait_or_skip(page, PODS_READY, ["/Pod/default/client", 1], "the client pod running")
    wait_or_skip(page, PODS_READY, ["/Pod/default/echo-", 1], "the echo pod running")
    wait_or_skip(
        page,
        """() => [...window.kubeglass.timeline.cur.state.values()].some(o => o.kind === 'EndpointSlice'
             && (o.metadata.labels || {})['kubernetes.io/service-name'] === 'echo'
             && (o.endpoints || []).some(e => (e.conditions || {}).ready))""",
        None,
        "the echo Service's endpoints",
    )
    packet = page.get_by_role("region", name="Packet", exact=True)
    packet.get_by_label("Source", exact=True).focus()  # suggestions are built when the field is used
    expect(page.locator('#trace-src-list option[value="default/client"]')).to_have_count(1)
    expect(page.locator('#trace-dst-list option[value="svc/default/echo:80"]')).to_have_count(1)
    packet.get_by_label("Source", exact=True).fill("default/client")
    packet.get_by_label("Destination", exact=True).fill("svc/default/echo:80")
    packet.get_by_role("button", name="Trace", exact=True).click()
    expect(packet.locator("#packet-summary")).to_contain_text("delivered")
    packet.locator("#packet-hops li.act-dnat").click()
    headers = packet.locator("#packet-headers")
    expect(headers.locator(".rewrite.dnat")).to_contain_text("DNAT")
    expect(headers.locator(".rewrite.dnat")).to_contain_text("→ 10.244.")
    expect(headers.locator(".rule code")).to_contain_text("DNAT --to-destination")
    packet.locator("#packet-hops li.act-encap").click()
    envelope = headers.locator(".envelope-box")
    expect(envelope).to_contain_text("VXLAN")
    expect(envelope).to_contain_text("8472")
    expect(envelope).to_contain_text("172.18.0.")
    expect(envelope.locator(".env-inner")).to_contain_text("10.244.")
    expect(page.locator("#layer-packet .packet-dot.wrapped")).to_have_count(1)
    packet.locator("#packet-headers").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, "packet-vxlan", keep=True)
    packet.locator("#packet-hops li.act-decap").click()
    expect(headers.locator(".envelope-box")).to_have_count(0)
    packet.get_by_role("button", name="Show reply", exact=True).click()
    expect(packet.locator("#packet-hops li.act-un-dnat")).to_have_count(1)
    packet.locator("summary", has_text="Per-node tables").click()
    packet.locator(".node-tables", has_text="worker-1").get_by_role("link", name="iptables").click()
    expect(packet.locator("#node-table-text")).to_contain_text("KUBE-SERVICES")


def test_command_box_scales_a_deployment(page: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    """`kubectl scale deployment web --replicas=5` in the command box: five web pods on the glass."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    page.get_by_role("button", name="Apply", exact=True).click()  # the editor starts with Deployment web + Service web
    expect(page.locator("#apply-result .applied")).to_contain_text("deployment.apps/web")
    out = run_command(page, "kubectl scale deployment web --replicas=5")
    assert "deployment.apps/web scaled" in out, out
    wait_or_skip(page, PODS_READY, ["/Pod/default/web-", 5], "five web pods running")
    expect(pods(page, "/Pod/default/web-")).to_have_count(5)
    listing = run_command(page, "kubectl get deployment web")
    assert "NAME" in listing and "READY" in listing and "web" in listing, listing
    page.get_by_label("Ownership", exact=True).check()
    expect(page.locator("#owners")).to_contain_text("5/5")


def test_a_bad_manifest_shows_the_field_error(page: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    """The API server's Status comes back with its cause, and the offending line is marked."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    text = apply(page, deployment("broken", 2).replace("replicas: 2", "replicas: -1"))
    assert "422 Invalid" in text and "spec.replicas" in text, text
    alert = page.locator("#apply-result [role=alert]")
    expect(alert.locator("code.field")).to_have_text("spec.replicas")
    expect(page.locator("#apply-result mark.field-error")).to_have_text("  replicas: -1")
    expect(page.get_by_label("Manifest", exact=True)).to_have_attribute("aria-invalid", "true")
    shoot(page, "field-error", locator=page.get_by_role("region", name="Act", exact=True))


def test_create_and_delete_a_cluster_from_the_list(page: Any, kubeglass_server: LiveServer) -> None:
    page.goto(f"{kubeglass_server.http_url}/")
    page.get_by_label("Cluster name").fill("scratch")
    page.get_by_label("1 node (control plane runs workloads)").check()
    page.get_by_role("button", name="Create cluster").click()
    page.wait_for_url("**/clusters/scratch/")
    page.wait_for_selector("#glass[data-ready=true]")
    expect(page.locator("#layer-nodes g.node.cp")).to_have_count(1)
    expect(page.locator("#layer-nodes g.node.worker")).to_have_count(0)
    page.goto(f"{kubeglass_server.http_url}/")
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete scratch").click()
    page.wait_for_url(f"{kubeglass_server.http_url}/")
    expect(page.get_by_role("link", name="scratch", exact=True)).to_have_count(0)


def test_chinese_follows_accept_language_and_the_switch_overrides_it(
    browser: Any, kubeglass_server: LiveServer, glass_cluster: str
) -> None:
    from tests.browser.conftest import Console

    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    try:
        sign_in(context, kubeglass_server)
        page = context.new_page()
        console = Console(page)
        page.goto(f"{kubeglass_server.http_url}/clusters/{GLASS}/")
        page.wait_for_selector("#glass[data-ready=true]")
        expect(page.get_by_role("region", name="架构", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="播放", exact=True)).to_be_visible()
        page.get_by_role("button", name="后退一步", exact=True).click()
        # Narrated in Chinese (the words; an upstream condition message inside stays English).
        expect(page.locator("#narration-now")).to_contain_text(CJK)
        shoot(page, "dashboard-zh")
        page.get_by_label("语言").select_option("en")
        page.wait_for_selector("#glass[data-ready=true]")
        expect(page.get_by_role("region", name="Architecture", exact=True)).to_be_visible()
        page.get_by_role("button", name="Step back", exact=True).click()
        expect(page.locator("#narration-now")).not_to_contain_text(CJK)
        assert not console.errors, console.errors
    finally:
        context.close()


def test_reduced_motion_turns_transitions_off(browser: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, reduced_motion="reduce")
    try:
        sign_in(context, kubeglass_server)
        page = context.new_page()
        page.goto(f"{kubeglass_server.http_url}/clusters/{GLASS}/")
        page.wait_for_selector("#glass[data-ready=true]")
        page.wait_for_selector("#layer-pods g.pod", state="attached")
        duration = page.evaluate(
            "() => getComputedStyle(document.querySelector('#layer-pods g.pod')).transitionDuration"
        )
        assert set(duration.replace(" ", "").split(",")) == {"0s"}, duration
    finally:
        context.close()


def test_pages_without_javascript_paths_have_no_errors(
    page: Any, kubeglass_server: LiveServer, glass_cluster: str
) -> None:
    """The inspector and decision pages (the links' no-JS targets) render on their own."""
    base = f"{kubeglass_server.http_url}/clusters/{glass_cluster}"
    page.goto(f"{base}/inspect?kind=Node&name=worker-1")
    expect(page.get_by_role("region", name="Inspector")).to_contain_text("worker-1")
    page.goto(f"{base}/inspect?kind=Service&namespace=default&name=kubernetes")
    expect(page.locator("pre.yaml")).to_have_count(1)
    page.goto(f"{kubeglass_server.http_url}/")
    expect(page.get_by_role("link", name=glass_cluster, exact=True)).to_be_visible()


def test_zooming_out_groups_pods_per_node(page: Any, kubeglass_server: LiveServer, glass_cluster: str) -> None:
    """Zoomed out, each node shows one summary of its pods by state instead of every pod."""
    open_dashboard(page, kubeglass_server, glass_cluster)
    ensure_applied(page, deployment("hello", 3))
    wait_or_skip(page, PODS_READY, ["/Pod/default/hello-", 3], "pods running on nodes")
    arch = page.get_by_role("region", name="Architecture", exact=True)
    arch.get_by_role("button", name="Zoom out").click()
    expect(page.locator('#layer-pods g.pod[data-node^="worker-"]')).to_have_count(0)
    expect(page.locator("#layer-summary .group-title").first).to_contain_text("pods")
    arch.get_by_role("button", name="Zoom in").click()
    expect(pods(page, "/Pod/default/hello-")).to_have_count(3)

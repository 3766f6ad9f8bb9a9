// How a pod looks: one display state (each with its own colour, outline and text label),
// following what `kubectl get pods` prints in its STATUS column.

const FAILING = /BackOff|Err|Error|OOMKilled|Invalid|CreateContainer/;

export function isReady(p) {
  return ((p.status || {}).conditions || []).some((c) => c.type === "Ready" && c.status === "True");
}

function containerState(c) {
  if (!c) return "waiting";
  const s = c.state || {};
  if (s.running) return c.ready ? "ready" : "running";
  if (s.terminated) return s.terminated.exitCode === 0 ? "done" : "failed";
  const r = (s.waiting || {}).reason || "";
  return FAILING.test(r) ? "failed" : "waiting";
}

export function podView(p) {
  const st = p.status || {}, spec = p.spec || {}, meta = p.metadata;
  const statuses = st.containerStatuses || [], inits = st.initContainerStatuses || [];
  let state = "Pending", reason = "";
  const failing = [...inits, ...statuses]
    .map((c) => ((c.state || {}).waiting || {}).reason || ((c.state || {}).terminated || {}).reason)
    .find((r) => r && FAILING.test(r));
  if (meta.deletionTimestamp) state = "Terminating";
  else if (st.phase === "Succeeded") state = "Succeeded";
  else if (st.phase === "Failed") { state = "Failed"; reason = st.reason || ""; }
  else if (!spec.nodeName) { state = "Pending"; reason = (st.conditions || []).some((c) => c.reason === "Unschedulable") ? "Unschedulable" : ""; }
  else if (failing) { state = "Failed"; reason = failing; }
  else if (st.phase === "Running") state = isReady(p) ? "Ready" : "Running";
  else {
    state = "ContainerCreating";
    const running = inits.filter((c) => (c.state || {}).terminated && c.state.terminated.exitCode === 0).length;
    if (inits.length && running < inits.length) reason = `Init:${running}/${inits.length}`;
    else reason = statuses.map((c) => ((c.state || {}).waiting || {}).reason).find((r) => r && r !== "ContainerCreating") || "";
  }
  const byName = new Map(statuses.map((c) => [c.name, c]));
  const containers = (spec.containers || []).map((c) => ({ name: c.name, state: containerState(byName.get(c.name)) }));
  const sandbox = !!(st.podIP || st.phase === "Running" || statuses.some((c) => (c.state || {}).running));
  return { state, reason, node: spec.nodeName || "", containers, sandbox };
}

export const STATE_CLASS = {
  Pending: "st-pending",
  ContainerCreating: "st-creating",
  Running: "st-running",
  Ready: "st-ready",
  Terminating: "st-terminating",
  Failed: "st-failed",
  Succeeded: "st-succeeded",
  Unknown: "st-unknown",
};

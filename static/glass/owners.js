// The ownership view: Deployment → ReplicaSet → Pods, DaemonSet/StatefulSet → Pods, and
// Service → EndpointSlice → Pods, drawn as nested lists from the same folded state.
import { keyOf } from "./log.js";
import { podView, STATE_CLASS } from "./pods.js";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (tpl, p) => tpl.replace(/\{(\w+)\}/g, (m, k) => (k in p ? String(p[k]) : m));

export function renderOwners(root, state, T, hideSystem, selected) {
  const byUid = new Map(), children = new Map(), all = [];
  for (const o of state.values()) {
    if (hideSystem && o.metadata.namespace === "kube-system") continue;
    all.push(o);
    byUid.set(o.metadata.uid, o);
  }
  for (const o of all) {
    for (const ref of o.metadata.ownerReferences || []) {
      if (!children.has(ref.uid)) children.set(ref.uid, []);
      children.get(ref.uid).push(o);
    }
  }
  const sorted = (list) => list.slice().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const item = (o, extra) => {
    const k = keyOf(o);
    let badge = "";
    if (o.kind === "Pod") {
      const v = podView(o);
      badge = ` <span class="badge ${STATE_CLASS[v.state]}">${esc(T[v.state] || v.state)}${v.reason ? ": " + esc(v.reason) : ""}</span>`;
    }
    const ns = o.metadata.namespace ? `${esc(o.metadata.namespace)}/` : "";
    return `<button type="button" class="obj${k === selected ? " selected" : ""}" data-key="${esc(k)}"><span class="kind">${esc(o.kind)}</span> ${ns}${esc(o.metadata.name)}${badge}${extra ? ` <span class="muted">${esc(extra)}</span>` : ""}</button>`;
  };
  const tree = (o, extra) => {
    const kids = sorted(children.get(o.metadata.uid) || []).filter((c) => c.kind !== "EndpointSlice");
    return `<li>${item(o, extra)}${kids.length ? `<ul>${kids.map((c) => tree(c, replicas(c))).join("")}</ul>` : ""}</li>`;
  };
  const replicas = (o) => (o.spec && "replicas" in o.spec ? fmt(T.replicasOf, { ready: (o.status || {}).readyReplicas || 0, want: o.spec.replicas }) : "");
  const of = (kind) => sorted(all.filter((o) => o.kind === kind));
  const section = (title, items) => `<section><h3>${esc(title)}</h3>${items.length ? `<ul class="tree">${items.join("")}</ul>` : `<p class="muted">${esc(T.none)}</p>`}</section>`;
  const slicesFor = (svc) =>
    all.filter((o) => o.kind === "EndpointSlice" && o.metadata.namespace === svc.metadata.namespace && (o.metadata.labels || {})["kubernetes.io/service-name"] === svc.metadata.name);
  const podsOf = (slice) =>
    (slice.endpoints || []).map((ep) => ep.targetRef && state.get(`/Pod/${ep.targetRef.namespace || slice.metadata.namespace}/${ep.targetRef.name}`)).filter(Boolean);
  const services = of("Service").map((svc) => {
    const slices = slicesFor(svc);
    const inner = slices.map((s) => `<li>${item(s, fmt(T.endpointsOf, { n: (s.endpoints || []).length }))}<ul>${podsOf(s).map((p) => `<li>${item(p)}</li>`).join("")}</ul></li>`).join("");
    return `<li>${item(svc, (svc.spec || {}).clusterIP || "")}${inner ? `<ul>${inner}</ul>` : ""}</li>`;
  });
  const orphans = of("Pod").filter((p) => !(p.metadata.ownerReferences || []).some((r) => byUid.has(r.uid)));
  root.innerHTML =
    section(T.deployments, [...of("Deployment"), ...of("ReplicaSet").filter((r) => !(r.metadata.ownerReferences || []).length)].map((d) => tree(d, replicas(d)))) +
    section(T.daemonsets, [...of("DaemonSet"), ...of("StatefulSet")].map((d) => tree(d, replicas(d)))) +
    section(T.services, services) +
    section(T.orphans, orphans.map((p) => `<li>${item(p)}</li>`));
}

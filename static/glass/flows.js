// The three guided flows: the pod creation journey (a checklist that fills in as the player
// passes each stage), the scheduling decision of the newest scheduled pod, and three packet paths.
import { keyOf } from "./log.js";

// Each stage of the journey, recognised from a trace step's component, stage and message key.
const MATCH = {
  kubectl: (s, t, c) => s.message === "apiserver.authn" && s.from === "kubectl",
  authn: (s, t, c) => s.message === "apiserver.authn",
  authz: (s, t, c) => s.message === "apiserver.authz",
  admission: (s, t, c) => s.message === "apiserver.admission",
  validation: (s, t, c) => s.message === "apiserver.validation",
  etcd: (s, t, c) => c === "etcd",
  deployment: (s, t, c) => /deployment/.test(t) && c === "kube-controller-manager",
  replicaset: (s, t, c) => /replicaset/.test(t) && c === "kube-controller-manager",
  queue: (s, t, c) => c === "kube-scheduler" && /queue/.test(t),
  filter: (s, t, c) => c === "kube-scheduler" && /filter/.test(t),
  score: (s, t, c) => c === "kube-scheduler" && /score/.test(t),
  bind: (s, t, c) => (c === "kube-scheduler" && /bind/.test(t)) || s.message === "etcd.bind",
  admit: (s, t, c) => c === "kubelet" && /admit/.test(t),
  cgroup: (s, t, c) => c === "kubelet" && /cgroup/.test(t),
  volumes: (s, t, c) => c === "kubelet" && /volume|mount/.test(t),
  sandbox: (s, t, c) => /sandbox|pause/.test(t),
  cni: (s, t, c) => /cni/.test(t),
  pull: (s, t, c) => /image\.(pull|present)/.test(t),
  init: (s, t, c) => c === "kubelet" && /init/.test(t) && !/initializ/.test(t),
  containers: (s, t, c) => c === "kubelet" && /container\.(created|started)/.test(t),
  probes: (s, t, c) => /probe|readiness|liveness|startup/.test(t),
  ready: (s, t, c) => c === "kubelet" && /ready/.test(t),
  endpoints: (s, t, c) => /endpoint/.test(t),
  "kube-proxy": (s, t, c) => c === "kube-proxy",
};

export class Journey {
  constructor(root, stages) {
    this.root = root;
    this.list = root.querySelector("#journey-steps");
    this.stages = stages;
    this.start = null;
    this.list.innerHTML = stages.map((s) => `<li data-id="${s.id}"><span class="tick" aria-hidden="true"></span>${s.label}</li>`).join("");
  }

  begin(seq) {
    this.start = seq;
    this.root.hidden = false;
  }

  update(tl) {
    if (this.start === null) return;
    const done = new Set();
    let last = null;
    for (let i = tl.indexAfter(this.start); i < tl.entries.length && tl.entries[i].seq <= tl.cur.seq; i++) {
      const s = tl.entries[i];
      if (s.type !== "TRACE") continue;
      const text = `${s.component} ${s.stage} ${s.message}`.toLowerCase();
      const comp = (s.component || "").split("/")[0];
      for (const st of this.stages) {
        const m = MATCH[st.id];
        if (m && m(s, text, comp)) { done.add(st.id); last = st.id; }
      }
    }
    for (const [, o] of tl.cur.state) {
      if (o.kind === "Pod" && +(o.metadata.resourceVersion || 0) > this.start && ((o.status || {}).conditions || []).some((c) => c.type === "Ready" && c.status === "True")) done.add("ready");
    }
    for (const li of this.list.children) {
      li.classList.toggle("done", done.has(li.dataset.id));
      li.classList.toggle("current", li.dataset.id === last);
    }
  }
}

export function newestDecisionPod(state) {
  let best = null;
  for (const o of state.values()) {
    if (o.kind !== "Pod" || !((o.metadata.annotations || {})["kubeglass.io/selected-node"])) continue;
    if (!best || (o.metadata.creationTimestamp || "") > (best.metadata.creationTimestamp || "") || +o.metadata.resourceVersion > +best.metadata.resourceVersion) best = o;
  }
  return best ? keyOf(best) : null;
}

const running = (state) =>
  [...state.values()].filter((o) => o.kind === "Pod" && o.spec && o.spec.nodeName && !o.spec.hostNetwork && (o.status || {}).podIP && !o.metadata.deletionTimestamp);

const podRef = (p) => `${p.metadata.namespace}/${p.metadata.name}`;

function firstPort(p) {
  for (const c of p.spec.containers || []) for (const port of c.ports || []) return port.containerPort;
  return 80;
}

// A (source, destination) pair that shows the asked-for path, or null.
export function packetPair(kind, state) {
  const pods = running(state).sort((a, b) => (a.metadata.namespace === "kube-system") - (b.metadata.namespace === "kube-system"));
  if (kind === "bridge" || kind === "overlay") {
    for (const a of pods) for (const b of pods) {
      if (a === b) continue;
      const same = a.spec.nodeName === b.spec.nodeName;
      if ((kind === "bridge") === same) return [podRef(a), `${podRef(b)}:${firstPort(b)}`];
    }
    return null;
  }
  for (const svc of state.values()) {
    if (svc.kind !== "Service" || !(svc.spec || {}).ports || svc.metadata.name === "kubernetes") continue;
    const slices = [...state.values()].filter((o) => o.kind === "EndpointSlice" && o.metadata.namespace === svc.metadata.namespace && (o.metadata.labels || {})["kubernetes.io/service-name"] === svc.metadata.name);
    const nodes = new Set(slices.flatMap((s) => (s.endpoints || []).map((e) => e.nodeName)).filter(Boolean));
    if (!nodes.size) continue;
    const client = pods.find((p) => !nodes.has(p.spec.nodeName)) || pods.find((p) => !(p.metadata.labels && Object.entries(svc.spec.selector || {}).every(([k, v]) => p.metadata.labels[k] === v)));
    if (client) return [podRef(client), `svc/${svc.metadata.namespace}/${svc.metadata.name}:${svc.spec.ports[0].port}`];
  }
  return null;
}

// Suggestions for the tracer's fields, in the walk API's notation.
export function suggestions(state) {
  const src = [], dst = [];
  for (const p of running(state)) {
    src.push(podRef(p));
    dst.push(`${podRef(p)}:${firstPort(p)}`);
  }
  for (const o of state.values()) {
    if (o.kind === "Node") {
      src.push(`node/${o.metadata.name}`);
    } else if (o.kind === "Service") {
      for (const port of (o.spec || {}).ports || []) {
        dst.push(`svc/${o.metadata.namespace}/${o.metadata.name}:${port.port}`);
        dst.push(`dns/${o.metadata.name}.${o.metadata.namespace}.svc.cluster.local:${port.port}`);
      }
    }
  }
  src.push("external");
  return { src: src.sort(), dst: dst.sort() };
}

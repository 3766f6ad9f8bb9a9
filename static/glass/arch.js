// The architecture view: control plane, worker nodes with their agents, devices and pods, and the
// "unscheduled" area, as SVG. Elements are keyed and only touched when what they show changes,
// so a thousand pods stay smooth; pods move between areas with CSS transitions.
import { keyOf } from "./log.js";
import { podView, STATE_CLASS } from "./pods.js";

const NS = "http://www.w3.org/2000/svg";
const W = 1210, M = 10, GAP = 12, COLW = 290;
const PW = 64, PH = 48, PG = 6;
const CP_COMPONENTS = [
  ["kube-apiserver", "apiserver"],
  ["etcd", "etcd"],
  ["kube-scheduler", "scheduler"],
  ["kube-controller-manager", "controller-manager"],
  ["cloud-controller-manager", "cloud-controller-mgr"],
];
const AGENTS = [["kubelet", "kubelet"], ["kube-proxy", "kube-proxy"], ["containerd", "containerd"]];
const DEVICES = {
  "flannel-vxlan": ["cni0", "flannel.1", "eth0"],
  "flannel-host-gw": ["cni0", "eth0"],
  "calico-bgp": ["eth0"],
  "calico-ipip": ["tunl0", "eth0"],
};
const AGENT_ALIASES = { cri: "containerd", "container-runtime": "containerd", cgroups: "containerd", registry: "external", cni: "dev:cni0" };

export function el(tag, attrs, parent) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (parent) parent.appendChild(n);
  return n;
}

function text(parent, x, y, s, cls) {
  const t = el("text", { x, y, class: cls || "" }, parent);
  t.textContent = s;
  return t;
}

const isCP = (n) => "node-role.kubernetes.io/control-plane" in ((n.metadata || {}).labels || {});
const nodeReady = (n) => ((n.status || {}).conditions || []).some((c) => c.type === "Ready" && c.status === "True");
const fmt = (tpl, p) => tpl.replace(/\{(\w+)\}/g, (m, k) => (k in p ? String(p[k]) : m));
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const short = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

export class ArchView {
  // `bg` holds what rarely changes (boxes, components, devices); `svg`, a composited overlay, holds
  // pods, summaries, highlights and packets, so a change repaints only the overlay.
  constructor(svg, T, opts) {
    this.svg = svg;
    this.bg = opts.bg;
    this.T = T;
    this.cni = opts.cni;
    this.nodeCidr = opts.nodeCidr;
    this.onSelect = opts.onSelect;
    this.layers = {
      nodes: opts.bg.querySelector("#layer-nodes"),
      summary: svg.querySelector("#layer-summary"),
      pods: svg.querySelector("#layer-pods"),
      flow: svg.querySelector("#layer-flow"),
      packet: svg.querySelector("#layer-packet"),
    };
    this.nodes = new Map(); // name -> {g, area, cols, rows, x, y, w, h, sig, summary}
    this.pods = new Map(); // key -> {g, sig, pos}
    this.chips = new Map(); // "comp@node" -> g
    this.layoutSig = "";
    this.views = new WeakMap();
    this.grouped = false;
    this.hideSystem = true;
    this.selected = null;
    this.instant = false;
    // Pods are drawn one by one only on nodes near the visible part of the view; the others show a
    // summary (nobody can see them), so a thousand pods cost what the screen shows.
    this.visible = new Set();
    this.observer = new IntersectionObserver((items) => {
      let changed = false;
      for (const it of items) {
        const name = it.target.dataset.node;
        if (it.isIntersecting !== this.visible.has(name)) {
          if (it.isIntersecting) this.visible.add(name); else this.visible.delete(name);
          changed = true;
        }
      }
      if (changed && this.onVisible) this.onVisible();
    }, { root: opts.scroller || null, rootMargin: "150px" });
    for (const target of [svg, opts.bg]) target.addEventListener("click", (ev) => this.clicked(ev));
    for (const target of [svg, opts.bg]) target.addEventListener("keydown", (ev) => {
      if ((ev.key === "Enter" || ev.key === " ") && ev.target.dataset && ev.target.dataset.key) {
        ev.preventDefault();
        ev.stopPropagation();
        this.clicked(ev);
      }
    });
  }

  clicked(ev) {
    const g = ev.target.closest("[data-key]");
    if (g) this.onSelect(g.dataset.key);
  }

  // ------------------------------------------------------------------ layout
  layout(nodes) {
    const cps = nodes.filter(isCP), workers = nodes.filter((n) => !isCP(n));
    const sig = nodes.map((n) => n.metadata.name + (isCP(n) ? "*" : "")).join(",") + "|" + this.grouped;
    if (sig === this.layoutSig) return;
    this.layoutSig = sig;
    this.layers.nodes.replaceChildren();
    this.layers.summary.replaceChildren();
    this.observer.disconnect();
    this.visible.clear();
    this.nodes.clear();
    this.chips.clear();
    let x = M, y = M, rowH = 0;
    const place = (w, h) => {
      if (x + w > W - M + 1) { x = M; y += rowH + GAP; rowH = 0; }
      const at = { x, y };
      x += w + GAP;
      rowH = Math.max(rowH, h);
      return at;
    };
    // You, with kubectl.
    const actor = place(110, 64);
    const ag = el("g", { class: "actor", transform: `translate(${actor.x},${actor.y})` }, this.layers.nodes);
    el("rect", { width: 110, height: 64, rx: 8, class: "actor-box" }, ag);
    text(ag, 55, 26, "⌨", "actor-icon");
    text(ag, 55, 48, this.T.user, "actor-label");
    this.chips.set("kubectl@", { g: ag, cx: actor.x + 55, cy: actor.y + 32, x: actor.x, y: actor.y, w: 110, h: 64 });
    // Control plane (one wide box, or one per node in an HA cluster, or a managed box).
    const single = cps.length <= 1;
    const cpList = cps.length ? cps : [null];
    for (const n of cpList) {
      const w = single ? 2 * COLW + GAP : COLW;
      const rows = workers.length ? 1 : 3;
      const compRows = single ? 1 : 2;
      const h = 36 + compRows * 28 + (n ? 28 + rows * (PH + PG) + 32 : 8);
      const at = place(w, h);
      this.nodeBox(n, at, w, h, compRows, rows);
    }
    // Unscheduled pods wait here.
    const uw = Math.max(COLW, W - M - x);
    const ucols = Math.floor((uw - 16) / (PW + PG));
    const uh = 36 + 2 * (PH + PG) + 8;
    const u = place(uw, uh);
    const ug = el("g", { class: "unscheduled", transform: `translate(${u.x},${u.y})` }, this.layers.nodes);
    el("rect", { width: uw, height: uh, rx: 8, class: "unsched-box" }, ug);
    text(ug, 12, 22, this.T.unscheduled, "area-title");
    const usum = text(this.layers.summary, u.x + uw - 12, u.y + 22, "", "area-count");
    this.nodes.set("", { g: ug, x: u.x, y: u.y, area: { x: u.x + 8, y: u.y + 32 }, cols: ucols, rows: 2, summary: usum, w: uw, h: uh });
    // Workers, a new row.
    x = M; y += rowH + GAP; rowH = 0;
    const wrows = 4;
    for (const n of workers) {
      const h = 36 + 28 + wrows * (PH + PG) + 32;
      this.nodeBox(n, place(COLW, h), COLW, h, 0, wrows);
    }
    // The node network every eth0 is plugged into, and the outside world.
    const bottom = y + rowH + GAP;
    const ul = el("g", { class: "underlay", transform: `translate(${M},${bottom})` }, this.layers.nodes);
    el("rect", { width: W - 2 * M - 200, height: 26, rx: 6, class: "underlay-bar" }, ul);
    text(ul, 12, 17, fmt(this.T.underlay, { cidr: this.nodeCidr }), "underlay-label");
    this.chips.set("underlay@", { g: ul, cx: M + (W - 2 * M - 200) / 2, cy: bottom + 13 });
    const ext = el("g", { class: "external", transform: `translate(${W - M - 188},${bottom})` }, this.layers.nodes);
    el("rect", { width: 188, height: 26, rx: 13, class: "external-box" }, ext);
    text(ext, 94, 17, this.T.external, "external-label");
    this.chips.set("external@", { g: ext, cx: W - M - 94, cy: bottom + 13 });
    this.height = bottom + 26 + M;
    this.svg.setAttribute("viewBox", `0 0 ${W} ${this.height}`);
    this.bg.setAttribute("viewBox", `0 0 ${W} ${this.height}`);
  }

  chip(parent, x, y, w, comp, node, label, kind) {
    const g = el("g", { class: `chip ${kind}`, transform: `translate(${x},${y})`, "data-comp": comp }, parent);
    el("rect", { width: w, height: 22, rx: 5 }, g);
    text(g, w / 2, 15, label, "chip-label");
    el("title", {}, g).textContent = comp;
    return g;
  }

  nodeBox(n, at, w, h, compRows, rows) {
    const name = n ? n.metadata.name : "";
    const g = el("g", { class: "node" + (n && isCP(n) ? " cp" : n ? " worker" : " managed"), transform: `translate(${at.x},${at.y})` }, this.layers.nodes);
    if (n) {
      g.dataset.key = keyOf(n);
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
    }
    el("rect", { width: w, height: h, rx: 10, class: "node-box" }, g);
    text(g, 12, 22, n ? name : this.T.managedControlPlane, "node-name");
    const meta = text(g, w - 12, 22, "", "node-meta");
    const badge = text(g, 12, 34, "", "node-badge");
    let yy = 36;
    const info = { g, meta, badge, x: at.x, y: at.y, w, h, cols: 0, rows, sig: "" };
    if (!n || isCP(n)) {
      const per = compRows === 1 ? 5 : 3;
      const cw = (w - 16 - (per - 1) * 6) / per;
      CP_COMPONENTS.forEach(([comp, label], i) => {
        const r = Math.floor(i / per), c = i % per;
        const cx = 8 + c * (cw + 6), cy = yy + r * 28;
        const cg = this.chip(g, cx, cy, cw, comp, name, label, "cp-comp");
        const geo = { g: cg, cx: at.x + cx + cw / 2, cy: at.y + cy + 11, x: at.x + cx, y: at.y + cy, w: cw, h: 22 };
        if (!this.chips.has(comp + "@")) this.chips.set(comp + "@", geo);
        this.chips.set(`${comp}@${name}`, geo);
      });
      yy += compRows * 28;
    }
    if (n) {
      const aw = (w - 16 - 12) / 3;
      AGENTS.forEach(([comp, label], i) => {
        const cx = 8 + i * (aw + 6);
        const cg = this.chip(g, cx, yy, aw, comp, name, label, "agent");
        this.chips.set(`${comp}@${name}`, { g: cg, cx: at.x + cx + aw / 2, cy: at.y + yy + 11, x: at.x + cx, y: at.y + yy, w: aw, h: 22 });
      });
      yy += 28;
      info.area = { x: at.x + 8, y: at.y + yy };
      g.dataset.node = name;
      this.observer.observe(g);
      info.cols = Math.floor((w - 16 + PG) / (PW + PG));
      info.summary = el("g", { class: "summary", transform: `translate(${at.x + 8},${at.y + yy})` }, this.layers.summary);
      yy += rows * (PH + PG) + 4;
      const devs = DEVICES[this.cni] || ["eth0"];
      const dw = (w - 16 - (devs.length - 1) * 6) / devs.length;
      devs.forEach((d, i) => {
        const cx = 8 + i * (dw + 6);
        const cg = this.chip(g, cx, yy, dw, d, name, d, "dev");
        this.chips.set(`dev:${d}@${name}`, { g: cg, cx: at.x + cx + dw / 2, cy: at.y + yy + 11, x: at.x + cx, y: at.y + yy, w: dw, h: 22 });
      });
      this.nodes.set(name, info);
    }
  }

  // ------------------------------------------------------------------ state
  render(state, opts) {
    this.instant = !!(opts && opts.instant);
    this.svg.classList.toggle("instant", this.instant);
    const nodes = [], pods = [];
    for (const o of state.values()) {
      if (o.kind === "Node") nodes.push(o);
      else if (o.kind === "Pod" && !(this.hideSystem && o.metadata.namespace === "kube-system")) pods.push(o);
    }
    nodes.sort((a, b) => isCP(b) - isCP(a) || cmp(a.metadata.name, b.metadata.name));
    this.layout(nodes);
    for (const n of nodes) this.updateNode(n);
    // Pods per node (or unscheduled), oldest first, so a pod keeps its slot.
    const byNode = new Map([["", []]]);
    for (const p of pods) {
      let v = this.views.get(p); // objects never change in place: a view is computed once per version
      if (!v) this.views.set(p, (v = podView(p)));
      const where = this.nodes.has(v.node) ? v.node : "";
      if (!byNode.has(where)) byNode.set(where, []);
      byNode.get(where).push([p, v]);
    }
    const seen = new Set();
    for (const [node, list] of byNode) {
      const info = this.nodes.get(node);
      if (!info) continue;
      list.sort((a, b) => cmp(a[0].metadata.creationTimestamp || "", b[0].metadata.creationTimestamp || "") || cmp(a[0].metadata.name, b[0].metadata.name));
      const cap = info.cols * info.rows;
      const group = node !== "" && (this.grouped || list.length > cap || !this.visible.has(node));
      this.updateSummary(info, node, list, group, cap);
      if (group) continue;
      list.forEach(([p, v], i) => {
        if (node === "" && i >= cap - 1 && list.length > cap) return;
        const k = keyOf(p);
        seen.add(k);
        this.updatePod(k, p, v, node, info.area.x + (i % info.cols) * (PW + PG), info.area.y + Math.floor(i / info.cols) * (PH + PG));
      });
    }
    for (const [k, rec] of this.pods) if (!seen.has(k)) this.removePod(k, rec);
    for (const [name, info] of this.nodes) if (name && !byNode.has(name)) this.updateSummary(info, name, [], this.grouped, info.cols * info.rows);
  }

  updateNode(n) {
    const info = this.nodes.get(n.metadata.name);
    if (!info) return;
    const ready = nodeReady(n), cordoned = !!(n.spec || {}).unschedulable;
    const ip = ((n.status || {}).addresses || []).find((a) => a.type === "InternalIP");
    const sig = `${ready}|${cordoned}|${ip ? ip.address : ""}|${(n.spec || {}).podCIDR || ""}`;
    if (sig === info.sig) return;
    info.sig = sig;
    info.meta.textContent = [ip ? ip.address : "", (n.spec || {}).podCIDR || ""].filter(Boolean).join(" · ");
    const badges = [];
    if (!ready) badges.push(this.T.NotReady);
    if (cordoned) badges.push(this.T.cordoned);
    info.badge.textContent = badges.join(" · ");
    info.g.classList.toggle("notready", !ready);
    info.g.classList.toggle("cordoned", cordoned);
    info.g.setAttribute("aria-label", fmt(this.T.nodeLabel, { name: n.metadata.name, state: [ready ? this.T.Ready : this.T.NotReady, ...(cordoned ? [this.T.cordoned] : [])].join(", ") }));
  }

  updateSummary(info, node, list, group, cap) {
    if (node === "") {
      const s = list.length > cap ? fmt(this.T.more, { n: list.length - cap + 1 }) : list.length ? String(list.length) : "";
      if (info.summary.textContent !== s) info.summary.textContent = s;
      return;
    }
    const counts = {};
    for (const [, v] of list) counts[v.state] = (counts[v.state] || 0) + 1;
    const sig = group ? JSON.stringify(counts) : "-";
    if (sig === info.summarySig) return;
    info.summarySig = sig;
    info.summary.replaceChildren();
    if (!group) return;
    const total = list.length;
    text(info.summary, 0, 14, total ? fmt(this.T.podsOnNode, { n: total }) : this.T.noPods, "group-title");
    const width = info.cols * (PW + PG) - PG;
    let x = 0, row = 0;
    for (const st of Object.keys(STATE_CLASS)) {
      if (!counts[st]) continue;
      const w = Math.max(4, (width * counts[st]) / total);
      el("rect", { x, y: 22, width: w, height: 16, class: `group-bar ${STATE_CLASS[st]}` }, info.summary);
      text(info.summary, 0, 58 + row * 16, `${this.T[st] || st}: ${counts[st]}`, `group-line ${STATE_CLASS[st]}`);
      x += w;
      row++;
    }
  }

  updatePod(k, p, v, node, x, y) {
    let rec = this.pods.get(k);
    const label = (this.T[v.state] || v.state) + (v.reason ? `: ${v.reason}` : "");
    const sig = `${label}|${v.containers.map((c) => c.state).join(",")}|${v.sandbox}`;
    if (!rec) {
      const g = el("g", { class: "pod entering", tabindex: "0", role: "button" }, this.layers.pods);
      g.dataset.key = k;
      el("rect", { width: PW, height: PH, rx: 6, class: "pod-box" }, g);
      text(g, 5, 13, short(p.metadata.name, 11), "pod-name");
      const ctrs = el("g", { class: "ctrs", transform: "translate(5,19)" }, g);
      const status = text(g, 5, 43, "", "pod-status");
      el("title", {}, g).textContent = `${p.metadata.namespace}/${p.metadata.name}`;
      rec = { g, ctrs, status, sig: "", x: -1, y: -1, cls: "" };
      this.pods.set(k, rec);
      g.style.transform = `translate(${x}px,${y}px)`;
      rec.x = x; rec.y = y;
      requestAnimationFrame(() => g.classList.remove("entering"));
    }
    if (rec.g.dataset.node !== node) rec.g.dataset.node = node; // "" while unscheduled
    if (rec.x !== x || rec.y !== y) {
      rec.g.style.transform = `translate(${x}px,${y}px)`;
      rec.x = x; rec.y = y;
    }
    if (rec.sig !== sig) {
      rec.sig = sig;
      const cls = STATE_CLASS[v.state] || "st-unknown";
      if (rec.cls) rec.g.classList.remove(rec.cls);
      rec.g.classList.add(cls);
      rec.cls = cls;
      rec.status.textContent = short(label, 12);
      rec.g.setAttribute("aria-label", fmt(this.T.podLabel, { name: `${p.metadata.namespace}/${p.metadata.name}`, state: label }));
      rec.g.dataset.state = v.state;
      rec.ctrs.replaceChildren();
      let cx = 0;
      if (v.sandbox) {
        el("rect", { x: 0, y: 0, width: 8, height: 10, class: "ctr pause" }, rec.ctrs);
        el("title", {}, rec.ctrs.lastChild).textContent = "pause";
        cx = 11;
      }
      for (const c of v.containers.slice(0, 5)) {
        const r = el("rect", { x: cx, y: 0, width: 9, height: 10, class: `ctr c-${c.state}` }, rec.ctrs);
        el("title", {}, r).textContent = `${c.name}: ${c.state}`;
        cx += 11;
      }
    }
    const sel = this.selected === k;
    if (sel !== rec.sel) {
      rec.g.classList.toggle("selected", sel);
      rec.sel = sel;
    }
  }

  removePod(k, rec) {
    this.pods.delete(k);
    if (this.instant) { rec.g.remove(); return; }
    rec.g.classList.add("leaving");
    setTimeout(() => rec.g.remove(), 450);
  }

  select(key) {
    this.selected = key;
    for (const root of [this.svg, this.bg]) {
      for (const g of root.querySelectorAll(".selected")) g.classList.remove("selected");
      const g = key && root.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (g) g.classList.add("selected");
    }
    for (const rec of this.pods.values()) rec.sel = rec.g.classList.contains("selected");
  }

  // ------------------------------------------------------------------ the current trace step
  nodeOf(step, state) {
    const p = step.params || {};
    if (p.node) return p.node;
    const own = (step.component || "").split("/")[1];
    if (own) return own;
    for (const o of step.involved || []) {
      if (o.kind === "Node") return o.name;
      if (o.kind === "Pod") {
        const pod = state.get(`/Pod/${o.namespace || ""}/${o.name}`);
        if (pod && pod.spec && pod.spec.nodeName) return pod.spec.nodeName;
      }
    }
    return "";
  }

  // Where a component named in a trace step sits ("kubelet/worker-1", "kube-apiserver", "cni", "registry").
  anchor(name, node) {
    if (!name) return null;
    const [comp, own] = name.split("/");
    node = own || node;
    const c = AGENT_ALIASES[comp] || comp;
    return this.chips.get(`${c}@${node}`) || this.chips.get(`${c}@`) || (c.startsWith("dev:") && this.chips.get(`containerd@${node}`)) || (node && this.chips.get(`kubelet@${node}`)) || null;
  }

  // The step's component (and the one that sent the request) light up; an arrow runs between them.
  // Both are drawn in the overlay, so the static boxes underneath never repaint.
  showStep(step, state) {
    for (const g of this.layers.pods.querySelectorAll(".involved")) g.classList.remove("involved");
    this.layers.flow.replaceChildren();
    if (!step) return;
    const node = this.nodeOf(step, state);
    const here = this.anchor(step.component, node) || this.chips.get("kube-apiserver@");
    const mark = (c, cls) => {
      el("rect", { x: c.x - 2, y: c.y - 2, width: c.w + 4, height: c.h + 4, rx: 6, class: cls }, this.layers.flow);
      text(this.layers.flow, c.cx, c.cy + 4, (c.g.querySelector(".chip-label") || {}).textContent || "", `${cls}-label`);
    };
    for (const o of step.involved || []) {
      if (o.kind !== "Pod") continue;
      const g = this.layers.pods.querySelector(`[data-key="${CSS.escape(`/Pod/${o.namespace || ""}/${o.name}`)}"]`);
      if (g) g.classList.add("involved");
    }
    if (step.from || step.to) {
      const a = this.anchor(step.from, node) || (step.from ? this.chips.get("kubectl@") : here);
      const b = this.anchor(step.to, node) || here;
      if (a && b && a !== b) {
        if (a !== here && a.w && a.h < 30) mark(a, "source-mark");
        const mx = (a.cx + b.cx) / 2, my = Math.min(a.cy, b.cy) - 40;
        el("path", { d: `M${a.cx},${a.cy} Q${mx},${my} ${b.cx},${b.cy}`, class: "flow-arrow", "marker-end": "url(#arrowhead)" }, this.layers.flow);
      }
    }
    if (here && here.w && here.h < 30) mark(here, "active-mark");
    this.activeName = here ? here.g.dataset.comp || "" : "";
  }

  // ------------------------------------------------------------------ packets
  pointFor(hop) {
    const g = hop.graph_node || "";
    if (g.startsWith("pod/")) {
      const parts = g.split("/");
      const rec = this.pods.get(`/Pod/${parts[1]}/${parts[2]}`);
      if (rec) return { x: rec.x + PW / 2, y: rec.y + (parts.length > 3 ? PH : PH / 2) };
      const info = this.nodes.get(hop.node || "");
      return info ? { x: info.x + info.w / 2, y: info.y + info.h / 2 } : null;
    }
    if (g.startsWith("node/")) {
      const [, node, dev] = g.split("/");
      const chip = dev && this.chips.get(`dev:${dev}@${node}`);
      if (chip) return { x: chip.cx, y: chip.cy };
      const info = this.nodes.get(node);
      if (!info) return null;
      if (dev && dev.startsWith("veth")) return { x: info.x + info.w / 2, y: info.y + info.h - 44 };
      return { x: info.x + info.w / 2, y: info.y + 30 };
    }
    if (g === "net/underlay") {
      const c = this.chips.get("underlay@");
      return { x: c.cx, y: c.cy };
    }
    if (g.startsWith("ext/")) {
      const c = this.chips.get("external@");
      return { x: c.cx, y: c.cy };
    }
    return null;
  }

  showPacket(hops, i) {
    const layer = this.layers.packet;
    layer.replaceChildren();
    if (!hops || i < 0) return;
    const pts = hops.slice(0, i + 1).map((h) => this.pointFor(h)).filter(Boolean);
    if (pts.length > 1) el("polyline", { points: pts.map((p) => `${p.x},${p.y}`).join(" "), class: "packet-path" }, layer);
    const last = this.pointFor(hops[i]);
    if (!last) return;
    const hop = hops[i];
    const dot = el("g", { class: "packet-dot" + (hop.headers && hop.headers.outer ? " wrapped" : "") + (hop.action === "dnat" ? " dnat" : "") }, layer);
    if (hop.headers && hop.headers.outer) el("rect", { x: -11, y: -9, width: 22, height: 18, rx: 3, class: "envelope" }, dot);
    el("circle", { r: 6 }, dot);
    dot.style.transform = `translate(${last.x}px,${last.y}px)`;
    const prev = i > 0 && this.pointFor(hops[i - 1]);
    if (prev && !this.instant) {
      dot.animate([{ transform: `translate(${prev.x}px,${prev.y}px)` }, { transform: `translate(${last.x}px,${last.y}px)` }], { duration: 350, easing: "ease-out" });
    }
  }
}

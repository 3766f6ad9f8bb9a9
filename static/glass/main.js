// The dashboard: folds the cluster's log (the page's snapshot at revision R, then the socket's
// entries after R) and draws the state at the player's cursor in every panel.
import { Timeline } from "./log.js";
import { ArchView } from "./arch.js";
import { renderOwners } from "./owners.js";
import { Player } from "./player.js";
import { PacketTracer } from "./packet.js";
import { Journey, newestDecisionPod, packetPair, suggestions } from "./flows.js";

const $ = (sel) => document.querySelector(sel);
const J = (id) => JSON.parse(document.getElementById(id).textContent);
const fmt = (tpl, p) => tpl.replace(/\{(\w+)\}/g, (m, k) => (p && k in p ? String(p[k]) : m));
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const root = $("#glass");
const data = root.dataset;
const snap = J("glass-snapshot"), N = J("glass-narration"), T = J("glass-ui");
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");
const tl = new Timeline(snap.seq, snap.objects, snap.recent);
window.kubeglass = { timeline: tl }; // for the browser tests and the benchmark

// ------------------------------------------------------------------ drawing
const arch = new ArchView($("#arch"), T, { bg: $("#arch-bg"), cni: data.cni, nodeCidr: data.nodeCidr, scroller: $("#arch-scroll"), onSelect: (k) => select(k) });
arch.onVisible = () => draw(null, { instant: true });
const journey = new Journey($("#journey"), J("glass-journey"));
let selected = null, lastStep = undefined, pending = new Set(), queued = false, instant = false;
let ownersAt = 0, suggestAt = -1e9, suggestSig = "";

export function narrate(step) {
  const tpl = N[step.message];
  if (!tpl) return `${step.component}: ${step.message} ${JSON.stringify(step.params || {})}`;
  return fmt(tpl, step.params || {});
}

function draw(changed, opts) {
  if (changed === null) pending = null;
  else if (pending !== null) for (const k of changed) pending.add(k);
  instant = instant || !!(opts && opts.instant) || reducedMotion.matches;
  if (!queued) {
    queued = true;
    requestAnimationFrame(flush);
  }
}

function flush() {
  queued = false;
  const changed = pending;
  pending = new Set();
  // Only what moved is redrawn: a frame that brought only trace steps leaves the pods alone.
  if (changed === null || changed.size) arch.render(tl.cur.state, { instant });
  const step = tl.traceAtOrBefore(tl.cur.seq);
  if (step !== lastStep) {
    lastStep = step;
    arch.showStep(step, tl.cur.state);
    showNarration(step);
  }
  instant = false;
  const slider = $("#timeline");
  if (+slider.max !== tl.head) slider.max = tl.head;
  if (+slider.value !== tl.cur.seq && (document.activeElement !== slider || player.mode !== "paused")) slider.value = tl.cur.seq;
  const readout = fmt(T.seqOf, { seq: tl.cur.seq, head: tl.head });
  if ($("#seq-readout").textContent !== readout) $("#seq-readout").textContent = readout;
  const now = performance.now();
  if (!$("#owners").hidden && (changed === null || changed.size) && now - ownersAt > 250) {
    ownersAt = now;
    renderOwners($("#owners"), tl.cur.state, T, arch.hideSystem, selected);
  }
  if (journey.start !== null) journey.update(tl);
  if (selected && (changed === null || changed.has(selected))) refreshInspector();
}

function showNarration(step) {
  $("#narration-now").textContent = step ? narrate(step) : T.noStep;
  $("#narration-now").dataset.seq = step ? step.seq : "";
  const recent = step ? tl.recentTraces(step.seq, 8) : [];
  $("#narration-log").innerHTML = recent
    .map((s, i) => `<li class="${i === 0 ? "current" : ""}" value="${s.seq}"><span class="who">${esc(s.component)}</span> ${esc(narrate(s))}</li>`)
    .join("");
}

// The tracer's suggestions and the per-node table links are built when someone looks at them,
// not on every frame (a thousand pods make a long list).
function refreshSuggestions() {
  const now = performance.now();
  if (now - suggestAt < 500) return;
  suggestAt = now;
  const s = suggestions(tl.cur.state);
  const sig = s.src.join() + "|" + s.dst.join();
  if (sig === suggestSig) return;
  suggestSig = sig;
  $("#trace-src-list").innerHTML = s.src.map((v) => `<option value="${esc(v)}"></option>`).join("");
  $("#trace-dst-list").innerHTML = s.dst.map((v) => `<option value="${esc(v)}"></option>`).join("");
}

function refreshTables() {
  const nodes = [...tl.cur.state.values()].filter((o) => o.kind === "Node").map((o) => o.metadata.name).sort();
  $("#node-tables").innerHTML = nodes
    .map((n) => `<div class="node-tables"><span>${esc(n)}</span>${["routes", "iptables", "neigh", "fdb"].map((t) => `<a href="${esc(tableUrl(n, t))}" data-table>${t}</a>`).join(" ")}</div>`)
    .join("");
}
for (const id of ["#trace-src", "#trace-dst"]) {
  $(id).addEventListener("focus", refreshSuggestions);
  $(id).addEventListener("input", refreshSuggestions);
}
$(".packet details.tables").addEventListener("toggle", (ev) => { if (ev.target.open) refreshTables(); });

const tableUrl = (node, table) => data.tableUrl.replace("NODE", encodeURIComponent(node)).replace("TABLE", table);

// ------------------------------------------------------------------ inspector
let inspectTimer = null, decisionSig = "";
function select(key) {
  selected = key;
  arch.select(key);
  for (const b of document.querySelectorAll("#owners .obj.selected")) b.classList.remove("selected");
  refreshInspector(true);
}

// The scheduler's verdict, as the pod's annotations carry it: refetched only when it changes.
function decisionOf(key) {
  const pod = tl.cur.state.get(key);
  const ann = (pod && pod.metadata.annotations) || {};
  return key + "|" + Object.keys(ann).filter((k) => k.startsWith("kubeglass.io/")).sort().map((k) => ann[k]).join("|");
}

function refreshInspector(now) {
  clearTimeout(inspectTimer);
  inspectTimer = setTimeout(() => {
    if (!selected) return;
    const [group, kind, namespace, name] = selected.split("/");
    const at = tl.cur.seq;
    const q = new URLSearchParams({ group, kind, namespace, name, at });
    htmx.ajax("GET", `${data.inspectUrl}?${q}`, { target: "#inspector-body", swap: "innerHTML" });
    const sig = decisionOf(selected);
    if (kind === "Pod" && (now || sig !== decisionSig)) {
      decisionSig = sig;
      const animate = now && !reducedMotion.matches ? "1" : "0";
      htmx.ajax("GET", `${data.decisionUrl}?${new URLSearchParams({ namespace, name, at, animate })}`, { target: "#decision-body", swap: "innerHTML" });
    }
  }, now ? 0 : 200);
}

// ------------------------------------------------------------------ player
const player = new Player(tl, draw, {
  onMode: (mode) => {
    $("#play-mode").textContent = T[mode] || mode;
    root.dataset.mode = mode;
    $("#btn-play").setAttribute("aria-pressed", String(mode !== "paused"));
    $("#btn-pause").setAttribute("aria-pressed", String(mode === "paused"));
    $("#btn-live").setAttribute("aria-pressed", String(mode === "live"));
  },
  loadHistory: async () => {
    $("#play-mode").textContent = T.loadingHistory;
    await tl.loadHistory(async (after, upto) => {
      const r = await fetch(`${data.feedUrl}?${new URLSearchParams({ after, upto })}`, { credentials: "same-origin" });
      return r.json();
    });
    $("#play-mode").textContent = T[player.mode] || player.mode;
  },
});
player.onMode("live");
$("#btn-play").addEventListener("click", () => player.play());
$("#btn-pause").addEventListener("click", () => player.pause());
$("#btn-forward").addEventListener("click", () => player.stepForward());
$("#btn-back").addEventListener("click", () => player.stepBack());
$("#btn-live").addEventListener("click", () => player.live());
$("#timeline").addEventListener("input", (ev) => player.scrub(+ev.target.value));
$("#play-speed").addEventListener("change", (ev) => { player.speed = +ev.target.value; });

document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey || t.closest("input, textarea, select, [contenteditable]")) return;
  if (ev.key === " " && !t.closest("button, a, summary")) {
    ev.preventDefault();
    player.toggle();
  } else if (ev.key === "ArrowRight") {
    ev.preventDefault();
    player.stepForward();
  } else if (ev.key === "ArrowLeft") {
    ev.preventDefault();
    player.stepBack();
  }
});

// ------------------------------------------------------------------ the socket (htmx ws extension)
const status = $("#socket-status");
document.body.addEventListener("htmx:wsBeforeMessage", (ev) => {
  const raw = ev.detail.message;
  if (typeof raw !== "string" || raw[0] !== "{") return; // HTML fragments are htmx's to swap
  ev.preventDefault();
  const frame = JSON.parse(raw);
  if (frame.clock) showClock(frame.clock);
  if (tl.append(frame.entries || [], frame.head) && player.mode !== "paused") player.arrived();
  draw(new Set(), {}); // the timeline's end moved
});
document.body.addEventListener("htmx:wsOpen", () => { status.textContent = T.connected; status.className = "socket ok"; });
document.body.addEventListener("htmx:wsClose", () => { status.textContent = T.reconnecting; status.className = "socket down"; });

// ------------------------------------------------------------------ simulation clock
let clock = J("glass-clock"), clockAt = performance.now();
function showClock(c) {
  clock = c;
  clockAt = performance.now();
  $("#sim-pause").setAttribute("aria-pressed", String(!!c.paused));
  $("#sim-play").setAttribute("aria-pressed", String(!c.paused));
  const speed = $("#sim-speed");
  if (document.activeElement !== speed) speed.value = String(c.speed);
  tickClock();
}
function tickClock() {
  const secs = clock.paused ? 0 : ((performance.now() - clockAt) / 1000) * clock.speed;
  const t = new Date(Date.parse(clock.simTime) + secs * 1000);
  $("#sim-time").textContent = isNaN(t) ? clock.simTime : t.toISOString().replace(".000Z", "Z").replace("T", " ");
}
setInterval(tickClock, 1000);
showClock(clock);

// ------------------------------------------------------------------ views and toggles
for (const r of document.querySelectorAll('input[name="view"]')) {
  r.addEventListener("change", () => {
    const owners = r.value === "owners" && r.checked;
    $("#owners").hidden = !owners;
    $("#arch-stack").style.display = owners ? "none" : "";
    ownersAt = 0;
    draw(null, { instant: true });
  });
}
$("#owners").addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-key]");
  if (b) { select(b.dataset.key); b.classList.add("selected"); }
});
$("#group-pods").addEventListener("change", (ev) => { arch.grouped = ev.target.checked; draw(null, { instant: true }); });
$("#hide-system").addEventListener("change", (ev) => { arch.hideSystem = ev.target.checked; draw(null, { instant: true }); });
arch.hideSystem = $("#hide-system").checked;
// Heartbeats and lease renewals are real steps, but they drown the story: the player passes over them.
const ROUTINE = new Set(["kubelet.lease", "kubelet.nodestatus"]);
const setRoutine = () => { tl.skip = $("#skip-routine").checked ? (e) => ROUTINE.has(e.message) : () => false; lastStep = undefined; };
$("#skip-routine").addEventListener("change", () => { setRoutine(); draw(null, { instant: true }); });
setRoutine();
arch.grouped = $("#group-pods").checked;
let zoom = 1;
for (const b of document.querySelectorAll("[data-zoom]")) {
  b.addEventListener("click", () => {
    const levels = [0.5, 0.75, 1, 1.5, 2];
    const i = Math.max(0, Math.min(levels.length - 1, levels.indexOf(zoom) + +b.dataset.zoom));
    zoom = levels[i];
    $("#arch-stack").style.width = `${zoom * 100}%`;
    // Zoomed out, single pods are too small to read: show one summary per node instead.
    arch.grouped = $("#group-pods").checked || zoom < 1;
    draw(null, { instant: true });
  });
}

// ------------------------------------------------------------------ act
const command = $("#command");
command.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) {
    ev.preventDefault();
    $("#command-form").requestSubmit();
  }
});
command.addEventListener("input", () => { command.rows = Math.min(12, command.value.split("\n").length); });
let journeyPending = false;
document.body.addEventListener("htmx:afterSwap", (ev) => {
  const t = ev.detail.target;
  if (t.id === "apply-result" || t.id === "command-result") {
    const res = t.firstElementChild;
    const before = res ? +res.dataset.before : NaN;
    if (t.id === "apply-result") {
      const failed = res && res.classList.contains("failed");
      $("#manifest").setAttribute("aria-invalid", String(!!failed));
      if (journeyPending && !failed) {
        journeyPending = false;
        journey.begin(before);
        $("#flow-status").textContent = fmt(T.journeyStart, { seq: before });
        player.pause();
        player.goto(Math.max(tl.floor, before), true);
        player.setMode("playing");
        return;
      }
    }
    if (player.mode === "paused" && !Number.isNaN(before)) player.live();
  }
  if (t.id === "decision-body" || t.id === "inspector-body") {
    const d = t.querySelector(".decision-view");
    if (d && reducedMotion.matches) d.classList.remove("animate");
  }
});
document.body.addEventListener("click", (ev) => {
  const replay = ev.target.closest("[data-replay]");
  if (replay) {
    const view = replay.closest(".decision-view");
    view.classList.remove("animate");
    void view.offsetWidth; // restart the CSS animation
    view.classList.add("animate");
  }
  const table = ev.target.closest("a[data-table]");
  if (table) {
    ev.preventDefault();
    fetch(table.href, { credentials: "same-origin" }).then((r) => r.text()).then((text) => {
      const pre = $("#node-table-text");
      pre.textContent = text;
      pre.dataset.table = table.href;
    });
  }
});

$("#copy-kubeconfig").addEventListener("click", async () => {
  const out = $("#copy-status");
  try {
    const text = await (await fetch(data.kubeconfigUrl, { credentials: "same-origin" })).text();
    await navigator.clipboard.writeText(text);
    out.textContent = T.copied;
  } catch (e) {
    out.textContent = T.copyFailed;
  }
});

// ------------------------------------------------------------------ packets and guided flows
const tracer = new PacketTracer($(".packet"), arch, {
  T,
  walkUrl: data.walkUrl,
  speed: () => player.speed,
  reduced: () => reducedMotion.matches,
});
$("#flow-journey").addEventListener("click", () => {
  journeyPending = true;
  $("#apply-form").requestSubmit();
});
$("#flow-decision").addEventListener("click", () => {
  const key = newestDecisionPod(tl.cur.state);
  $("#flow-status").textContent = key ? "" : T.noDecision;
  if (key) {
    select(key);
    $(".decision").scrollIntoView({ block: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
  }
});
for (const b of document.querySelectorAll("[data-path]")) {
  b.addEventListener("click", () => {
    const pair = packetPair(b.dataset.path, tl.cur.state);
    $("#flow-status").textContent = pair ? "" : T.noPair;
    if (pair) tracer.trace(pair[0], pair[1]);
  });
}

draw(null, { instant: true });
root.dataset.ready = "true";

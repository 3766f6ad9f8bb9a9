// The packet tracer: ask the server to walk a packet, then play it hop by hop over the
// architecture view, with a header panel that marks each rewrite (DNAT, SNAT) and shows a
// VXLAN or IP-in-IP envelope wrapped around the inner packet while it is encapsulated.

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (tpl, p) => tpl.replace(/\{(\w+)\}/g, (m, k) => (k in p ? String(p[k]) : m));
const BEAT = 700;

function field(label, value, before) {
  const changed = before !== undefined && before !== value;
  return `<div class="hf${changed ? " changed" : ""}"><span class="hk">${esc(label)}</span> <span class="hv">${changed ? `<mark>${esc(value)}</mark>` : esc(value)}</span></div>`;
}

function packetBox(h, prev, title) {
  const p = prev || {};
  const rows = [];
  if (h.eth) rows.push(field("eth src", h.eth.src, p.eth ? p.eth.src : undefined), field("eth dst", h.eth.dst, p.eth ? p.eth.dst : undefined));
  if (h.ip) {
    rows.push(field("ip src", h.ip.src, p.ip ? p.ip.src : undefined), field("ip dst", h.ip.dst, p.ip ? p.ip.dst : undefined));
    if (h.ip.ttl !== undefined) rows.push(field("ttl", h.ip.ttl, p.ip ? p.ip.ttl : undefined));
  }
  const l4 = h.l4 || h.udp;
  if (l4) {
    const pl4 = p.l4 || p.udp || {};
    rows.push(field(`${l4.proto || "udp"} sport`, l4.sport, pl4.sport), field(`${l4.proto || "udp"} dport`, l4.dport, pl4.dport));
  }
  if (h.vxlan) rows.push(field("vxlan vni", h.vxlan.vni));
  return `<div class="pkt"><div class="pkt-title">${esc(title)}</div>${rows.join("")}</div>`;
}

export class PacketTracer {
  constructor(root, arch, opts) {
    this.root = root;
    this.arch = arch;
    this.T = opts.T;
    this.walkUrl = opts.walkUrl;
    this.speed = () => opts.speed();
    this.reduced = opts.reduced;
    this.result = null;
    this.hops = [];
    this.i = -1;
    this.timer = null;
    this.form = root.querySelector("#trace-form");
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.trace(this.form.src.value.trim(), this.form.dst.value.trim());
    });
    root.querySelector("#hop-prev").addEventListener("click", () => { this.stop(); this.show(Math.max(0, this.i - 1)); });
    root.querySelector("#hop-next").addEventListener("click", () => { this.stop(); this.show(Math.min(this.hops.length - 1, this.i + 1)); });
    root.querySelector("#play-request").addEventListener("click", () => this.play("request"));
    root.querySelector("#play-reply").addEventListener("click", () => this.play("reply"));
    root.querySelector("#packet-hops").addEventListener("click", (ev) => {
      const li = ev.target.closest("li[data-i]");
      if (li) { this.stop(); this.show(+li.dataset.i); }
    });
  }

  summary(s) { this.root.querySelector("#packet-summary").textContent = s; }

  async trace(src, dst) {
    this.stop();
    if (!src || !dst) { this.summary(this.T.pickTwo); return; }
    this.form.src.value = src;
    this.form.dst.value = dst;
    this.summary(this.T.tracing);
    const url = `${this.walkUrl}?${new URLSearchParams({ src, dst })}`;
    const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await resp.json();
    if (!resp.ok) {
      this.result = null;
      this.hops = [];
      this.root.querySelector("#packet-hops").replaceChildren();
      this.root.querySelector("#packet-headers").replaceChildren();
      this.arch.showPacket(null, -1);
      this.summary(`${body.reason || resp.status}: ${body.message || ""}`);
      return;
    }
    this.result = body;
    this.play("request");
  }

  play(phase) {
    if (!this.result) return;
    this.stop();
    this.phase = phase;
    this.hops = phase === "reply" ? this.result.reply || [] : this.result.hops || [];
    if (!this.hops.length) { this.summary(this.T.noReply); return; }
    const r = this.result;
    const title = phase === "reply" ? this.T.reply : this.T.request;
    this.summary(`${title}: ${r.src.spec} → ${r.dst.spec} (${r.proto}, ${r.cni}) · ${fmt(this.T.verdict, { verdict: r.verdict })}${r.reason ? " — " + r.reason : ""}`);
    const list = this.root.querySelector("#packet-hops");
    list.innerHTML = this.hops
      .map((h, i) => `<li data-i="${i}" class="act-${esc(h.action)}${h.headers && h.headers.outer ? " wrapped" : ""}"><span class="hop-act">${esc(h.action)}</span> <span class="hop-where">${esc(h.graph_node)}</span><div class="hop-why">${esc(h.why)}</div></li>`)
      .join("");
    this.show(0);
    if (!this.reduced()) this.auto();
  }

  auto() {
    this.timer = setTimeout(() => {
      if (this.i < this.hops.length - 1) {
        this.show(this.i + 1);
        this.auto();
      } else this.timer = null;
    }, BEAT / this.speed());
  }

  stop() { clearTimeout(this.timer); this.timer = null; }

  show(i) {
    if (!this.hops.length) return;
    this.i = i;
    const hop = this.hops[i], prev = i > 0 ? this.hops[i - 1] : null;
    for (const li of this.root.querySelectorAll("#packet-hops li")) li.classList.toggle("current", +li.dataset.i === i);
    const cur = this.root.querySelector(`#packet-hops li[data-i="${i}"]`);
    if (cur) cur.scrollIntoView({ block: "nearest" });
    this.arch.showPacket(this.hops, i);
    this.root.querySelector("#packet-headers").innerHTML = this.headers(hop, prev);
  }

  headers(hop, prev) {
    const h = hop.headers || {}, ph = prev ? prev.headers || {} : null;
    const inner = { eth: h.eth, ip: h.ip, l4: h.l4 };
    const pinner = ph ? { eth: ph.eth, ip: ph.ip, l4: ph.l4 } : null;
    let banner = "";
    const a = hop.action;
    if (a === "dnat" && ph) banner = `<p class="rewrite dnat"><strong>${esc(this.T.dnat)}</strong>: ${esc(ph.ip.dst)}:${esc((ph.l4 || {}).dport)} → ${esc(h.ip.dst)}:${esc((h.l4 || {}).dport)}</p>`;
    else if (a === "snat" && ph) banner = `<p class="rewrite snat"><strong>${esc(this.T.snat)}</strong>: ${esc(ph.ip.src)} → ${esc(h.ip.src)}</p>`;
    else if ((a === "un-dnat" || a === "un-snat") && ph) banner = `<p class="rewrite undnat"><strong>${esc(this.T.unDnat)}</strong>: ${esc(ph.ip.src)} → ${esc(h.ip.src)}</p>`;
    let packet = packetBox(inner, pinner, this.T.innerPacket);
    if (h.outer) {
      const po = ph && ph.outer ? ph.outer : null;
      const title = h.outer.vxlan ? this.T.envelope : this.T.ipip;
      packet = `<div class="envelope-box${po ? "" : " opening"}"><div class="env-title">✉ ${esc(title)}</div>${packetBox(h.outer, po, "outer")}<div class="env-inner">${packet}</div></div>`;
    }
    const extra = [];
    if (hop.rule) extra.push(`<div class="rule"><span class="hk">${esc(this.T.matchedRule)}</span> <code>${esc(hop.rule.text || hop.rule.saved || "")}</code></div>`);
    if (hop.route) extra.push(`<div class="rule"><span class="hk">${esc(this.T.route)}</span> <code>${esc(hop.route.text)}</code></div>`);
    return `<div class="hop-head act-${esc(a)}"><strong>${esc(fmt(this.T.hop, { n: hop.step }))} · ${esc(a)}</strong> <code>${esc(hop.graph_node)}</code></div>${banner}${packet}${extra.join("")}<p class="why">${esc(hop.why)}</p>`;
  }
}


// The cluster's log as the browser holds it: entries in sequence order, and the state at any
// sequence number as a fold of the entries up to it. Live view, stepping and rewind all call seek().

export const objKey = (group, kind, ns, name) => `${group}/${kind}/${ns || ""}/${name}`;
export const entryKey = (e) => objKey(e.group, e.kind, e.namespace, e.name);
export const groupOf = (o) => ((o.apiVersion || "").includes("/") ? o.apiVersion.split("/")[0] : "");
export const keyOf = (o) => objKey(groupOf(o), o.kind, o.metadata.namespace, o.metadata.name);

const CHECKPOINT_EVERY = 200;

// Apply one entry to a state map; true when the state changed. An object already newer than the
// entry (the page's snapshot can be) is left alone, so applying an entry twice is harmless.
export function applyEntry(state, e) {
  if (e.type === "TRACE") return false;
  const k = entryKey(e);
  const cur = state.get(k);
  const rv = cur ? +(cur.metadata.resourceVersion || 0) : 0;
  if (e.type === "DELETED") {
    if (!cur || rv > e.seq) return false;
    state.delete(k);
    return true;
  }
  if (cur && rv >= e.seq) return false;
  state.set(k, e.object);
  return true;
}

export class Timeline {
  constructor(seq, objects, recent) {
    const state = new Map();
    for (const o of objects) state.set(keyOf(o), o);
    this.entries = (recent || []).filter((e) => e.seq <= seq); // trace steps just before the page, for the narration
    this.checkpoints = [{ seq, state: new Map(state) }];
    this.floor = seq; // the earliest seq that can be shown until the history before the page is loaded
    this.head = seq;
    this.liveSeq = seq; // the last entry received live (entries at or below it are repeats)
    this.headState = state;
    this.sinceCheckpoint = 0;
    this.cur = { seq, state: new Map(state) };
    this.history = null; // a promise while the history loads
    this.skip = () => false; // trace steps the player passes over (heartbeats), still folded
  }

  isStep(e) {
    return e.type === "TRACE" && !this.skip(e);
  }

  // Add entries from the socket; returns how many were new.
  append(entries, head) {
    let added = 0;
    for (const e of entries) {
      if (e.seq <= this.liveSeq) continue;
      this.entries.push(e);
      this.liveSeq = e.seq;
      applyEntry(this.headState, e);
      added++;
      if (++this.sinceCheckpoint >= CHECKPOINT_EVERY) {
        this.checkpoints.push({ seq: e.seq, state: new Map(this.headState) });
        this.sinceCheckpoint = 0;
      }
    }
    this.head = Math.max(this.head, head || 0, this.liveSeq);
    return added;
  }

  // Index of the first entry with seq > s.
  indexAfter(s) {
    let lo = 0, hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].seq <= s) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // Move the shown state to `target`; returns the keys that changed, or null when everything may have.
  seek(target) {
    target = Math.max(this.floor, Math.min(target, this.head));
    let base = this.cur, changed = new Set();
    if (target < this.cur.seq) {
      let cp = this.checkpoints[0];
      for (const c of this.checkpoints) if (c.seq <= target) cp = c; else break;
      base = { seq: cp.seq, state: new Map(cp.state) };
      changed = null;
    }
    for (let i = this.indexAfter(base.seq); i < this.entries.length && this.entries[i].seq <= target; i++) {
      const e = this.entries[i];
      if (applyEntry(base.state, e) && changed) changed.add(entryKey(e));
    }
    base.seq = target;
    this.cur = base;
    return changed;
  }

  traceAtOrBefore(s) {
    for (let i = this.indexAfter(s) - 1; i >= 0; i--) if (this.isStep(this.entries[i])) return this.entries[i];
    return null;
  }

  nextTrace(s) {
    for (let i = this.indexAfter(s); i < this.entries.length; i++) if (this.isStep(this.entries[i])) return this.entries[i];
    return null;
  }

  // The step before the one shown at s (so the narration always changes).
  prevTrace(s) {
    const cur = this.traceAtOrBefore(s);
    return cur ? this.traceAtOrBefore(cur.seq - 1) : null;
  }

  countTraces(after, upto) {
    let n = 0;
    for (let i = this.indexAfter(after); i < this.entries.length && this.entries[i].seq <= upto; i++) if (this.isStep(this.entries[i])) n++;
    return n;
  }

  recentTraces(s, n) {
    const out = [];
    for (let i = this.indexAfter(s) - 1; i >= 0 && out.length < n; i--) if (this.isStep(this.entries[i])) out.push(this.entries[i]);
    return out;
  }

  // Load the log before the page's revision (for rewinding further back), folding it from empty.
  loadHistory(fetchPage) {
    if (!this.history) {
      this.history = (async () => {
        const hist = [];
        let after = 0;
        while (after < this.floor) {
          const page = await fetchPage(after, this.floor);
          hist.push(...page.entries);
          if (page.next <= after) break;
          after = page.next;
        }
        const st = new Map(), cps = [{ seq: 0, state: new Map() }];
        hist.forEach((e, n) => {
          applyEntry(st, e);
          if ((n + 1) % CHECKPOINT_EVERY === 0) cps.push({ seq: e.seq, state: new Map(st) });
        });
        this.entries = hist.concat(this.entries.filter((e) => e.seq > this.floor));
        this.checkpoints = cps.concat(this.checkpoints);
        this.floor = 0;
      })();
    }
    return this.history;
  }
}

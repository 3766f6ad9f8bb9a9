// The player: play, pause, step, rewind and live over the timeline. It only ever moves the
// cursor (timeline.seek) and asks the page to draw; pacing is one trace step per beat.

const PLAY_BEAT = 900; // ms per trace step at 1x
const LIVE_BEAT = 350; // live view catches up faster
const LIVE_CATCH_UP = 1500; // a live backlog drains within about this long

export class Player {
  constructor(timeline, draw, opts) {
    this.tl = timeline;
    this.draw = draw; // draw(changedKeys | null, {instant})
    this.mode = "live"; // live | playing | paused
    this.speed = 1;
    this.timer = null;
    this.onMode = opts.onMode || (() => {});
    this.loadHistory = opts.loadHistory;
  }

  setMode(mode) {
    this.mode = mode;
    this.onMode(mode);
    this.schedule(0);
  }

  play() { this.setMode(this.tl.cur.seq >= this.tl.head ? "live" : "playing"); }
  pause() { this.setMode("paused"); }
  toggle() { if (this.mode === "paused") this.play(); else this.pause(); }

  live() {
    this.setMode("live");
    this.goto(this.tl.head, true);
  }

  stepForward() {
    this.pause();
    const next = this.tl.nextTrace(this.tl.cur.seq);
    this.goto(next ? next.seq : this.tl.head, false);
  }

  async stepBack() {
    this.pause();
    let prev = this.tl.prevTrace(this.tl.cur.seq);
    if ((!prev || prev.seq < this.tl.floor) && this.tl.floor > 0) {
      await this.loadHistory();
      prev = this.tl.prevTrace(this.tl.cur.seq);
    }
    this.goto(prev ? prev.seq : this.tl.floor, false);
  }

  async scrub(seq) {
    this.pause();
    if (seq < this.tl.floor) await this.loadHistory();
    this.goto(seq, Math.abs(seq - this.tl.cur.seq) > 50);
  }

  goto(seq, instant) {
    const changed = this.tl.seek(seq);
    this.draw(changed, { instant: instant || changed === null });
  }

  // New entries arrived: a playing or live player picks them up.
  arrived() {
    if (this.mode !== "paused" && !this.timer) this.schedule(0);
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.mode === "paused") return;
    this.timer = setTimeout(() => this.tick(), ms);
  }

  tick() {
    this.timer = null;
    if (this.mode === "paused") return;
    const tl = this.tl;
    if (tl.cur.seq >= tl.head) return; // idle until arrived()
    const next = tl.nextTrace(tl.cur.seq);
    if (!next) {
      this.goto(tl.head, false);
      return;
    }
    let beat = PLAY_BEAT / this.speed;
    if (this.mode === "live") {
      const backlog = tl.countTraces(tl.cur.seq, tl.head);
      beat = Math.min(LIVE_BEAT / this.speed, LIVE_CATCH_UP / Math.max(1, backlog));
      if (backlog > 400) {
        // Far behind (a burst of thousands of writes): skip to the last few steps.
        const recent = tl.recentTraces(tl.head, 30);
        this.goto(recent[recent.length - 1].seq - 1, true);
        this.schedule(beat);
        return;
      }
    }
    // A long backlog is drawn without transitions: a hundred pods gliding at once teach nothing.
    this.goto(next.seq, this.mode === "live" && tl.countTraces(tl.cur.seq, tl.head) > 100);
    this.schedule(beat);
  }
}

// Live charts for the trainer console: per case study, the last five minutes of p95/p99 latency, req/s
// and errors (with the cache hit rate or the breaker state where the case has one), one point a second,
// and a dashed vertical marker with a label at every flag flip (lab.flag_events). Plain SVG drawn here,
// so the page still needs no network. Data: GET /api/history?since=<ms>, polled every second; only new
// points travel, the rest is kept in `store`.
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 560;
  const H = 130;
  const PAD = { left: 44, right: 8, top: 22, bottom: 16 };
  const PERCENT = (v) => (v == null ? null : v * 100);

  // What each chart draws: series (field, label, css class, transform) and the y-axis unit.
  const LATENCY = { title: 'latency', unit: 'ms', series: [
    { key: 'p95_ms', label: 'p95', cls: 's-p95' }, { key: 'p99_ms', label: 'p99', cls: 's-p99' }] };
  const TRAFFIC = { title: 'throughput', unit: 'req/s', series: [{ key: 'rps', label: 'req/s', cls: 's-rps' }] };
  const QUALITY = { title: 'errors and cache hits', unit: '%', max: 100, series: [
    { key: 'error_rate', label: 'errors', cls: 's-err', map: PERCENT },
    { key: 'cache_hit_rate', label: 'cache hit', cls: 's-hit', map: PERCENT }] };
  const RESILIENCE = { title: 'errors and breaker', unit: '%', max: 100, breaker: true, series: [
    { key: 'error_rate', label: 'errors', cls: 's-err', map: PERCENT }] };
  const CHARTS = { 1: [LATENCY, TRAFFIC, QUALITY], 2: [LATENCY, TRAFFIC, QUALITY], 3: [LATENCY, TRAFFIC, RESILIENCE] };

  const store = { since: 0, now: 0, windowMs: 300000, cases: {} };

  const svg = (tag, attrs = {}, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };

  /** A round upper bound for the y axis: 1, 2, 5 times a power of ten. */
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
  }

  const fmt = (v, unit) => (v == null ? '—' : (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + unit);

  /** Ingests one answer of /api/history: appends new points, replaces flips, drops what left the window. */
  function ingest(h) {
    store.now = h.now;
    store.windowMs = h.window_secs * 1000;
    for (const c of h.cases) {
      const s = store.cases[c.number] || (store.cases[c.number] = { points: [], flips: [] });
      s.points.push(...c.points);
      s.points = s.points.filter((p) => p.t > h.now - store.windowMs);
      s.flips = c.flips;
      if (c.points.length) store.since = Math.max(store.since, c.points[c.points.length - 1].t);
    }
  }

  /** The chart box of a card, created the first time the card exists. */
  function box(card, number) {
    let b = card.querySelector(':scope > .charts');
    if (b) return b;
    b = document.createElement('div');
    b.className = 'charts';
    for (const spec of CHARTS[number]) {
      const fig = document.createElement('figure');
      fig.className = 'chart-fig';
      const cap = document.createElement('figcaption');
      fig.append(svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, 'data-chart': spec.title, role: 'img' }), cap);
      b.append(fig);
    }
    const after = card.querySelector('.numbers-wrap');
    if (after) after.after(b); else card.append(b);
    return b;
  }

  const xOf = (t) => PAD.left + ((t - (store.now - store.windowMs)) / store.windowMs) * (W - PAD.left - PAD.right);

  /** The SVG path of one series; a missing value breaks the line instead of drawing a false zero. */
  function path(points, s, yOf) {
    let d = '';
    let pen = false;
    for (const p of points) {
      const raw = p[s.key];
      const v = s.map ? s.map(raw) : raw;
      if (v == null) { pen = false; continue; }
      d += (pen ? 'L' : 'M') + xOf(p.t).toFixed(1) + ' ' + yOf(v).toFixed(1);
      pen = true;
    }
    return d;
  }

  /** Flips closer than 3 s (a preset writes several at once) share one marker. */
  function groups(flips) {
    const out = [];
    for (const f of flips) {
      const last = out[out.length - 1];
      if (last && f.t - last.t < 3000) last.flips.push(f); else out.push({ t: f.t, flips: [f] });
    }
    return out;
  }

  const short = (f) => f.name.split('.').slice(1).join('.') + '=' + (typeof f.new === 'string' ? f.new : JSON.stringify(f.new));

  function markers(g, flips, bottom) {
    groups(flips).forEach((m, i) => {
      const x = xOf(m.t);
      if (x < PAD.left) return;
      const label = short(m.flips[0]) + (m.flips.length > 1 ? ` +${m.flips.length - 1}` : '');
      const mark = svg('g', { class: 'marker', 'data-flag': m.flips.map((f) => f.name).join(' ') });
      mark.append(svg('title', {}, m.flips.map((f) => `${short(f)} by ${f.actor}`).join('\n')));
      mark.append(svg('line', { x1: x, x2: x, y1: PAD.top - 4, y2: bottom }));
      const anchor = x > W - 150 ? 'end' : 'start';
      mark.append(svg('text', { x: x + (anchor === 'end' ? -3 : 3), y: 9 + (i % 2) * 10, 'text-anchor': anchor }, label));
      g.append(mark);
    });
  }

  /** The breaker as a band under the plot: green closed, amber half-open, red open. */
  function breakerBand(g, points, bottom) {
    const cls = ['b-closed', 'b-half', 'b-open'];
    points.forEach((p, i) => {
      if (p.breaker == null) return;
      const next = points[i + 1];
      const x = xOf(p.t);
      const w = Math.max(1, (next ? xOf(next.t) : x + 2) - x);
      g.append(svg('rect', { class: 'band ' + cls[p.breaker], x, y: bottom + 2, width: w, height: 5 }));
    });
  }

  function draw(el, spec, s) {
    const bottom = H - PAD.bottom;
    const values = s.points.flatMap((p) => spec.series.map((x) => (x.map ? x.map(p[x.key]) : p[x.key]))).filter((v) => v != null);
    const max = spec.max || niceMax(Math.max(0, ...values));
    const yOf = (v) => bottom - (Math.min(v, max) / max) * (bottom - PAD.top);
    const g = svg('g');
    g.append(svg('rect', { class: 'plot', x: PAD.left, y: PAD.top, width: W - PAD.left - PAD.right, height: bottom - PAD.top }));
    g.append(svg('text', { class: 'axis', x: PAD.left - 4, y: PAD.top + 8, 'text-anchor': 'end' }, `${max} ${spec.unit}`));
    g.append(svg('text', { class: 'axis', x: PAD.left - 4, y: bottom, 'text-anchor': 'end' }, '0'));
    g.append(svg('text', { class: 'axis', x: PAD.left, y: H - 2 }, '-5 min'));
    g.append(svg('text', { class: 'axis', x: W - PAD.right, y: H - 2, 'text-anchor': 'end' }, 'now'));
    for (const x of spec.series) g.append(svg('path', { class: 'line ' + x.cls, d: path(s.points, x, yOf) }));
    if (spec.breaker) breakerBand(g, s.points, bottom);
    markers(g, s.flips, bottom);
    el.replaceChildren(g);
    el.setAttribute('data-points', String(s.points.length));
    el.setAttribute('aria-label', `${spec.title}, last 5 minutes`);
  }

  function caption(fig, spec, s) {
    const last = s.points[s.points.length - 1] || {};
    const parts = spec.series.map((x) => {
      const v = x.map ? x.map(last[x.key]) : last[x.key];
      return `<span class="key ${x.cls}"></span>${x.label} ${fmt(v, spec.unit)}`;
    });
    if (spec.breaker) parts.push('breaker ' + (last.breaker == null ? '—' : ['closed', 'half-open', 'open'][last.breaker]));
    fig.querySelector('figcaption').innerHTML = `<b>${spec.title}</b> ` + parts.join(' · ');
  }

  function render() {
    for (const [number, specs] of Object.entries(CHARTS)) {
      const card = document.getElementById('case-' + number);
      const s = store.cases[number];
      if (!card || !s) continue;
      const figs = box(card, number).querySelectorAll('figure');
      specs.forEach((spec, i) => {
        draw(figs[i].querySelector('svg'), spec, s);
        caption(figs[i], spec, s);
      });
    }
  }

  async function tick() {
    try {
      const resp = await fetch('/api/history?since=' + store.since);
      if (resp.ok) ingest(await resp.json());
    } catch (e) {
      // the console is unreachable: console.js already says so in the footer; keep the last picture
    }
    render();
  }

  tick();
  setInterval(tick, 1000);
})();

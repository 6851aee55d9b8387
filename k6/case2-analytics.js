// Case study 2 — the analytics API: read-heavy dashboards with a steady ingest stream.
//
// Two modes (env MODE):
//   constant (default)  dashboards at a fixed arrival rate RATE/s for DURATION: the compare run of
//                       `shoplab case 2 --compare` (before vs after at the same load).
//   ramp                a stepped ramping-arrival-rate: each step holds one rate for HOLD, and the summary
//                       prints the highest step whose p95 stayed under the SLO — the maximum sustainable
//                       RPS. With ABORT=1 the run stops at the first step over the SLO (quick measurements);
//                       without, it runs every step (live demos: flip a lever mid-ramp and watch later steps pass).
// Both run an ingest scenario alongside: INGEST_RATE batches/s of BATCH events (POST /events). The default,
// 4 events/s, matches the seed's density (2M events over 7 days = 3.3/s), so the windows keep their size
// during a run; a much faster stream inflates the short windows and with them the before state's cost.
//
// Env: ANALYTICS_URL (comma-separated: several `analytics serve` instances, requests spread over them),
//      RATE (100), DURATION (60s), VUS (preallocated, 50), MAX_VUS (1000), WINDOWS ("15m:60,1h:30,24h:8,7d:2"
//      = window mix in percent), SLO_P95_MS (50), INGEST_RATE (1), BATCH (4), PRODUCTS (20000);
//      ramp only: START_RATE (100), MAX_RATE (12800), FACTOR (2), HOLD (15s), RAMP (5s), ABORT (unset).
import http from 'k6/http';
import { check } from 'k6';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from './lib/common.js';

const BASES = baseUrls('ANALYTICS_URL', 'http://127.0.0.1:8083');
const MODE = env('MODE', 'constant');
const RATE = envInt('RATE', 100);
const DURATION = env('DURATION', '60s');
const VUS = envInt('VUS', 50);
const MAX_VUS = envInt('MAX_VUS', 1000);
const SLO_P95_MS = envInt('SLO_P95_MS', 50);
const INGEST_RATE = envInt('INGEST_RATE', 1);
const BATCH = envInt('BATCH', 4);
const PRODUCTS = envInt('PRODUCTS', 20000);
const HOLD = envInt('HOLD', 15);
const RAMP = envInt('RAMP', 5);
const ABORT = env('ABORT', '') === '1';

/** "15m:60,1h:30" -> cumulative [[window, upTo], ...] for a weighted draw. */
function parseMix(raw) {
  let acc = 0;
  const mix = raw.split(',').map((part) => {
    const [w, pct] = part.split(':');
    acc += Number(pct || 1);
    return [w.trim(), acc];
  });
  return { mix, total: acc };
}
const WINDOWS = parseMix(env('WINDOWS', '15m:60,1h:30,24h:8,7d:2'));

/** The rates of the ramp: START_RATE, x FACTOR, ... up to MAX_RATE. */
function rampSteps() {
  const steps = [];
  const factor = Number(env('FACTOR', '2'));
  for (let r = envInt('START_RATE', 100); r <= envInt('MAX_RATE', 12800); r = Math.round(r * factor)) steps.push(r);
  return steps;
}
const STEPS = MODE === 'ramp' ? rampSteps() : [];
const RAMP_SECONDS = STEPS.length * (RAMP + HOLD);

function dashboardsScenario() {
  if (MODE !== 'ramp') {
    return { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION, preAllocatedVUs: VUS, maxVUs: MAX_VUS, exec: 'dashboards' };
  }
  const stages = STEPS.flatMap((r) => [{ target: r, duration: `${RAMP}s` }, { target: r, duration: `${HOLD}s` }]);
  return { executor: 'ramping-arrival-rate', startRate: STEPS[0], timeUnit: '1s', stages, preAllocatedVUs: VUS, maxVUs: MAX_VUS, exec: 'dashboards' };
}

function thresholds() {
  const t = {
    [`http_req_duration{scenario:dashboards}`]: [`p(95)<${SLO_P95_MS}`],
    'http_req_failed{scenario:dashboards}': ['rate<0.01'],
    'http_req_failed{scenario:ingest}': ['rate<0.01'],
  };
  if (MODE !== 'ramp') {
    t.dropped_iterations = ['count==0'];
    return t;
  }
  // one sub-metric per step (k6 only computes tagged sub-metrics that a threshold names)
  STEPS.forEach((_, i) => {
    t[`http_req_duration{step:${i}}`] = [{ threshold: `p(95)<${SLO_P95_MS}`, abortOnFail: ABORT, delayAbortEval: `${Math.min(HOLD, 10)}s` }];
    t[`http_reqs{step:${i}}`] = ['count>=0'];
  });
  return t;
}

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: TREND_STATS,
  scenarios: {
    dashboards: dashboardsScenario(),
    ingest: {
      executor: 'constant-arrival-rate',
      rate: INGEST_RATE,
      timeUnit: '1s',
      duration: MODE === 'ramp' ? `${RAMP_SECONDS}s` : DURATION,
      preAllocatedVUs: 5,
      maxVUs: 50,
      exec: 'ingest',
    },
  },
  thresholds: thresholds(),
};

export function setup() {
  return { t0: Date.now() };
}

/** The ramp step holding right now, or 'ramp' while moving between steps. */
function stepTag(t0) {
  const elapsed = (Date.now() - t0) / 1000;
  const i = Math.floor(elapsed / (RAMP + HOLD));
  const inHold = elapsed - i * (RAMP + HOLD) >= RAMP;
  return i < STEPS.length && inHold ? String(i) : 'ramp';
}

function pickWindow() {
  const u = Math.random() * WINDOWS.total;
  return WINDOWS.mix.find(([, upTo]) => u < upTo)[0];
}

export function dashboards(data) {
  const window = pickWindow();
  const tags = { name: 'dashboard', window };
  if (MODE === 'ramp') tags.step = stepTag(data.t0);
  const r = http.get(`${pickBase(BASES)}/dashboards/overview?window=${window}`, { tags });
  check(r, { 'dashboard 200': (x) => x.status === 200 });
}

const drawProduct = zipf(PRODUCTS);
const KINDS = [['view', 85], ['add_to_cart', 95], ['order', 100]];

export function ingest() {
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    const roll = Math.random() * 100;
    const type = KINDS.find(([, upTo]) => roll < upTo)[0];
    const amount = type === 'order' ? 499 + Math.floor(Math.random() * 49500) : 0;
    events.push({ type, product_id: drawProduct(), amount_cents: amount, user_id: 1 + Math.floor(Math.random() * 10000), session_id: `k6-${__VU}` });
  }
  const r = http.post(`${pickBase(BASES)}/events`, JSON.stringify({ events }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'ingest' },
  });
  check(r, { 'ingest 202': (x) => x.status === 202 });
}

/** Per ramp step: offered rate, achieved RPS, p95 — and the highest step within the SLO. */
function rampReport(data) {
  const rows = [];
  let best = null;
  STEPS.forEach((rate, i) => {
    const d = data.metrics[`http_req_duration{step:${i}}`];
    const n = data.metrics[`http_reqs{step:${i}}`];
    if (!d || !n || !n.values.count) return;
    const p95 = d.values['p(95)'];
    const rps = n.values.count / HOLD;
    const ok = p95 < SLO_P95_MS;
    rows.push({ step: i, offered: rate, rps: Math.round(rps), p95_ms: Number(p95.toFixed(2)), ok });
    if (ok && (!best || rps > best.rps)) best = { offered: rate, rps: Math.round(rps), p95_ms: Number(p95.toFixed(2)) };
  });
  // a step over the SLO usually ends the run early, so its request count says nothing about its rate
  const lines = rows.map((r) =>
    r.ok ? `  step ${r.step}: offered ${r.offered}/s achieved ${r.rps}/s p95 ${r.p95_ms} ms ok` : `  step ${r.step}: offered ${r.offered}/s p95 ${r.p95_ms} ms OVER SLO`,
  );
  const head = best
    ? `max sustainable: ${best.rps} RPS at p95 ${best.p95_ms} ms (< ${SLO_P95_MS} ms; offered ${best.offered}/s)`
    : `no step met p95 < ${SLO_P95_MS} ms`;
  return { best, rows, text: `case 2 ramp — ${head}\n${lines.join('\n')}\n\n` };
}

export function handleSummary(data) {
  if (MODE !== 'ramp') return summaryOutputs(data);
  const report = rampReport(data);
  data.case2_ramp = { slo_p95_ms: SLO_P95_MS, max_sustainable: report.best, steps: report.rows };
  const out = summaryOutputs(data);
  out.stdout = report.text + out.stdout;
  return out;
}

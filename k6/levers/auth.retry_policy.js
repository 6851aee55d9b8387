// Lever auth.retry_policy — naive immediate retries vs full-jitter backoff within a retry budget.
//
// Scenario: signups at RATE/s while the email provider is down and refuses connections at once
// (emailprovider.mode = down, down_style = refuse; with auth.async_email off the signup calls it itself).
// Naive: every failed call is retried 3 times at once, so the provider receives 4 requests per signup —
// the retry storm. Backoff: retries wait a random share of a growing delay and may be at most 10 % of the
// calls of the last 10 s, so the provider receives at most ~1.1 requests per signup.
// PROVIDER_ERROR_RATE (e.g. 0.5) uses a flaky provider instead (503 for that share, latency 0): naive then
// sends ~1.9 requests per signup and saves most signups; the budget saves fewer and sends ~1.1.
//
// With an admin token (SHOPLAB_ADMIN_TOKEN, else SHOPLAB_ADMIN_TOKEN_FILE) setup() sets the provider and
// teardown() heals it; PROVIDER_MODE=keep leaves it as it is. All other flags are left alone.
//
// Rows for `shoplab lever auth.retry_policy --compare`: the delta of shoplab_provider_requests_total
// (email-provider /metrics) per request — every request here is a signup —, the delta of
// shoplab_email_retries_total{result="retried"} and {result="budget_exhausted"} (auth /metrics), signup
// p95/p99, error share, lever_signup_ok (Rate of 201).
//
// Env: AUTH_URL (http://127.0.0.1:8082), DURATION (60s), RATE (10), VUS (20), MAX_VUS (200),
//      PROVIDER_MODE (down), PROVIDER_ERROR_RATE (unset).
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { adminToken, env, envInt, summaryOutputs, TREND_STATS } from '../lib/common.js';

const AUTH = env('AUTH_URL', 'http://127.0.0.1:8082').replace(/\/$/, '');
const ADMIN_TOKEN = adminToken();
const PROVIDER_MODE = env('PROVIDER_MODE', 'down');
const ERROR_RATE = env('PROVIDER_ERROR_RATE', '');
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const signupOk = new Rate('lever_signup_ok');
http.setResponseCallback(http.expectedStatuses(201));

export const options = {
  scenarios: {
    signup: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 10),
      timeUnit: '1s',
      duration: env('DURATION', '60s'),
      preAllocatedVUs: envInt('VUS', 20),
      maxVUs: envInt('MAX_VUS', 200),
      exec: 'signup',
    },
  },
  summaryTrendStats: TREND_STATS,
  thresholds: { 'http_req_duration{name:signup}': ['max>=0'], lever_signup_ok: ['rate>=0'] },
};

function setFlag(name, value) {
  const r = http.put(`${AUTH}/admin/flags/${name}`, JSON.stringify({ value }), {
    headers: Object.assign({ Authorization: `Bearer ${ADMIN_TOKEN}`, 'X-Shoplab-Actor': 'k6:lever' }, JSON_HEADERS),
    tags: { name: 'admin' },
  });
  check(r, { [`set ${name}`]: (x) => x.status === 200 });
}

export function setup() {
  if (ADMIN_TOKEN && PROVIDER_MODE !== 'keep') {
    if (ERROR_RATE) {
      setFlag('emailprovider.latency_ms', 0);
      setFlag('emailprovider.error_rate', Number(ERROR_RATE));
      setFlag('emailprovider.mode', 'flaky');
    } else {
      setFlag('emailprovider.down_style', 'refuse');
      setFlag('emailprovider.mode', PROVIDER_MODE);
    }
  }
  return { run: `k6-retry-${Date.now().toString(36)}` };
}

export function signup(data) {
  const email = `${data.run}-${__VU}-${__ITER}@shoplab.test`;
  const r = http.post(`${AUTH}/signup`, JSON.stringify({ email, password: 'shoplab-pass' }), {
    headers: Object.assign({ 'X-Client-Id': `k6-vu-${__VU}` }, JSON_HEADERS),
    tags: { name: 'signup' },
  });
  signupOk.add(r.status === 201);
}

export function teardown() {
  if (ADMIN_TOKEN && PROVIDER_MODE !== 'keep') {
    setFlag('emailprovider.down_style', 'hang');
    setFlag('emailprovider.mode', 'healthy');
  }
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

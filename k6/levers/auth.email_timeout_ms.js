// Lever auth.email_timeout_ms — how long a signup may wait for the email provider (0 = no timeout).
//
// Scenario: the provider hangs (emailprovider.mode = down, down_style = hang: the connection is accepted
// and never answered), and auth gets signups (SIGNUP_RATE/s) beside token validation (RATE/s). Without a
// timeout each signup waits until k6 gives up (REQUEST_TIMEOUT), holding a pooled connection inside its
// transaction the whole time, and /validate queues behind them for connections (with auth.bulkheads off:
// the cascade). With the timeout (5000 ms) a signup answers 503 after 5 s and gives its connection back —
// after 5 s per attempt: with auth.retry_policy = naive a signup retries into the hang 3 times (up to 20 s),
// so the timeout's effect on the pool shows fully with retry_policy = backoff.
//
// With an admin token (SHOPLAB_ADMIN_TOKEN, else SHOPLAB_ADMIN_TOKEN_FILE) setup() makes the provider hang
// and teardown() heals it; PROVIDER_MODE=keep leaves the provider as it is. All other flags are left alone.
//
// Rows for `shoplab lever auth.email_timeout_ms --compare`: http_req_duration{name:signup} p95/p99,
// http_req_duration{name:validate} p95, error share, lever_signup_timed_out (Rate: 503 after the timeout),
// lever_validate_failed (Rate).
//
// Env: AUTH_URL (http://127.0.0.1:8082), DURATION (60s), RATE (/validate per second, 20),
//      SIGNUP_RATE (1), VUS (50), MAX_VUS (300), USERS (10000), REQUEST_TIMEOUT (60s), PROVIDER_MODE (down).
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { adminToken, env, envInt, summaryOutputs, TREND_STATS } from '../lib/common.js';

const AUTH = env('AUTH_URL', 'http://127.0.0.1:8082').replace(/\/$/, '');
const DURATION = env('DURATION', '60s');
const USERS = envInt('USERS', 10000);
const TIMEOUT = env('REQUEST_TIMEOUT', '60s');
const ADMIN_TOKEN = adminToken();
const PASSWORD = 'shoplab-pass';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const timedOut = new Rate('lever_signup_timed_out');
const validateFailed = new Rate('lever_validate_failed');
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));

const arrival = (rate, exec) => ({
  executor: 'constant-arrival-rate',
  rate,
  timeUnit: '1s',
  duration: DURATION,
  preAllocatedVUs: envInt('VUS', 50),
  maxVUs: envInt('MAX_VUS', 300),
  exec,
});

export const options = {
  scenarios: { validate: arrival(envInt('RATE', 20), 'validate'), signup: arrival(envInt('SIGNUP_RATE', 1), 'signup') },
  summaryTrendStats: TREND_STATS,
  setupTimeout: '120s',
  thresholds: {
    'http_req_duration{name:signup}': ['max>=0'],
    'http_req_duration{name:validate}': ['max>=0'],
    lever_signup_timed_out: ['rate>=0'],
    lever_validate_failed: ['rate>=0'],
  },
};

function setFlag(name, value) {
  const r = http.put(`${AUTH}/admin/flags/${name}`, JSON.stringify({ value }), {
    headers: Object.assign({ Authorization: `Bearer ${ADMIN_TOKEN}`, 'X-Shoplab-Actor': 'k6:lever' }, JSON_HEADERS),
    tags: { name: 'admin' },
  });
  check(r, { [`set ${name}`]: (x) => x.status === 200 });
}

export function setup() {
  const r = http.post(`${AUTH}/login`, JSON.stringify({ email: 'user1@shoplab.test', password: PASSWORD }), {
    headers: Object.assign({ 'X-Client-Id': 'k6-setup' }, JSON_HEADERS),
    tags: { name: 'setup_login' },
  });
  if (r.status !== 200) throw new Error(`user1@shoplab.test cannot log in at ${AUTH}: run \`shoplab seed\``);
  if (ADMIN_TOKEN && env('PROVIDER_MODE', 'down') !== 'keep') {
    setFlag('emailprovider.down_style', 'hang');
    setFlag('emailprovider.mode', env('PROVIDER_MODE', 'down'));
  }
  return { token: r.json('access_token'), run: `k6-timeout-${Date.now().toString(36)}` };
}

export function validate(data) {
  const r = http.get(`${AUTH}/validate`, {
    headers: { Authorization: `Bearer ${data.token}`, 'X-Client-Id': `k6-vu-${__VU}` },
    tags: { name: 'validate' },
    timeout: TIMEOUT,
  });
  validateFailed.add(r.status !== 200);
}

export function signup(data) {
  const email = `${data.run}-${__VU}-${__ITER}-${USERS}@shoplab.test`;
  const r = http.post(`${AUTH}/signup`, JSON.stringify({ email, password: PASSWORD }), {
    headers: Object.assign({ 'X-Client-Id': `k6-vu-${__VU}` }, JSON_HEADERS),
    tags: { name: 'signup' },
    timeout: TIMEOUT,
  });
  timedOut.add(r.status === 503 && String(r.body).includes('did not answer within'));
}

export function teardown() {
  if (ADMIN_TOKEN && env('PROVIDER_MODE', 'down') !== 'keep') setFlag('emailprovider.mode', 'healthy');
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

// Lever auth.local_token_validation (Authentication Performance): RATE validates/s from TOKEN_POOL
// logged-in users while signups starve the database pool. Off, every validate runs a session query and
// waits for a connection behind the signups; on, it checks the JWT and the in-memory revocation set and
// never touches the pool.
//
// The starving: with an admin token (SHOPLAB_ADMIN_TOKEN[_FILE]) setup() makes the simulated email
// provider slow (emailprovider.mode=slow, latency STARVE_LATENCY_MS) and STARVE_RATE signups/s send their
// verification email inside the request, each holding a connection meanwhile (auth.async_email and
// auth.bulkheads off: their before states); teardown() heals the provider. Without a token there is no
// starving, and the lever shows only in the queries per validate.
//
// Rows for `shoplab lever auth.local_token_validation --compare`: http_req_duration{name:validate} p99,
// and shoplab_db_queries_per_request_sum / _count {route="/validate"} from auth's /metrics (1 -> 0).
// Custom metric: lever_validate_ok (Rate of 200s among validates).
//
// Env: AUTH_URL, RATE (100), DURATION (30s), VUS (50), MAX_VUS (300), TOKEN_POOL (50),
//      STARVE_RATE (10), STARVE_LATENCY_MS (2000).
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { adminToken, baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS } from '../lib/common.js';

const BASES = baseUrls('AUTH_URL', 'http://127.0.0.1:8082');
const ADMIN_TOKEN = adminToken();
const DURATION = env('DURATION', '30s');
const JSON_HEADERS = { 'Content-Type': 'application/json' };
const validateOk = new Rate('lever_validate_ok');

const scenarios = {
  validate: {
    executor: 'constant-arrival-rate',
    rate: envInt('RATE', 100),
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: envInt('VUS', 50),
    maxVUs: envInt('MAX_VUS', 300),
    exec: 'validate',
  },
};
if (ADMIN_TOKEN && envInt('STARVE_RATE', 10) > 0) {
  scenarios.starve = {
    executor: 'constant-arrival-rate',
    rate: envInt('STARVE_RATE', 10),
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: 20,
    maxVUs: 200,
    exec: 'signup',
  };
}

export const options = {
  summaryTrendStats: TREND_STATS,
  setupTimeout: '120s',
  scenarios,
  thresholds: { 'http_req_duration{name:validate}': ['max>=0'], lever_validate_ok: ['rate>=0'] },
};

function setFlag(name, value) {
  const r = http.put(`${BASES[0]}/admin/flags/${name}`, JSON.stringify({ value }), {
    headers: Object.assign({ Authorization: `Bearer ${ADMIN_TOKEN}`, 'X-Shoplab-Actor': 'k6:local_token_validation' }, JSON_HEADERS),
    tags: { name: 'admin' },
  });
  check(r, { [`set ${name}`]: (x) => x.status === 200 });
}

export function setup() {
  const tokens = [];
  for (let n = 1; n <= envInt('TOKEN_POOL', 50); n++) {
    const body = JSON.stringify({ email: `user${n}@shoplab.test`, password: 'shoplab-pass' });
    const r = http.post(`${BASES[0]}/login`, body, { headers: JSON_HEADERS, tags: { name: 'setup_login' } });
    if (r.status === 200) tokens.push(r.json('access_token'));
  }
  if (tokens.length === 0) throw new Error(`seeded users cannot log in at ${BASES[0]}: run \`shoplab seed\``);
  if (scenarios.starve) {
    setFlag('emailprovider.latency_ms', envInt('STARVE_LATENCY_MS', 2000));
    setFlag('emailprovider.mode', 'slow');
  }
  return { tokens, run: `k6ltv-${Date.now().toString(36)}` };
}

export function validate(data) {
  const token = data.tokens[Math.floor(Math.random() * data.tokens.length)];
  const r = http.get(`${pickBase(BASES)}/validate`, { headers: { Authorization: `Bearer ${token}` }, tags: { name: 'validate' } });
  validateOk.add(r.status === 200);
  check(r, { 'validate ok': (x) => x.status === 200 });
}

export function signup(data) {
  const body = JSON.stringify({ email: `${data.run}-${__VU}-${__ITER}@shoplab.test`, password: 'shoplab-pass' });
  http.post(`${pickBase(BASES)}/signup`, body, { headers: JSON_HEADERS, tags: { name: 'signup' }, timeout: '30s' });
}

export function teardown() {
  if (scenarios.starve) setFlag('emailprovider.mode', 'healthy');
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

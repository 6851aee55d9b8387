// Lever auth.rate_limit (Traffic Management): honest clients validate their tokens while one flooder from
// the same address sends FLOOD_RATE validates/s under a new X-Client-Id every time. The limiter keys on
// the bearer token's user (else the address), so renaming itself gets the flooder nothing: with the lever
// on it is answered 429 + Retry-After and the honest clients' latency is what it was without it; off, its
// session queries queue with everyone's on the critical pool.
//
// 429 is the lever doing its job: an expected status here. Custom metrics (read by
// `shoplab lever auth.rate_limit --compare`):
//   lever_flood_refused  Rate   share of the flooder's requests answered 429
//   lever_honest_ms      Trend  latency of the honest clients' validates
//   lever_honest_refused Rate   share of the honest clients' requests answered 429 (should stay 0)
//
// Env: AUTH_URL (http://127.0.0.1:8082), RATE (honest validates/s, 50), FLOOD_RATE (400), DURATION (30s),
//      VUS (50), MAX_VUS (300), USERS (10000), TOKEN_POOL (50).
import http from 'k6/http';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS } from '../lib/common.js';

const BASES = baseUrls('AUTH_URL', 'http://127.0.0.1:8082');
const USERS = envInt('USERS', 10000);
const DURATION = env('DURATION', '30s');
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const floodRefused = new Rate('lever_flood_refused');
const honestMs = new Trend('lever_honest_ms', true);
const honestRefused = new Rate('lever_honest_refused');

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 429));

const arrival = (rate, exec, client) => ({
  executor: 'constant-arrival-rate',
  rate,
  timeUnit: '1s',
  duration: DURATION,
  preAllocatedVUs: envInt('VUS', 50),
  maxVUs: envInt('MAX_VUS', 300),
  exec,
  tags: { client },
});

export const options = {
  summaryTrendStats: TREND_STATS,
  setupTimeout: '120s',
  scenarios: { honest: arrival(envInt('RATE', 50), 'honest', 'honest'), flooder: arrival(envInt('FLOOD_RATE', 400), 'flood', 'flooder') },
  thresholds: { lever_honest_ms: ['max>=0'], lever_flood_refused: ['rate>=0'], lever_honest_refused: ['rate>=0'] },
};

function login(n) {
  const body = JSON.stringify({ email: `user${n}@shoplab.test`, password: 'shoplab-pass' });
  const r = http.post(`${BASES[0]}/login`, body, { headers: JSON_HEADERS, tags: { name: 'setup_login' } });
  return r.status === 200 ? r.json('access_token') : null;
}

/** TOKEN_POOL honest users and one flooder account (user USERS), all logged in once. */
export function setup() {
  const tokens = [];
  for (let n = 1; n <= envInt('TOKEN_POOL', 50); n++) {
    const t = login(n);
    if (t) tokens.push(t);
  }
  const floodToken = login(USERS);
  if (tokens.length === 0 || !floodToken) throw new Error(`seeded users cannot log in at ${BASES[0]}: run \`shoplab seed\``);
  return { tokens, floodToken };
}

function validate(token, client, name) {
  const headers = { Authorization: `Bearer ${token}`, 'X-Client-Id': client };
  return http.get(`${pickBase(BASES)}/validate`, { headers, tags: { name } });
}

export function honest(data) {
  const r = validate(data.tokens[Math.floor(Math.random() * data.tokens.length)], `k6-vu-${__VU}`, 'validate');
  honestRefused.add(r.status === 429);
  if (r.status === 200) honestMs.add(r.timings.duration);
  check(r, { 'honest validate ok': (x) => x.status === 200 });
}

export function flood(data) {
  const r = validate(data.floodToken, `flood-${__VU}-${__ITER}`, 'flood');
  floodRefused.add(r.status === 429);
  check(r, { 'a refusal says Retry-After': (x) => x.status !== 429 || x.headers['Retry-After'] !== undefined });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

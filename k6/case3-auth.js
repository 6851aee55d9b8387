// Case study 3 — the auth service under a degrading email provider.
//
// Traffic mix at a constant arrival rate (what every other service sends an auth service):
//   80 % GET /validate    token validation, the critical path (a token from the pool logged in by setup())
//   10 % POST /login      a random seeded user (user<n>@shoplab.test / shoplab-pass)
//    5 % POST /signup     a fresh address per iteration: sends (or queues) a verification email
//    5 % /me/profile      GET, one in five a PUT of the display name
// Every virtual user sends its own X-Client-Id: a label for logs only. The rate limiter keys a request on
// its bearer token's user, else on its address, so the token pool's users are the honest clients here.
//
// The flooder (FLOOD_RATE > 0): a scenario of its own, tagged client:flooder, one logged-in client from
// this machine's address sending FLOOD_RATE validates/s from FLOOD_AT, a new X-Client-Id with every
// request (the way a flooder dodged the old per-id limiter). With auth.rate_limit on it gets 429s
// (lever_flood_refused) and the honest clients' validate p99 stays where it was; with it off, its
// queries queue with everyone's on the critical pool. Off by default, so the calibrated case 3 runs
// measure the same traffic as before.
//
// Provider chaos: with an admin token (SHOPLAB_ADMIN_TOKEN, else the file SHOPLAB_ADMIN_TOKEN_FILE names),
// a second scenario degrades the provider at CHAOS_AT through PUT /admin/flags —
// emailprovider.latency_ms = CHAOS_LATENCY_MS (3000), emailprovider.error_rate = CHAOS_ERROR_RATE (0.3),
// emailprovider.mode = CHAOS_MODE (flaky): shoplab's stand-in for the book's "slow and sometimes down" provider,
// the same values as `shoplab flags preset case3-degraded-provider` — and heals it at HEAL_AT (if given).
// Without a token the provider is left as it is.
//
// Env: AUTH_URL (http://127.0.0.1:8082), RATE (100/s), DURATION (60s), VUS (50), MAX_VUS (400),
//      USERS (10000), TOKEN_POOL (100 users logged in by setup), SLO_P99_MS (100),
//      FLOOD_RATE (0: no flooder), FLOOD_AT (0s), FLOOD_USER (user number of the flooder's account, USERS),
//      SHOPLAB_ADMIN_TOKEN[_FILE], CHAOS_AT (20s), CHAOS_MODE (flaky), CHAOS_LATENCY_MS (3000), CHAOS_ERROR_RATE (0.3), HEAL_AT.
// Thresholds: validate p99 < SLO_P99_MS; server errors (5xx or no answer) < 1 % overall and on /validate.
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import { adminToken, env, envInt, summaryOutputs, TREND_STATS } from './lib/common.js';

const AUTH = env('AUTH_URL', 'http://127.0.0.1:8082').replace(/\/$/, '');
const RATE = envInt('RATE', 100);
const DURATION = env('DURATION', '60s');
const USERS = envInt('USERS', 10000);
const TOKEN_POOL = envInt('TOKEN_POOL', 100);
const SLO_P99_MS = envInt('SLO_P99_MS', 100);
const ADMIN_TOKEN = adminToken();
const PASSWORD = 'shoplab-pass';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const FLOOD_RATE = envInt('FLOOD_RATE', 0);
const serverErrors = new Rate('server_errors');
const floodRefused = new Rate('lever_flood_refused');
const signupsCreated = new Counter('signups_created');
const rateLimited = new Counter('rate_limited');
// 2xx, and the answers this mix expects besides (429 from the rate limiter is counted on its own)
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 429));

function scenarios() {
  const s = {
    auth: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: envInt('VUS', 50),
      maxVUs: envInt('MAX_VUS', 400),
      exec: 'mix',
      tags: { client: 'honest' },
    },
  };
  if (FLOOD_RATE > 0) {
    s.flooder = {
      executor: 'constant-arrival-rate',
      rate: FLOOD_RATE,
      timeUnit: '1s',
      duration: DURATION,
      startTime: env('FLOOD_AT', '0s'),
      preAllocatedVUs: envInt('FLOOD_VUS', 50),
      maxVUs: envInt('FLOOD_MAX_VUS', 200),
      exec: 'flood',
      tags: { client: 'flooder' },
    };
  }
  if (ADMIN_TOKEN) {
    s.provider_chaos = { executor: 'shared-iterations', vus: 1, iterations: 1, startTime: env('CHAOS_AT', '20s'), exec: 'chaos' };
    const heal = env('HEAL_AT', '');
    if (heal) s.provider_heal = { executor: 'shared-iterations', vus: 1, iterations: 1, startTime: heal, exec: 'heal' };
  }
  return s;
}

// info-only thresholds make k6 compute (and print) the per-route sub-metrics
const info = (metric) => ({ [metric]: ['max>=0'] });
export const options = {
  scenarios: scenarios(),
  summaryTrendStats: TREND_STATS,
  setupTimeout: '180s',
  thresholds: Object.assign(
    {
      'http_req_duration{name:validate}': [`p(99)<${SLO_P99_MS}`],
      'http_req_duration{client:flooder}': ['max>=0'],
      server_errors: ['rate<0.01'],
      'server_errors{name:validate}': ['rate<0.01'],
      dropped_iterations: ['count>=0'],
    },
    ...['login', 'signup', 'profile'].map((n) => info(`http_req_duration{name:${n}}`)),
    ...['login', 'signup', 'profile'].map((n) => ({ [`server_errors{name:${n}}`]: ['rate>=0'] })),
  ),
};

/** Logs TOKEN_POOL seeded users in; their access tokens feed /validate and /me/profile. */
export function setup() {
  const tokens = [];
  for (let i = 0; i < TOKEN_POOL; i++) {
    const n = 1 + Math.floor(Math.random() * USERS);
    const r = http.post(`${AUTH}/login`, JSON.stringify({ email: `user${n}@shoplab.test`, password: PASSWORD }), {
      headers: Object.assign({ 'X-Client-Id': 'k6-setup' }, JSON_HEADERS),
      tags: { name: 'setup_login' },
    });
    if (r.status === 200) tokens.push(r.json('access_token'));
  }
  if (tokens.length === 0) throw new Error(`no seeded user could log in at ${AUTH}: run \`shoplab seed\` and start auth serve`);
  const run = `k6-${Date.now().toString(36)}`;
  console.log(`case3: ${tokens.length} tokens; signups use ${run}-<vu>-<iter>@shoplab.test`);
  return { tokens, run, floodToken: FLOOD_RATE > 0 ? floodLogin() : null };
}

/** The flooder's own access token (one account, like a client stuck in a retry loop). */
function floodLogin() {
  const email = `user${envInt('FLOOD_USER', USERS)}@shoplab.test`;
  const r = http.post(`${AUTH}/login`, JSON.stringify({ email, password: PASSWORD }), {
    headers: Object.assign({ 'X-Client-Id': 'k6-setup' }, JSON_HEADERS),
    tags: { name: 'setup_login' },
  });
  if (r.status !== 200) throw new Error(`the flooder (${email}) could not log in: ${r.status}`);
  return r.json('access_token');
}

/** One flooder request: a validate under a brand-new client id every time. */
export function flood(data) {
  const headers = { Authorization: `Bearer ${data.floodToken}`, 'X-Client-Id': `flood-${__VU}-${__ITER}` };
  const r = http.get(`${AUTH}/validate`, { headers, tags: { name: 'flood' } });
  floodRefused.add(r.status === 429);
  serverErrors.add(r.status === 0 || r.status >= 500, { name: 'flood' });
}

function headers(extra) {
  return Object.assign({ 'X-Client-Id': `k6-vu-${__VU}` }, JSON_HEADERS, extra || {});
}

function record(r, name) {
  serverErrors.add(r.status === 0 || r.status >= 500, { name });
  if (r.status === 429) rateLimited.add(1, { name });
  check(r, { [`${name} ok`]: (x) => x.status >= 200 && x.status < 300 });
  return r;
}

export function mix(data) {
  const token = data.tokens[Math.floor(Math.random() * data.tokens.length)];
  const auth = { Authorization: `Bearer ${token}` };
  const roll = Math.random() * 100;
  if (roll < 80) {
    record(http.get(`${AUTH}/validate`, { headers: headers(auth), tags: { name: 'validate' } }), 'validate');
  } else if (roll < 90) {
    const n = 1 + Math.floor(Math.random() * USERS);
    const body = JSON.stringify({ email: `user${n}@shoplab.test`, password: PASSWORD });
    record(http.post(`${AUTH}/login`, body, { headers: headers(), tags: { name: 'login' } }), 'login');
  } else if (roll < 95) {
    const email = `${data.run}-${__VU}-${__ITER}@shoplab.test`;
    const body = JSON.stringify({ email, password: PASSWORD });
    const r = http.post(`${AUTH}/signup`, body, { headers: headers(), tags: { name: 'signup' } });
    if (r.status === 201) signupsCreated.add(1);
    record(r, 'signup');
  } else if (roll < 99) {
    record(http.get(`${AUTH}/me/profile`, { headers: headers(auth), tags: { name: 'profile' } }), 'profile');
  } else {
    const body = JSON.stringify({ display_name: `k6 ${__VU}` });
    record(http.put(`${AUTH}/me/profile`, body, { headers: headers(auth), tags: { name: 'profile' } }), 'profile');
  }
}

function setFlag(name, value) {
  const r = http.put(`${AUTH}/admin/flags/${name}`, JSON.stringify({ value }), {
    headers: Object.assign({ Authorization: `Bearer ${ADMIN_TOKEN}`, 'X-Shoplab-Actor': 'k6:case3' }, JSON_HEADERS),
    tags: { name: 'admin' },
  });
  check(r, { [`set ${name}`]: (x) => x.status === 200 });
  console.log(`case3: ${name} = ${JSON.stringify(value)} -> ${r.status}`);
}

/** Degrades the provider mid-run. */
export function chaos() {
  setFlag('emailprovider.latency_ms', envInt('CHAOS_LATENCY_MS', 3000));
  setFlag('emailprovider.error_rate', Number(env('CHAOS_ERROR_RATE', '0.3')));
  setFlag('emailprovider.mode', env('CHAOS_MODE', 'flaky'));
}

/** Heals the provider. */
export function heal() {
  setFlag('emailprovider.mode', 'healthy');
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

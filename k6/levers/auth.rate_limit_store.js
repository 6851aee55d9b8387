// Lever auth.rate_limit_store (Edge Infrastructure: distributed rate limiting): one client sends RATE
// validates/s spread over every auth instance in AUTH_URL (a comma list, e.g.
// AUTH_URL=http://127.0.0.1:8082,http://127.0.0.1:8182). With `local` buckets each instance grants the
// client its own budget, so N instances let through about N x (auth.rate_limit_per_sec); with `redis`
// the instances share one bucket per client and the configured budget holds whatever N is. Run with
// auth.rate_limit on and RATE above auth.rate_limit_per_sec (default 50).
//
// Custom metrics (read by `shoplab lever auth.rate_limit_store --compare`):
//   lever_allowed   Counter  requests let through (200)
//   lever_limited   Rate     share answered 429
//   lever_allowed_per_sec is lever_allowed / the run's duration: compare it with auth.rate_limit_per_sec.
//
// Env: AUTH_URL, RATE (150), DURATION (30s), VUS (20), MAX_VUS (100), CLIENT_USER (1: the client's account).
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import { baseUrls, env, envInt, summaryOutputs, TREND_STATS } from '../lib/common.js';

const BASES = baseUrls('AUTH_URL', 'http://127.0.0.1:8082');
const allowed = new Counter('lever_allowed');
const limited = new Rate('lever_limited');

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 429));

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    one_client: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 150),
      timeUnit: '1s',
      duration: env('DURATION', '30s'),
      preAllocatedVUs: envInt('VUS', 20),
      maxVUs: envInt('MAX_VUS', 100),
    },
  },
  thresholds: { lever_allowed: ['count>=0'], lever_limited: ['rate>=0'] },
};

export function setup() {
  const email = `user${envInt('CLIENT_USER', 1)}@shoplab.test`;
  const r = http.post(`${BASES[0]}/login`, JSON.stringify({ email, password: 'shoplab-pass' }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'setup_login' },
  });
  if (r.status !== 200) throw new Error(`${email} cannot log in at ${BASES[0]}: run \`shoplab seed\``);
  return { token: r.json('access_token') };
}

// round robin, as a load balancer would: every instance sees the same client
export default function (data) {
  const base = BASES[__ITER % BASES.length];
  const r = http.get(`${base}/validate`, { headers: { Authorization: `Bearer ${data.token}` }, tags: { name: 'validate' } });
  limited.add(r.status === 429);
  if (r.status === 200) allowed.add(1);
  check(r, { 'allowed or limited': (x) => x.status === 200 || x.status === 429 });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

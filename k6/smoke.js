// Smoke load: every service's main routes, a few times, so each route and metric exists and the
// pipelines (outbox -> relay -> consumer) run once. Fails on any 5xx or unexpected status.
import http from 'k6/http';
import { check } from 'k6';
import { env, summaryOutputs, TREND_STATS } from './lib/common.js';

const PRODUCT = env('PRODUCT_URL', 'http://127.0.0.1:8081');
const AUTH = env('AUTH_URL', 'http://127.0.0.1:8082');
const ANALYTICS = env('ANALYTICS_URL', 'http://127.0.0.1:8083').split(',')[0];
const PROVIDER = env('EMAIL_PROVIDER_URL', 'http://127.0.0.1:8090');
const JSON_HEADERS = { 'Content-Type': 'application/json' };

export const options = {
  vus: 2,
  iterations: Number(env('ITERATIONS', '20')),
  summaryTrendStats: TREND_STATS,
  thresholds: { checks: ['rate==1'] },
};

function ok(r, what, status = 200) {
  check(r, { [`${what} ${status}`]: (x) => x.status === status });
}

export default function () {
  for (const base of [PRODUCT, AUTH, ANALYTICS, PROVIDER]) ok(http.get(`${base}/healthz`, { tags: { name: 'healthz' } }), 'healthz');
  const id = 1 + Math.floor(Math.random() * 50);
  ok(http.get(`${PRODUCT}/products/${id}`, { tags: { name: 'detail' } }), 'detail');
  ok(http.get(`${PRODUCT}/products?category=${1 + (id % 20)}&limit=20`, { tags: { name: 'listing' } }), 'listing');
  ok(http.get(`${PRODUCT}/search?q=lamp`, { tags: { name: 'search' } }), 'search');
  ok(http.get(`${PRODUCT}/categories`, { tags: { name: 'categories' } }), 'categories');

  const login = http.post(`${AUTH}/login`, JSON.stringify({ email: `user${id}@shoplab.test`, password: 'shoplab-pass' }), {
    headers: JSON_HEADERS, tags: { name: 'login' },
  });
  ok(login, 'login');
  const token = login.status === 200 ? login.json('access_token') : '';
  const auth = { Authorization: `Bearer ${token}`, ...JSON_HEADERS };
  ok(http.get(`${AUTH}/validate`, { headers: auth, tags: { name: 'validate' } }), 'validate');
  ok(http.get(`${AUTH}/me/profile`, { headers: auth, tags: { name: 'profile' } }), 'profile');
  const email = `smoke-${Date.now()}-${__VU}-${__ITER}@shoplab.test`;
  const signup = http.post(`${AUTH}/signup`, JSON.stringify({ email, password: 'smoke-pass-123' }), { headers: JSON_HEADERS, tags: { name: 'signup' } });
  check(signup, { 'signup 2xx': (x) => x.status >= 200 && x.status < 300 });

  const now = new Date().toISOString();
  const events = [{ type: 'view', product_id: id, user_id: 1, session_id: 'smoke', amount_cents: 0, occurred_at: now }];
  const ingest = http.post(`${ANALYTICS}/events`, JSON.stringify({ events }), { headers: JSON_HEADERS, tags: { name: 'events' } });
  check(ingest, { 'events 2xx': (x) => x.status >= 200 && x.status < 300 });
  ok(http.get(`${ANALYTICS}/dashboards/overview?window=15m`, { tags: { name: 'dashboard' } }), 'dashboard');
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

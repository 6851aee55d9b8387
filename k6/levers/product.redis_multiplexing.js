// Lever product.redis_multiplexing (Network Optimization, connection reuse): a pool that PINGs on every
// checkout vs one multiplexed connection.
//
// A closed loop (VUS virtual users, each sending its next request as soon as the last one answered) on
// cached product detail pages: every request is one Redis lookup and no database work, so Redis round
// trips are most of what the request waits for. The HOT products are read once in setup() so every
// request is a cache hit.
//
// What moves: throughput (req/s) and p95 at the same concurrency, and PINGs per request (Redis INFO
// commandstats `cmdstat_ping`: about 1 pooled, 0 multiplexed). k6 tops out near 13k req/s on a 2-core
// machine it shares with the service: for the ceiling use wrk (docs/levers/product.redis_multiplexing.md).
//
// Env: PRODUCT_URL, VUS (50), DURATION (30s), HOT (100).
import http from 'k6/http';
import { check } from 'k6';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const VUS = envInt('VUS', 50);
const DURATION = env('DURATION', '30s');
const HOT = envInt('HOT', 100);

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    cached: { executor: 'constant-vus', vus: VUS, duration: DURATION },
  },
  thresholds: {
    'http_req_duration{name:detail}': ['p(95)<100000'],
    http_req_failed: ['rate<0.01'],
  },
};

export function setup() {
  for (const base of BASES) {
    for (let id = 1; id <= HOT; id++) http.get(`${base}/products/${id}`, { tags: { name: 'setup' } });
  }
}

export default function () {
  const id = 1 + Math.floor(Math.random() * HOT);
  const r = http.get(`${pickBase(BASES)}/products/${id}`, { tags: { name: 'detail' } });
  check(r, { 'detail 200': (x) => x.status === 200 });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

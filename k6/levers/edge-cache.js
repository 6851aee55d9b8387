// The edge cache (Edge Infrastructure; not a flag, a process: `shoplab up --edge`, nginx on :8080 in front
// of product). Catalogue reads through the edge: with product.conditional_requests on, product sends
// Cache-Control and the edge answers repeats itself; off, every request reaches the origin. Compare the
// hit ratio and, at the origin, product's request count (http_server_request_duration_seconds_count in
// product's own /metrics, :8081) against the requests k6 sent.
//
// Custom metric: lever_edge_hit (Rate) — share of responses with X-Cache-Status: HIT.
// Env: PRODUCT_URL (the edge, http://127.0.0.1:8080), RATE (100 iterations/s), DURATION (30s), VUS (20),
//      PRODUCTS (20000), CATEGORIES (200).
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8080');
const productRank = zipf(envInt('PRODUCTS', 20000));
const categoryRank = zipf(envInt('CATEGORIES', 200));
const edgeHit = new Rate('lever_edge_hit');

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    visitors: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 100),
      timeUnit: '1s',
      duration: env('DURATION', '30s'),
      preAllocatedVUs: envInt('VUS', 20),
      maxVUs: envInt('VUS', 20) * 10,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:listing}': ['p(95)<2000'],
    'http_req_duration{name:detail}': ['p(95)<2000'],
    dropped_iterations: ['count==0'],
  },
};

export default function () {
  const base = pickBase(BASES);
  const listing = Math.random() < 0.3;
  const path = listing ? `/products?category=${categoryRank()}&limit=20` : `/products/${productRank()}`;
  const name = listing ? 'listing' : 'detail';
  const r = http.get(`${base}${path}`, { tags: { name } });
  check(r, { [`${name} 200`]: (x) => x.status === 200 });
  const status = r.headers['X-Cache-Status'] || '';
  edgeHit.add(status === 'HIT');
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

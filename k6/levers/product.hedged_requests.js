// Lever product.hedged_requests (Advanced Techniques): reads of GET /products/{id}/availability, whose
// dependency (the simulated inventory read of the provider process) answers most reads at once and
// emailprovider.tail_share of them (default 5 %) after emailprovider.tail_ms (default 400 ms).
// Off, the endpoint's p95/p99 is the dependency's tail. On, a read still waiting after the dependency's
// recent p95 gets a second copy (at most 10 % of reads), and the first answer wins: p99 falls, and the
// extra load is the share of hedges (`shoplab_hedged_requests_total{outcome="sent"}` on /metrics).
//
// Custom metric: lever_tail (Rate): share of reads slower than TAIL_CUT_MS (default 300 ms).
//
// Env: PRODUCT_URL, RATE (iterations/s, 50), DURATION (30s), VUS (preallocated, 50), MAX_VUS (200),
//      PRODUCTS (20000), TAIL_CUT_MS (300).
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const PRODUCTS = envInt('PRODUCTS', 20000);
const TAIL_CUT_MS = envInt('TAIL_CUT_MS', 300);
const tail = new Rate('lever_tail');

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    reads: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 50),
      timeUnit: '1s',
      duration: env('DURATION', '30s'),
      preAllocatedVUs: envInt('VUS', 50),
      maxVUs: envInt('MAX_VUS', 200),
    },
  },
  thresholds: {
    'http_req_duration{name:availability}': ['p(99)<200'],
    http_req_failed: ['rate<0.01'],
  },
};

export default function () {
  const id = 1 + Math.floor(Math.random() * PRODUCTS);
  const r = http.get(`${pickBase(BASES)}/products/${id}/availability`, { tags: { name: 'availability' } });
  tail.add(r.timings.duration > TAIL_CUT_MS);
  check(r, { 'availability 200': (x) => x.status === 200 });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

// Lever product.local_cache (Caching Strategies, multi-layer caches): Redis only vs an in-process tier
// in front of it.
//
// Product detail pages drawn by popularity (Zipf-like, s = 1.1, as in case 1): a few hundred products
// get most reads, so most of them can be answered from the instance's memory once the tier is on. The
// hot set is read once in setup() so both phases start with the pages in Redis.
//
// What moves: Redis commands per request (INFO commandstats: MGET + PTTL, plus the pool's PING, on every
// read without the tier; only on local misses with it), the local tier's hit share
// (shoplab_cache_requests_total{cache="local",result="hit"} over all local lookups) and p95.
//
// Env: PRODUCT_URL, RATE (iterations/s, 200), DURATION (30s), VUS (20), MAX_VUS (200), PRODUCTS (20000),
//      WARM (300: products read in setup).
import http from 'k6/http';
import { check } from 'k6';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const RATE = envInt('RATE', 200);
const DURATION = env('DURATION', '30s');
const VUS = envInt('VUS', 20);
const MAX_VUS = envInt('MAX_VUS', 200);
const PRODUCTS = envInt('PRODUCTS', 20000);
const WARM = envInt('WARM', 300);

const productRank = zipf(PRODUCTS, 1.1);

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    details: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    'http_req_duration{name:detail}': ['p(95)<100000'],
    http_req_failed: ['rate<0.01'],
    dropped_iterations: ['count==0'],
  },
};

export function setup() {
  for (const base of BASES) {
    for (let id = 1; id <= WARM; id++) http.get(`${base}/products/${id}`, { tags: { name: 'setup' } });
  }
}

export default function () {
  const r = http.get(`${pickBase(BASES)}/products/${productRank()}`, { tags: { name: 'detail' } });
  check(r, { 'detail 200': (x) => x.status === 200 });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

// Lever product.compression (Network Optimization): the same catalogue pages with
// `Accept-Encoding: zstd, br, gzip`. Flag off, bodies go out as they are; on, JSON bodies above
// product.compression_min_bytes are compressed. Compare bytes per request (k6's data_received over
// http_reqs, i.e. bytes on the wire) and latency: on loopback the CPU cost shows and the bandwidth saved
// does not (k6 cannot throttle a link; docs/levers/product.compression.md does the arithmetic).
//
// Custom metric: lever_compressed (Rate) — share of responses that came back with a Content-Encoding.
// Env: PRODUCT_URL, RATE (50 iterations/s), DURATION (30s), VUS (20), PRODUCTS (20000), CATEGORIES (200),
//      ENCODING ("zstd, br, gzip").
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const ENCODING = env('ENCODING', 'zstd, br, gzip');
const productRank = zipf(envInt('PRODUCTS', 20000));
const categoryRank = zipf(envInt('CATEGORIES', 200));
const compressed = new Rate('lever_compressed');

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    pages: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 50),
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
  const listing = Math.random() < 0.5;
  const path = listing ? `/products?category=${categoryRank()}&limit=20` : `/products/${productRank()}`;
  const name = listing ? 'listing' : 'detail';
  const r = http.get(`${base}${path}`, { headers: { 'Accept-Encoding': ENCODING }, tags: { name } });
  check(r, { [`${name} 200`]: (x) => x.status === 200 });
  compressed.add(Boolean(r.headers['Content-Encoding']));
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

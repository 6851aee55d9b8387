// Lever product.conditional_requests (Network Optimization; Edge Infrastructure): returning clients.
// Each VU is a client that keeps the ETag (and body size) of every page it fetched and sends
// If-None-Match when it asks again; pages are drawn Zipf-like from a small working set, so most requests
// are repeats. Flag off, there are no ETags and every answer is a full 200; on, a repeat whose page has
// not changed is a 304 without a body.
//
// Custom metrics: lever_not_modified (Rate) — share of 304s; lever_bytes_saved (Counter) — body bytes
// the 304s did not send (the size of the copy the client already held).
// Env: PRODUCT_URL, RATE (100 iterations/s), DURATION (30s), VUS (20), WORKING_SET (200 products),
//      CATEGORIES (200).
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const productRank = zipf(envInt('WORKING_SET', 200));
const categoryRank = zipf(envInt('CATEGORIES', 200));
const notModified = new Rate('lever_not_modified');
const bytesSaved = new Counter('lever_bytes_saved');

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    returning: {
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

// this VU's copies: path -> { etag, size }
const held = {};

export default function () {
  const base = pickBase(BASES);
  const listing = Math.random() < 0.3;
  const path = listing ? `/products?category=${categoryRank()}&limit=20` : `/products/${productRank()}`;
  const name = listing ? 'listing' : 'detail';
  const copy = held[path];
  const headers = copy ? { 'If-None-Match': copy.etag } : {};
  const r = http.get(`${base}${path}`, { headers, tags: { name }, responseCallback: http.expectedStatuses(200, 304) });
  check(r, { [`${name} 200 or 304`]: (x) => x.status === 200 || x.status === 304 });
  notModified.add(r.status === 304);
  if (r.status === 304 && copy) {
    bytesSaved.add(copy.size);
  } else if (r.status === 200) {
    const etag = r.headers.Etag || r.headers.ETag;
    if (etag) held[path] = { etag, size: r.body.length };
    else delete held[path];
  }
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

// Lever product.summary_fields (the Introduction's worked example; Network Optimization): search and
// listing pages, the requests whose results a list shows. Flag off, every item is a full document
// (several KB of description and attributes, stock per warehouse); on, the summary shape. Compare bytes
// per request and the p95 of http_req_duration{name:search} and {name:listing}.
//
// Custom metric: lever_body_bytes (Trend) — size of each page's JSON body.
// Env: PRODUCT_URL, RATE (30 iterations/s), DURATION (30s), VUS (20), CATEGORIES (200), LIMIT (20).
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const LIMIT = envInt('LIMIT', 20);
const categoryRank = zipf(envInt('CATEGORIES', 200));
// the seed's vocabulary (services/shoplab/src/seed/product.rs), as in k6/case1-product.js
const WORDS = ['backpack', 'headphones', 'kettle', 'sneakers', 'camera', 'watch', 'jacket', 'lamp', 'speaker',
  'keyboard', 'acme', 'hooli', 'mug', 'tent', 'blender', 'notebook', 'chair', 'bottle', 'northwind', 'globex'];
const wordRank = zipf(WORDS.length);
const bodyBytes = new Trend('lever_body_bytes');

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    results: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 30),
      timeUnit: '1s',
      duration: env('DURATION', '30s'),
      preAllocatedVUs: envInt('VUS', 20),
      maxVUs: envInt('VUS', 20) * 10,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:search}': ['p(95)<2000'],
    'http_req_duration{name:listing}': ['p(95)<2000'],
    dropped_iterations: ['count==0'],
  },
};

export default function () {
  const base = pickBase(BASES);
  const search = Math.random() < 0.5;
  const path = search
    ? `/search?q=${encodeURIComponent(WORDS[wordRank() - 1])}&limit=${LIMIT}`
    : `/products?category=${categoryRank()}&limit=${LIMIT}`;
  const name = search ? 'search' : 'listing';
  const r = http.get(`${base}${path}`, { tags: { name } });
  check(r, { [`${name} 200`]: (x) => x.status === 200 });
  if (r.status === 200) bodyBytes.add(r.body.length);
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

// Lever product.load_shedding (Traffic Management): more catalogue traffic than the product service can
// serve in its before state (naive listings: 4N+1 statements per uncached page), so requests queue.
// Off, every request waits and the queue grows: p95 in seconds, then tens of seconds. On, requests past
// product.load_shed_limit + product.load_shed_queue get 503 + Retry-After at once; the admitted ones stay
// fast.
//
// A shed request is a 503 with the error code `overloaded` and Retry-After (a 503 from a database pool
// timeout, which the before state produces after a long wait, is an error, not a shed). Custom metrics
// (read by `shoplab lever product.load_shedding --compare`):
//   lever_shed         Rate   share of requests shed
//   lever_errors       Rate   share of requests that failed otherwise (timeouts, pool-exhausted 503s, 5xx)
//   lever_admitted_ms  Trend  latency of the requests served with a 200
//
// Env: PRODUCT_URL, RATE (iterations/s, 100), DURATION (30s), VUS (preallocated, 100), MAX_VUS (600),
//      CATEGORIES (200), PRODUCTS (20000).
import http from 'k6/http';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const RATE = envInt('RATE', 100);
const categoryRank = zipf(envInt('CATEGORIES', 200), 1.1);
const productRank = zipf(envInt('PRODUCTS', 20000), 1.1);

const shed = new Rate('lever_shed');
const errors = new Rate('lever_errors');
const admitted = new Trend('lever_admitted_ms', true);

/** A 503 the load shedder sent: its own error code (the body is JSON). */
function isShed(r) {
  if (r.status !== 503) return false;
  try {
    return r.json('error.code') === 'overloaded';
  } catch (_) {
    return false;
  }
}

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    overload: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: env('DURATION', '30s'),
      preAllocatedVUs: envInt('VUS', 100),
      maxVUs: envInt('MAX_VUS', 600),
    },
  },
  thresholds: {
    lever_admitted_ms: ['p(95)<200'],
  },
};

export default function () {
  const base = pickBase(BASES);
  // half listings (the expensive, often uncached pages), half details
  const listing = Math.random() < 0.5;
  const path = listing ? `/products?category=${categoryRank()}&limit=20` : `/products/${productRank()}`;
  const r = http.get(`${base}${path}`, { tags: { name: listing ? 'listing' : 'detail' } });
  const wasShed = isShed(r);
  shed.add(wasShed);
  errors.add(!wasShed && r.status !== 200);
  if (r.status === 200) admitted.add(r.timings.duration);
  check(r, {
    'served or shed': (x) => x.status === 200 || wasShed,
    'a shed answer says Retry-After': (x) => !wasShed || x.headers['Retry-After'] !== undefined,
  });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

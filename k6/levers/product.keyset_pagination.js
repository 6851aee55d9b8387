// Lever product.keyset_pagination (Database and Storage Selection): OFFSET pages vs keyset cursors.
//
// The unfiltered listing (`GET /products`, 20 000 products at the default seed) read at two depths:
//   name:first — page 1 (no cursor);
//   name:deep  — a page starting at least DEEP_FROM rows down (default 5 000; page 500 of 20 is row 9 980).
// setup() walks the listing once with limit=100 and keeps every cursor down to DEPTH rows (default 10 000),
// in the mode the lab is in (a cursor works in both modes anyway). Each request draws a page size in
// 1..100 so deep pages are mostly cache misses (the long tail a crawler or an infinite scroll produces);
// page 1 is mostly a cache hit either way, as in production.
//
// What moves: p95 of name:deep (OFFSET makes Postgres produce and discard every row before the page) and
// rows read per request on product.products (pg_stat_user_tables seq_tup_read + idx_tup_fetch); name:first
// stays put. Turn product.composite_indexes (and product.eager_loading) on first: without the index on
// (popularity desc, id) both ways scan and sort the whole table.
//
// Env: PRODUCT_URL, RATE (iterations/s, 40), DURATION (30s), VUS (20), MAX_VUS (200), DEPTH (10000),
//      DEEP_FROM (5000), DEEP_PCT (50).
import http from 'k6/http';
import { check } from 'k6';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const RATE = envInt('RATE', 40);
const DURATION = env('DURATION', '30s');
const VUS = envInt('VUS', 20);
const MAX_VUS = envInt('MAX_VUS', 200);
const DEPTH = envInt('DEPTH', 10000);
const DEEP_FROM = envInt('DEEP_FROM', 5000);
const DEEP_PCT = envInt('DEEP_PCT', 50);

export const options = {
  summaryTrendStats: TREND_STATS,
  setupTimeout: '180s',
  scenarios: {
    pages: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    // named so the summary holds the per-depth sub-metrics the compare reads
    'http_req_duration{name:first}': ['p(95)<100000'],
    'http_req_duration{name:deep}': ['p(95)<100000'],
    http_req_failed: ['rate<0.01'],
    dropped_iterations: ['count==0'],
  },
};

/** Walks the listing 100 rows at a time; returns [{depth, cursor}] for every page start down to DEPTH. */
export function setup() {
  const base = BASES[0];
  const starts = [];
  let cursor = null;
  for (let depth = 100; depth <= DEPTH; depth += 100) {
    const url = cursor ? `${base}/products?limit=100&cursor=${cursor}` : `${base}/products?limit=100`;
    const r = http.get(url, { tags: { name: 'setup' } });
    if (r.status !== 200) throw new Error(`walking the listing failed at depth ${depth}: ${r.status}`);
    cursor = r.json('next_cursor');
    if (!cursor) break;
    starts.push({ depth, cursor });
  }
  const deep = starts.filter((s) => s.depth >= DEEP_FROM);
  if (deep.length === 0) throw new Error(`the listing is shallower than DEEP_FROM=${DEEP_FROM}`);
  return { deep };
}

export default function (data) {
  const base = pickBase(BASES);
  const limit = 1 + Math.floor(Math.random() * 100);
  let path = `/products?limit=${limit}`;
  let name = 'first';
  if (Math.random() * 100 < DEEP_PCT) {
    const start = data.deep[Math.floor(Math.random() * data.deep.length)];
    path += `&cursor=${start.cursor}`;
    name = 'deep';
  }
  const r = http.get(`${base}${path}`, { tags: { name } });
  check(r, { [`${name} 200`]: (x) => x.status === 200 });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

// Case study 1 — the product API: a shop's catalogue traffic at a constant arrival rate.
//
// Mix (env MIX, percent): 70 % product detail, 20 % category listing, 10 % search. Popularity is
// Zipf-like (s ~ 1.1): product 1 is the most viewed, a few hundred products get most of the traffic,
// and the long tail keeps missing the cache — so the cache hit rate means something. Listings pick a
// category by the same law and follow `next_cursor` to page 2 in 15 % of the cases; searches draw from a
// vocabulary of the catalogue's words (brands, adjectives, nouns) and a few two-word queries.
//
// Requests are tagged name=detail|listing|search (per-name p95 in the summary and in Grafana via k6's
// own output). The thresholds are the book's SLO: p95 < 200 ms; the before state is expected to miss it
// (k6 exits 99, which `shoplab case 1 --compare` treats as a result).
//
// Env: PRODUCT_URL (comma-separated for several instances), RATE (iterations/s, 100), DURATION (60s),
//      VUS (preallocated, 50), MAX_VUS (400), PRODUCTS (20000), CATEGORIES (200), SLO_P95_MS (200),
//      MIX ("detail:70,listing:20,search:10"), NEXT_PAGE_PCT (15).
import http from 'k6/http';
import { check } from 'k6';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from './lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const RATE = envInt('RATE', 100);
const DURATION = env('DURATION', '60s');
const VUS = envInt('VUS', 50);
const MAX_VUS = envInt('MAX_VUS', 400);
const PRODUCTS = envInt('PRODUCTS', 20000);
const CATEGORIES = envInt('CATEGORIES', 200);
const SLO_P95_MS = envInt('SLO_P95_MS', 200);
const NEXT_PAGE_PCT = envInt('NEXT_PAGE_PCT', 15);

/** "detail:70,listing:20,search:10" -> cumulative [[name, upTo], ...]. */
function parseMix(raw) {
  let acc = 0;
  const mix = raw.split(',').map((part) => {
    const [name, pct] = part.split(':');
    acc += Number(pct || 0);
    return [name.trim(), acc];
  });
  return { mix, total: acc };
}
const MIX = parseMix(env('MIX', 'detail:70,listing:20,search:10'));

// The seed's vocabulary (services/shoplab/src/seed/product.rs), most asked-for first.
const WORDS = [
  'backpack', 'headphones', 'kettle', 'sneakers', 'camera', 'watch', 'jacket', 'lamp', 'speaker', 'keyboard',
  'acme', 'hooli', 'mug', 'tent', 'blender', 'notebook', 'chair', 'bottle', 'northwind', 'globex',
  'pro', 'smart', 'ultra', 'compact', 'travel', 'outdoor', 'vintage', 'premium', 'studio', 'mini',
  'acme kettle', 'smart watch', 'travel backpack', 'pro headphones', 'outdoor tent', 'initech', 'umbrella',
  'stark', 'wayne', 'vandelay', 'soylent', 'classic', 'deluxe', 'eco', 'essential', 'urban', 'everyday',
];

const productRank = zipf(PRODUCTS, 1.1);
const categoryRank = zipf(CATEGORIES, 1.1);
const wordRank = zipf(WORDS.length, 1.1);

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: {
    catalogue: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    http_req_duration: [`p(95)<${SLO_P95_MS}`],
    'http_req_duration{name:detail}': [`p(95)<${SLO_P95_MS}`],
    'http_req_duration{name:listing}': [`p(95)<${SLO_P95_MS}`],
    'http_req_duration{name:search}': [`p(95)<${SLO_P95_MS}`],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    // constant-arrival-rate silently skips iterations when every VU is busy: make it visible
    dropped_iterations: ['count==0'],
  },
};

function get(base, path, name) {
  const r = http.get(`${base}${path}`, { tags: { name } });
  check(r, { [`${name} 200`]: (x) => x.status === 200 });
  return r;
}

function detail(base) {
  get(base, `/products/${productRank()}`, 'detail');
}

function listing(base) {
  const page = `/products?category=${categoryRank()}&limit=20`;
  const r = get(base, page, 'listing');
  if (r.status !== 200 || Math.random() * 100 >= NEXT_PAGE_PCT) return;
  const next = r.json('next_cursor');
  if (next) get(base, `${page}&cursor=${next}`, 'listing');
}

function search(base) {
  get(base, `/search?q=${encodeURIComponent(WORDS[wordRank() - 1])}&limit=20`, 'search');
}

const ACTIONS = { detail, listing, search };

export default function () {
  const base = pickBase(BASES);
  const u = Math.random() * MIX.total;
  const [name] = MIX.mix.find(([, upTo]) => u < upTo) || MIX.mix[MIX.mix.length - 1];
  ACTIONS[name](base);
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

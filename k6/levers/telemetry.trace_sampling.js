// Lever telemetry.trace_sampling (Observability): what tracing every request costs, as throughput.
//
// A closed loop of VUS virtual users asks for popular (cached) product pages as fast as the service
// answers, so requests per second is the cost of everything the request does besides the page itself:
// with the ratio at 1.0 every request builds, batches and exports its trace; at 0.1 nine in ten are
// dropped at the root and their SQL and Redis spans with them. Run it with the lab exporting spans
// (OTEL_EXPORTER_OTLP_ENDPOINT pointing at Tempo or any OTLP receiver), or the export cost is not paid.
// docs/levers/telemetry.trace_sampling.md has the exercise and the figures measured here.
//
// Compare rows: throughput (req/s), http_req_duration p50/p95/p99, error share.
// Env: PRODUCT_URL (comma-separated for several instances), VUS (20), DURATION (30s), PRODUCTS (100:
//      the ids drawn, Zipf-like, so nearly every request is a cache hit after the first seconds).
import http from 'k6/http';
import { check } from 'k6';
import { baseUrls, env, envInt, pickBase, summaryOutputs, TREND_STATS, zipf } from '../lib/common.js';

const BASES = baseUrls('PRODUCT_URL', 'http://127.0.0.1:8081');
const VUS = envInt('VUS', 20);
const DURATION = env('DURATION', '30s');
const rank = zipf(envInt('PRODUCTS', 100), 1.1);

export const options = {
  summaryTrendStats: TREND_STATS,
  scenarios: { detail: { executor: 'constant-vus', vus: VUS, duration: DURATION } },
  thresholds: { 'http_req_duration{name:detail}': ['max>=0'], http_req_failed: ['rate<0.01'] },
};

export default function () {
  const r = http.get(`${pickBase(BASES)}/products/${rank()}`, { tags: { name: 'detail' } });
  check(r, { 'detail 200': (res) => res.status === 200 });
}

export function handleSummary(data) {
  return summaryOutputs(data);
}

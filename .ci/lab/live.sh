#!/usr/bin/env bash
# The lab checks that need running services: start the whole lab natively (`shoplab up`), put a short
# k6 smoke load on every service, check every metric a dashboard uses exists in a real scrape, then let
# the Debian Prometheus scrape everything with the lab's config and run every panel's PromQL.
# Expects the built shoplab binary in target/debug and a migrated, seeded database (.ci/run does both).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/debug}
OFFSET=${OFFSET:-0}   # shift every port (a lab already running on the standard ones)
port() { echo $(( $1 + OFFSET )); }
WORK=$(mktemp -d)
UP_PID=""
PROM_PID=""
# The lab's own Redis key prefix and RabbitMQ names, emptied first: nothing a developer's lab (or an
# older build) left under the default `shoplab` prefix can change what this run sees. Queues hold
# messages, so they go; exchanges hold none and are declared the same way again.
export SHOPLAB_REDIS_PREFIX=${SHOPLAB_REDIS_PREFIX:-shoplab-live:} SHOPLAB_AMQP_PREFIX=${SHOPLAB_AMQP_PREFIX:-shoplab-live}

reset_names() {
  redis-cli --scan --pattern "${SHOPLAB_REDIS_PREFIX}*" | xargs -r -n 500 redis-cli del >/dev/null || true
  if command -v rabbitmqctl >/dev/null; then
    { rabbitmqctl -q list_queues name 2>/dev/null | grep "^${SHOPLAB_AMQP_PREFIX}\." || true; } | while read -r q; do
      rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || true
    done
  fi
}
reset_names

cleanup() {
  [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null || true
  if [ -n "$UP_PID" ]; then kill -INT "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; fi
  reset_names || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "starting the lab natively (log: $WORK/up.log)"
SHOPLAB_ADMIN_TOKEN=ci-admin "$BIN/shoplab" up --no-seed --port-offset "$OFFSET" >"$WORK/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 1 180); do
  grep -q "shoplab is up" "$WORK/up.log" && break
  kill -0 "$UP_PID" 2>/dev/null || { tail -40 "$WORK/up.log"; echo "shoplab up exited"; exit 1; }
  sleep 1
done
grep -q "shoplab is up" "$WORK/up.log" || { tail -40 "$WORK/up.log"; echo "lab not ready in 180 s"; exit 1; }

export PRODUCT_URL=http://127.0.0.1:$(port 8081) AUTH_URL=http://127.0.0.1:$(port 8082)
export ANALYTICS_URL=http://127.0.0.1:$(port 8083) EMAIL_PROVIDER_URL=http://127.0.0.1:$(port 8090)
echo "k6 smoke"
SHOPLAB_ADMIN_TOKEN=ci-admin k6 run --quiet k6/smoke.js

URLS=()
for p in 8081 8082 8083 8090 9101 9102 9103 9104; do URLS+=("http://127.0.0.1:$(port $p)/metrics"); done
python3 .ci/lab/validate.py scrape "${URLS[@]}"

command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null 2>&1 || true; }
if command -v prometheus >/dev/null; then
  python3 -c 'import re, sys; off = int(sys.argv[1]); sys.stdout.write(re.sub(r"127\.0\.0\.1:(\d+)", lambda m: "127.0.0.1:%d" % (int(m.group(1)) + off), open(sys.argv[2]).read()))' \
    "$OFFSET" .ci/lab/prometheus-native.yml >"$WORK/prometheus.yml"
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
    --web.listen-address=127.0.0.1:$(port 19090) --web.enable-remote-write-receiver --enable-feature=exemplar-storage \
    >"$WORK/prom.log" 2>&1 &
  PROM_PID=$!
  # two scrape intervals of smoke traffic so rate() has points
  SHOPLAB_ADMIN_TOKEN=ci-admin ITERATIONS=200 k6 run --quiet k6/smoke.js >/dev/null
  sleep 12
  # every panel query must run without error and return data: series that only move under their case's
  # load (429s, coalesced requests, 5xx) are published at 0 from the start, so a quiet lab shows 0, not "No data"
  python3 .ci/lab/validate.py promql "http://127.0.0.1:$(port 19090)" --require-data
else
  [ -n "${CI:-}" ] && { echo "prometheus is missing and could not be installed (apt-get install prometheus)"; exit 1; }
  echo "prometheus not installable here; skipped the PromQL check"
fi
echo "SIGINT to shoplab up"
kill -INT "$UP_PID"; wait "$UP_PID"; UP_PID=""
grep -q "shoplab is up" "$WORK/up.log"
echo "live lab checks passed"

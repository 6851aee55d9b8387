#!/usr/bin/env bash
# CI's short login flood: starts its own `auth serve` (lab mode, a port of its own) on the CI database,
# runs bench/flood.sh with LOGINS (300) concurrent logins for one round, and prints the figures. A
# benchmark, not a test: it fails only when auth does not start or dies under the flood. The flags are
# left as they are (the database is shared with the other CI steps).
set -euo pipefail
cd "$(dirname "$0")/.."

port=${FLOOD_PORT:-18482}
if target/debug/shoplab auth --help >/dev/null 2>&1; then serve=(target/debug/shoplab auth serve); else serve=(target/debug/auth serve); fi
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shoplab}
export AUTH_ADDR=127.0.0.1:$port SHOPLAB_LAB=1 SHOPLAB_AMQP_PREFIX=ci-flood SHOPLAB_REDIS_PREFIX=ci-flood:
# the flood measures password work and bulkheads alone: earlier steps may have left the after presets on
# (auth.rate_limit would answer the /validate stream's single user with 429s)
bin=target/debug/shoplab
"$bin" flags set auth.bulkheads true >/dev/null
"$bin" flags set auth.rate_limit false >/dev/null
log=$(mktemp)
"${serve[@]}" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 150); do
  curl -fsS "http://$AUTH_ADDR/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "flood: auth did not start:"; tail -20 "$log"; exit 1; }
  sleep 0.2
done
bench/flood.sh --url "http://$AUTH_ADDR" --pid "$pid" --logins "${LOGINS:-300}" --rounds 1 --bulkheads keep
kill -0 "$pid" 2>/dev/null || { echo "flood: auth died during the flood:"; tail -20 "$log"; exit 1; }

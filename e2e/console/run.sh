#!/usr/bin/env bash
# End-to-end test of the trainer console: a fresh database, the product service and `shoplab console` on
# free ports, then console.test.mjs in headless Chromium. Builds nothing: expects target/debug/shoplab
# (cargo build --workspace; it also runs the product service), Debian's chromium (apt-get install -y chromium), Node and
# a running Postgres/Redis/RabbitMQ. Cleans up its processes and database however it ends.
#
#   e2e/console/run.sh            # screenshots: target/console-e2e.png, target/console-charts.png; logs: target/console-e2e/
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$root/target/debug"
logs="$root/target/console-e2e"
chromium="${CHROMIUM:-/usr/bin/chromium}"
server="${E2E_POSTGRES:-postgres://postgres@127.0.0.1:5432}"

[ -x "$bin/shoplab" ] || { echo "missing $bin/shoplab: run 'cargo build --workspace' first" >&2; exit 1; }
[ -x "$chromium" ] || { echo "missing $chromium: apt-get install -y chromium" >&2; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

id="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
db="shoplab_e2e_$id"
token="e2e-token-$id"
pids=()

cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql "$server/postgres" -qAtc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  if command -v redis-cli >/dev/null; then
    redis-cli --scan --pattern "e2e:$id:*" | xargs -r redis-cli del >/dev/null 2>&1 || true
  fi
  if [ "$status" -ne 0 ]; then
    for f in "$logs"/*.log; do echo "--- $f (last lines)"; tail -n 20 "$f"; done
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() {
  local url=$1 name=$2
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not answer at $url within 30 s" >&2
  return 1
}

mkdir -p "$logs"
export DATABASE_URL="$server/$db"
"$bin/shoplab" migrate >"$logs/migrate.log"
# start the slow-query view from zero: on a busy machine the migration's DDL would otherwise fill its top
# ten, and the test looks for the console's own reads there
"$bin/shoplab" top-queries --reset >>"$logs/migrate.log"

product_port="$(free_port)"
console_port="$(free_port)"
closed_port="$(free_port)" # nothing listens there: the auth row must show "down"
product_url="http://127.0.0.1:$product_port"
console_url="http://127.0.0.1:$console_port"

# Redis keys and AMQP names of this run stay apart from a lab running on the same machine.
PRODUCT_ADDR="127.0.0.1:$product_port" SHOPLAB_ADMIN_TOKEN="$token" \
  SHOPLAB_REDIS_PREFIX="e2e:$id:" SHOPLAB_AMQP_PREFIX="e2e.$id" \
  "$bin/shoplab" product >"$logs/product.log" 2>&1 &
pids+=("$!")
wait_for "$product_url/readyz" product

# Workers and the other services default to ports shifted far away (--port-offset), so they show as down.
SHOPLAB_ADMIN_TOKEN="$token" PRODUCT_URL="$product_url" AUTH_URL="http://127.0.0.1:$closed_port" \
  "$bin/shoplab" console --addr "127.0.0.1:$console_port" --port-offset 20000 >"$logs/console.log" 2>&1 &
pids+=("$!")
wait_for "$console_url/healthz" console

CONSOLE_URL="$console_url" PRODUCT_URL="$product_url" ADMIN_TOKEN="$token" CHROMIUM="$chromium" \
  SCREENSHOT="$root/target/console-e2e.png" CHART_SCREENSHOT="$root/target/console-charts.png" \
  node --test-reporter=spec "$here/console.test.mjs"
echo "screenshots: target/console-e2e.png, target/console-charts.png"

# Sourced by .ci/schemathesis.sh and e2e/explorer/run.sh: a whole lab of their own (`shoplab up` plus the
# console) on a fresh database, Redis key prefix and RabbitMQ names, its ports shifted by OFFSET, seeded
# small. `lab_start` exports the services' URLs and ADMIN_TOKEN; `lab_stop` (trap it on EXIT) stops every
# process, drops the database and deletes the keys and queues, however the run ended.
# Builds nothing: expects target/debug/shoplab (and the service binaries `shoplab up` starts).

LAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_BIN=${BIN:-$LAB_ROOT/target/debug}
LAB_SERVER=${LAB_POSTGRES:-postgres://postgres@127.0.0.1:5432}
LAB_ID="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
LAB_DB="shoplab_openapi_$LAB_ID"
LAB_UP_PID=""
LAB_CONSOLE_PID=""

lab_port() { echo $(( $1 + ${OFFSET:-3300} )); }

lab_wait() {
  local url=$1 name=$2
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$name did not answer at $url within 60 s" >&2
  return 1
}

# lab_start LOGDIR: migrate and seed the fresh database, start the lab and the console, wait until ready.
lab_start() {
  local logs=$1
  mkdir -p "$logs"
  export DATABASE_URL="$LAB_SERVER/$LAB_DB" SHOPLAB_REDIS_PREFIX="openapi-$LAB_ID:" SHOPLAB_AMQP_PREFIX="openapi-$LAB_ID"
  export SHOPLAB_ADMIN_TOKEN="openapi-$LAB_ID-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  export ADMIN_TOKEN="$SHOPLAB_ADMIN_TOKEN"
  "$LAB_BIN/shoplab" migrate >"$logs/migrate.log" 2>&1
  "$LAB_BIN/shoplab" seed --quiet --products 500 --categories 40 --users 50 --events 5000 >"$logs/seed.log" 2>&1
  "$LAB_BIN/shoplab" up --no-seed --port-offset "${OFFSET:-3300}" >"$logs/up.log" 2>&1 &
  LAB_UP_PID=$!
  for _ in $(seq 1 180); do
    grep -q "shoplab is up" "$logs/up.log" && break
    kill -0 "$LAB_UP_PID" 2>/dev/null || { tail -40 "$logs/up.log"; echo "shoplab up exited" >&2; return 1; }
    sleep 1
  done
  grep -q "shoplab is up" "$logs/up.log" || { tail -40 "$logs/up.log"; echo "lab not ready in 180 s" >&2; return 1; }
  export PRODUCT_URL="http://127.0.0.1:$(lab_port 8081)" AUTH_URL="http://127.0.0.1:$(lab_port 8082)"
  export ANALYTICS_URL="http://127.0.0.1:$(lab_port 8083)" EMAIL_PROVIDER_URL="http://127.0.0.1:$(lab_port 8090)"
  export CONSOLE_URL="http://127.0.0.1:$(lab_port 8088)"
  "$LAB_BIN/shoplab" console --addr "127.0.0.1:$(lab_port 8088)" --port-offset "${OFFSET:-3300}" >"$logs/console.log" 2>&1 &
  LAB_CONSOLE_PID=$!
  lab_wait "$CONSOLE_URL/healthz" console
}

lab_stop() {
  # every step may fail (a process already gone): none may stop the clean-up under `set -e`
  if [ -n "$LAB_CONSOLE_PID" ]; then kill "$LAB_CONSOLE_PID" 2>/dev/null || true; wait "$LAB_CONSOLE_PID" 2>/dev/null || true; fi
  if [ -n "$LAB_UP_PID" ]; then kill -INT "$LAB_UP_PID" 2>/dev/null || true; wait "$LAB_UP_PID" 2>/dev/null || true; fi
  psql "$LAB_SERVER/postgres" -qAtc "drop database if exists $LAB_DB with (force)" >/dev/null 2>&1 || true
  redis-cli --scan --pattern "openapi-$LAB_ID:*" | xargs -r -n 500 redis-cli del >/dev/null 2>&1 || true
  if command -v rabbitmqctl >/dev/null; then
    { rabbitmqctl -q list_queues name 2>/dev/null | grep "^openapi-$LAB_ID\." || true; } | while read -r q; do
      rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || true
    done
  fi
  return 0
}
